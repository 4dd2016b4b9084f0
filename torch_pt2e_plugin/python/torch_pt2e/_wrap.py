"""Python ScriptModule objects for C++ modules: torch's wrap_cpp_module, built faster.

torch.jit._recursive.wrap_cpp_module makes one RecursiveScriptModule per submodule and
writes seven attributes on each through nn.Module.__setattr__, whose Parameter, Module and
buffer checks cost most of its ~85 us per submodule (6-9 s for a prepared 97k-node graph
with 28k observers). `wrap_cpp_module` here makes the same objects with the same
constructor and puts the same values where nn.Module.__setattr__ would put them: child
modules in `_modules`, everything else in `__dict__`. It computes one ConcreteModuleType
per JIT type, not per module, and holds the cyclic garbage collector off meanwhile. It
uses torch's own function whenever the shortcut could differ: torch internals that are
not the ones it mirrors, or global module registration hooks that torch's path would call.
tests/flow/test_wrap.py compares the two trees attribute by attribute.
"""

import gc

import torch

__all__ = ["wrap_cpp_module"]


def _internals():
    """torch's pieces the shortcut mirrors, or None where this torch lacks one."""
    script = getattr(torch.jit, "_script", None)
    recursive_cls = getattr(torch.jit, "RecursiveScriptModule", None)
    dict_wrapper = getattr(script, "OrderedDictWrapper", None)
    module_dict = getattr(script, "OrderedModuleDict", None)
    if None in (script, recursive_cls, dict_wrapper, module_dict):
        return None
    if not hasattr(recursive_cls, "_finalize_scriptmodule"):
        return None
    return recursive_cls, dict_wrapper, module_dict


_INTERNALS = _internals()


def _registration_hooks_present() -> bool:
    hooks = getattr(torch.nn.modules.module, "_global_module_registration_hooks", None)
    return bool(hooks)


def _wrap(cpp_module, internals, concrete_types):
    recursive_cls, dict_wrapper, module_dict = internals
    script_module = recursive_cls(cpp_module)
    state = script_module.__dict__
    children = state["_modules"]
    for name, child in torch._C.ModuleDict(cpp_module).items():
        if name in state:
            # A child named like an nn.Module field: nn.Module's own rules decide.
            setattr(script_module, name, _wrap(child, internals, concrete_types))
        else:
            children[name] = _wrap(child, internals, concrete_types)
    # A ConcreteModuleType made from a JIT type depends on nothing else, so modules of one
    # type share it, as scripted modules of one type do. pybind hands out the same Python
    # object for a type while one is alive, and the cache keeps each alive, so its id is a
    # key no other type can have.
    jit_type = cpp_module._type()
    cached = concrete_types.get(id(jit_type))
    if cached is None:
        cached = concrete_types[id(jit_type)] = (jit_type, torch._C.ConcreteModuleType.from_jit_type(jit_type))
    state["_concrete_type"] = cached[1]
    for index, hook in enumerate(cpp_module._get_forward_pre_hooks()):
        script_module._forward_pre_hooks[index] = hook
    for index, hook in enumerate(cpp_module._get_forward_hooks()):
        script_module._forward_hooks[index] = hook
    # RecursiveScriptModule._finalize_scriptmodule's four writes.
    state["_parameters"] = dict_wrapper(torch._C.ParameterDict(cpp_module))
    state["_buffers"] = dict_wrapper(torch._C.BufferDict(cpp_module))
    state["_modules"] = module_dict(cpp_module, children)
    state["_initializing"] = False
    return script_module


def wrap_cpp_module(cpp_module) -> torch.jit.ScriptModule:
    """The RecursiveScriptModule torch.jit._recursive.wrap_cpp_module(cpp_module) returns."""
    if _INTERNALS is None or _registration_hooks_present():
        return torch.jit._recursive.wrap_cpp_module(cpp_module)
    # Every object made here stays alive, so the cyclic collector's passes over the
    # growing heap (which the allocations of a large tree trigger) cannot free anything.
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _wrap(cpp_module, _INTERNALS, {})
    finally:
        if enabled:
            gc.enable()
