"""External repositories of torch_pt2e, all found on the local machine (no downloads).

Call `torch_pt2e_dependencies()` from the WORKSPACE of this repository or of a
workspace that uses it as an external repository. Repositories that the
calling workspace already declares are left alone, so a monorepo can bring its
own LibTorch, GoogleTest or rules_cc.
"""

load("//third_party/coverage_tools:coverage_tools.bzl", "coverage_tools_stub_repository")
load("//third_party/cuda:cuda.bzl", "cuda_toolkit_repository")
load("//third_party/libtorch:libtorch.bzl", "libtorch_repository")
load("//third_party/rules_cc:rules_cc.bzl", "rules_cc_shim_repository")
load("//third_party/system:system.bzl", "system_cc_library", "system_directory_repository")

def _maybe(rule, name, **kwargs):
    if not native.existing_rule(name):
        rule(name = name, **kwargs)

def torch_pt2e_dependencies():
    _maybe(rules_cc_shim_repository, name = "rules_cc")
    _maybe(
        system_directory_repository,
        name = "rules_java",
        path = "/usr/share/bazel/rules/java",
        apt_package = "bazel-rules-java",
    )
    _maybe(coverage_tools_stub_repository, name = "remote_coverage_tools")
    _maybe(libtorch_repository, name = "libtorch")
    # Fetched only by --config=cuda builds (nvcc is looked for then).
    _maybe(cuda_toolkit_repository, name = "cuda_toolkit")
    _maybe(
        system_cc_library,
        name = "googletest",
        apt_package = "libgtest-dev",
        target = "gtest",
        header_dirs = ["gtest"],
        static_libs = ["libgtest.a", "libgtest_main.a"],
        linkopts = ["-pthread"],
    )
    _maybe(
        system_cc_library,
        name = "nlohmann_json",
        apt_package = "nlohmann-json3-dev",
        target = "json",
        header_dirs = ["nlohmann"],
    )
    _maybe(
        system_cc_library,
        name = "cli11",
        apt_package = "libcli11-dev",
        target = "cli11",
        header_dirs = ["CLI"],
    )
