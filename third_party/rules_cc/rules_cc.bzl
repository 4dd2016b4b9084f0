"""Creates `@rules_cc` from the stand-in files next to this one (see ../README.md)."""

def _rules_cc_shim_impl(rctx):
    rctx.file("WORKSPACE", 'workspace(name = "rules_cc")\n')
    rctx.file("BUILD", "")
    rctx.symlink(rctx.attr._defs, "cc/defs.bzl")
    rctx.symlink(rctx.attr._build, "cc/BUILD")

rules_cc_shim_repository = repository_rule(
    implementation = _rules_cc_shim_impl,
    attrs = {
        "_defs": attr.label(default = Label("//third_party/rules_cc:defs.bzl")),
        "_build": attr.label(default = Label("//third_party/rules_cc:cc.BUILD")),
    },
)
