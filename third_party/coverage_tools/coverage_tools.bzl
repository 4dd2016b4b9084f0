"""Creates the offline stand-in for `@remote_coverage_tools` (see coverage.BUILD)."""

def _coverage_tools_stub_impl(rctx):
    rctx.file("WORKSPACE", 'workspace(name = "%s")\n' % rctx.name)
    rctx.symlink(rctx.attr._build, "BUILD")
    rctx.symlink(rctx.attr._script, "coverage_report_generator.sh")

coverage_tools_stub_repository = repository_rule(
    implementation = _coverage_tools_stub_impl,
    attrs = {
        "_build": attr.label(default = Label("//third_party/coverage_tools:coverage.BUILD")),
        "_script": attr.label(default = Label("//third_party/coverage_tools:coverage_report_generator.sh")),
    },
)
