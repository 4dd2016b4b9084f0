"""Compiler options and test macros shared by the BUILD files of torch_pt2e."""

load("@rules_cc//cc:defs.bzl", "cc_library", "cc_test")

# Set on every target (not only in .bazelrc) so the targets build the same
# when this repository is an external one of another workspace.
# -ffp-contract=off: the kernels' numerics depend on every multiply and add
# rounding separately (kernels/numerics.h); no fused multiply-add.
PT2E_COPTS = [
    "-std=c++17",
    "-ffp-contract=off",
    "-Wall",
    "-Wno-unused-parameter",
    # at::parallel_for is an inline `#pragma omp parallel` when LibTorch uses
    # OpenMP (Debian's and the pip wheels do); without this it runs serially.
    "-fopenmp",
]

# Vectorized loops are compiled once per instruction set and chosen at run
# time (kernels/cpu/cpu_capability.h); never -march=native.
PT2E_ISA_COPTS = {
    "default": ["-O3"],
    "avx2": ["-O3", "-mavx2", "-mfma", "-mf16c"],
    "avx512": ["-O3", "-mavx2", "-mfma", "-mf16c", "-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512dq",
               "-mprefer-vector-width=512"],
    "avx512vnni": ["-O3", "-mavx2", "-mfma", "-mf16c", "-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512dq",
                   "-mavx512vnni", "-mprefer-vector-width=512"],
}

def pt2e_isa_libraries(name, srcs_by_isa, deps):
    """One alwayslink cc_library per instruction set; returns their labels."""
    labels = []
    for isa, srcs in srcs_by_isa.items():
        if not srcs:
            continue
        cc_library(
            name = "%s_%s" % (name, isa),
            srcs = srcs,
            copts = PT2E_COPTS + PT2E_ISA_COPTS[isa],
            deps = deps,
            alwayslink = True,
        )
        labels.append(":%s_%s" % (name, isa))
    return labels

def pt2e_cc_test(name, srcs, deps = [], **kwargs):
    """A GoogleTest binary linked with the plugin (static, so it runs in place)."""
    cc_test(
        name = name,
        srcs = srcs,
        copts = PT2E_COPTS,
        deps = deps + [
            Label("//:torch_pt2e_lib"),
            "@googletest//:gtest",
        ],
        **kwargs
    )
