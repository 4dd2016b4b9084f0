"""Python ScriptModule objects for C++ modules: torch's wrap_cpp_module, built lazily.

torch.jit._recursive.wrap_cpp_module builds the whole tree at once: one RecursiveScriptModule
per submodule, each with seven attributes written through nn.Module.__setattr__ and its own
ConcreteModuleType (5.7 s for a prepared 97k-node graph with 42k observers; the eager
re-implementation this file held before, 3.3 s). `wrap_cpp_module` here builds the top module
only. A submodule's wrapper is made when it is first read, as the object torch's constructor
makes, with the values torch puts in the places it puts them (`_modules` for child modules,
`__dict__` for the rest; no nn.Module.__setattr__), and kept, so every later read returns that
object. tests/flow/test_wrap.py compares the trees, walked in any order, with torch's attribute
by attribute, and each way of reading them.

Decision: where the laziness lives, and why there. A RecursiveScriptModule reaches its children
only through its OrderedModuleDict (`m._modules`), which reads the dict torch hands it
(`m._modules._python_modules`) by `in`, `[]` and `items()`; every nn.Module method that walks
or reads children (named_children, named_modules, children, modules, state_dict, parameters,
buffers, train/eval, apply, __repr__, __dir__, __getattr__, __setattr__) goes through those. So
that dict is the one object replaced: `_LazyChildren`, a subclass of the dict type torch uses
there (OrderedDict in torch 1.13, dict in 2.x). It holds every child's name from the start, in
torch's order, with a private placeholder as the value of a child not read yet and the C++
child kept aside. Reading one child (`[]`, get, setdefault, pop) makes that child's wrapper;
reading values in bulk (items, values, copy, ==, !=, repr, popitem, |, and pickle, copy.copy and
copy.deepcopy through __reduce__) first makes all of that dict's children (one level: theirs
stay lazy) and then answers with the base class's own method, so the views and types returned
are torch's. Names alone (in, len, keys, iteration) need nothing; `__iter__` is overridden with
the base iterator only so that dict(d), {**d}, update(d) and f(**d) take CPython's keys()-and-[]
path instead of copying raw values. A module whose JIT type has no child modules (the type
lists them, so modules of one type agree) keeps torch's own empty dict. Every class users see
stays torch's: subclassing RecursiveScriptModule or OrderedModuleDict instead would have
changed type() of objects users hold.

torch's own function is used where this one could differ: where the torch internals it mirrors
are missing; where global module registration hooks exist (torch calls them for each child as
it wraps; calling them at first read instead would change when they run); and for the subtree
of a module with a child named like one of nn.Module's own fields (nn.Module.__setattr__'s rules
decide those).

What differs from torch's tree, and why that is acceptable:
  * type(m._modules._python_modules) is `_LazyChildren`, a subclass of torch's dict type. That
    dict is OrderedModuleDict's private state, and it reads like torch's through every method,
    but for one name: while the owner's ConcreteModuleType is not made yet, `"_concrete_type"
    in m._modules` is true and m._modules["_concrete_type"] makes it (see _CONCRETE_TYPE);
    keys, items, len and iteration never list it.
  * A module with children has no `_concrete_type` in its __dict__ until that attribute is
    first read; it is then last in the __dict__'s order instead of between `_c` and the
    containers _finalize_scriptmodule writes. Reading it (attribute access, getattr, hasattr)
    gives what torch's wrapper holds.
  * torch's tree is a snapshot of the C++ tree at wrap time; here a module's children are listed
    from C++ when its own wrapper is made. Changing the C++ tree behind the wrappers (through
    `_c`, or C++ code holding the module) between wrapping and the first read of a submodule
    shows in that submodule's wrapper, where torch's tree would go on showing the old one.
    Changes made through the wrappers (setattr of a submodule, attributes, parameters) reach
    C++ and the wrapper alike, as in torch.
  * The cost moves rather than vanishes for whoever walks the whole tree (named_modules,
    state_dict, parameters, train/eval, print): the walk makes every wrapper, at about the
    eager cost. Wrapping itself costs the top module, whose ConcreteModuleType, which torch
    computes over the whole type tree (~0.35 s at 97k nodes), waits until it is read.
    BENCHMARKS.md, flow section, has the figures.

`cpp_children` lists a module's C++ children without making wrappers (convert_pt2e reads the
prepared module's observers that way).
"""

import collections
import gc
import threading
import weakref

import torch

__all__ = ["cpp_children", "wrap_cpp_module"]


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


class _Pending:
    """The value of a child whose wrapper is not made yet; never leaves _LazyChildren."""

    __slots__ = ()

    def __repr__(self):
        return "<child not wrapped yet>"


_PENDING = _Pending()

# The attribute torch's wrapper sets to the module's ConcreteModuleType. torch computes it for
# every module it wraps, over the module's whole type tree: for the top module of a prepared
# 97k-node graph that walks 28k observers' attributes (~0.35 s, most of the wrap). It is read
# only where the module's type must be known to the compiler: when the module is scripted as a
# submodule of another (torch.jit._recursive.get_module_concrete_type), by define(), and by
# __setattr__ of a name that is neither a child, an attribute nor a method. So a module with
# children gets it when it is first read: until then it is absent from the wrapper's __dict__,
# RecursiveScriptModule.__getattr__ asks `name in self._modules` and then reads
# `self._modules[name]`, and the module's _LazyChildren answers both for this one name, makes
# the type (shared by the modules of one JIT type), and stores it in the owner's __dict__,
# where every later read finds it as on torch's wrappers. A module without children (an
# observer, a Linear) keeps torch's own children dict, and gets the type when wrapped: its
# type tree is itself.
_CONCRETE_TYPE = "_concrete_type"
# Held while a child's wrapper is made and stored, so that two threads reading the same child
# get one object. Reentrant: nothing made inside reads another lazy dict, but a finalizer might.
_LOCK = threading.RLock()


class _Lazy:
    """What every _LazyChildren class is an instance of, whatever its dict base."""

    __slots__ = ()


def _lazy_children_class(base):
    """_LazyChildren for torch's dict type `base` (see the module docstring)."""
    base_getitem = base.__getitem__
    base_setitem = base.__setitem__
    base_items = base.items
    base_contains = base.__contains__

    class _LazyChildren(_Lazy, base):
        # _cpp: {name: C++ module} of the children not read yet; _context: the wrap's _Context;
        # _owner: until the owner's ConcreteModuleType is read, (weak reference to the owner,
        # the owner's _TypeFacts), else None (see _CONCRETE_TYPE).
        __slots__ = ("_cpp", "_context", "_owner")

        def _read_concrete_type(self):
            with _LOCK:
                if self._owner is None:
                    raise KeyError(_CONCRETE_TYPE)
                owner_ref, facts = self._owner
                concrete_type = facts.concrete_type()
                owner = owner_ref()
                if owner is not None:
                    owner.__dict__[_CONCRETE_TYPE] = concrete_type
                self._owner = None
            return concrete_type

        def __contains__(self, name):
            if name == _CONCRETE_TYPE and self._owner is not None:
                return True
            return base_contains(self, name)

        def _read(self, name):
            with _LOCK:
                value = base_getitem(self, name)
                if value is _PENDING:
                    value = _wrap(self._cpp[name], self._context)
                    base_setitem(self, name, value)
                    del self._cpp[name]
            return value

        def _read_all(self):
            if not self._cpp:
                return
            with _LOCK:
                names = [name for name, value in base_items(self) if value is _PENDING]
                # Every object made here stays alive, so the cyclic collector's passes over the
                # growing heap (which these allocations trigger) would free nothing.
                enabled = gc.isenabled()
                gc.disable()
                try:
                    for name in names:
                        base_setitem(self, name, _wrap(self._cpp[name], self._context))
                        del self._cpp[name]
                finally:
                    if enabled:
                        gc.enable()
                # Children replaced through the dict's own writes leave their C++ module here.
                self._cpp.clear()

        def _cpp_items(self):
            return [(name, self._cpp[name] if value is _PENDING else value._c)
                    for name, value in base_items(self)]

        def __getitem__(self, name):
            if name == _CONCRETE_TYPE and self._owner is not None:
                return self._read_concrete_type()
            value = base_getitem(self, name)
            return self._read(name) if value is _PENDING else value

        # The methods below read children only: the owner's concrete type answers `in` and
        # [] alone (what RecursiveScriptModule.__getattr__ asks).
        def get(self, name, default=None):
            return self[name] if base_contains(self, name) else default

        def setdefault(self, name, default=None):
            if base_contains(self, name):
                return self[name]
            base_setitem(self, name, default)
            return default

        def pop(self, name, *default):
            if base_contains(self, name):
                value = self[name]
                base.__delitem__(self, name)
                return value
            return base.pop(self, name, *default)

        def popitem(self, *args, **kwargs):
            self._read_all()
            return base.popitem(self, *args, **kwargs)

        def items(self):
            self._read_all()
            return base_items(self)

        def values(self):
            self._read_all()
            return base.values(self)

        def __iter__(self):
            return base.__iter__(self)

        def copy(self):
            """A `base` with the same items, as torch's dict's copy returns."""
            self._read_all()
            return base(base_items(self))

        def __reduce__(self):
            # What pickle, copy.copy and copy.deepcopy use: a `base` of the wrappers.
            return base, (list(self.items()),)

        # Comparing with another lazy dict needs no read of its values: a wrapper in one is
        # never a placeholder's equal, nor a wrapper the other dict made.
        def __eq__(self, other):
            self._read_all()
            return base.__eq__(self, other)

        def __ne__(self, other):
            self._read_all()
            return base.__ne__(self, other)

        __hash__ = None

        def __repr__(self):
            return repr(self.copy())

        def __or__(self, other):
            return self.copy().__or__(other)

        def __ror__(self, other):
            return self.copy().__ror__(other)

        @classmethod
        def fromkeys(cls, iterable, value=None):
            return base.fromkeys(iterable, value)

    _LazyChildren.__qualname__ = f"_LazyChildren[{base.__name__}]"
    return _LazyChildren


class _TypeFacts:
    """What a JIT type says, shared by the modules of that type in one wrap: whether they have
    child modules (the type lists them) and their ConcreteModuleType, made at first need (as
    scripted modules of one type share theirs)."""

    __slots__ = ("jit_type", "has_children", "_concrete_type")

    def __init__(self, jit_type, has_children):
        # Holding the type keeps it alive, so its id (the _Context key) stays its own.
        self.jit_type = jit_type
        self.has_children = has_children
        self._concrete_type = None

    def concrete_type(self):
        if self._concrete_type is None:
            self._concrete_type = torch._C.ConcreteModuleType.from_jit_type(self.jit_type)
        return self._concrete_type


class _Context:
    """What the modules of one wrap_cpp_module call share, lazily made ones included:
    torch's internals, and per JIT type id(type) -> its _TypeFacts."""

    __slots__ = ("internals", "types")

    def __init__(self, internals):
        self.internals = internals
        self.types = {}


# RecursiveScriptModule(cpp_module) only fills the new object's __dict__: its __init__ and
# nn.Module.__init__ write fixed values there (~6 us through their setattr paths). The first
# object made records what it holds; later ones get the same keys in the same order, each with
# the C++ module, a fresh empty container of the same type, or the same None/bool (~1.5 us).
# Where a value is of any other kind, every object is made by the constructor.
_THE_CPP_MODULE, _SAME_VALUE = object(), object()
_INIT_PLAN = None  # (RecursiveScriptModule class, [(key, kind, value)] or None)


def _init_plan(state, cpp_module):
    plan = []
    for key, value in state.items():
        if value is cpp_module:
            plan.append((key, _THE_CPP_MODULE, None))
        elif type(value) in (dict, collections.OrderedDict, set) and not value:
            plan.append((key, type(value), None))
        elif value is None or type(value) is bool:
            plan.append((key, _SAME_VALUE, value))
        else:
            return None
    return plan


def _new_script_module(recursive_cls, cpp_module):
    """recursive_cls(cpp_module), made as above."""
    global _INIT_PLAN
    if _INIT_PLAN is None or _INIT_PLAN[0] is not recursive_cls:
        script_module = recursive_cls(cpp_module)
        _INIT_PLAN = (recursive_cls, _init_plan(script_module.__dict__, cpp_module))
        return script_module
    plan = _INIT_PLAN[1]
    if plan is None:
        return recursive_cls(cpp_module)
    script_module = recursive_cls.__new__(recursive_cls)
    state = script_module.__dict__
    for key, kind, value in plan:
        if kind is _THE_CPP_MODULE:
            state[key] = cpp_module
        elif kind is _SAME_VALUE:
            state[key] = value
        else:
            state[key] = kind()
    return script_module


_LAZY_CLASSES = {}


def _lazy_children(base, cpp_children, context):
    lazy_class = _LAZY_CLASSES.get(base)
    if lazy_class is None:
        lazy_class = _LAZY_CLASSES[base] = _lazy_children_class(base)
    children = lazy_class(dict.fromkeys(cpp_children, _PENDING))
    children._cpp = cpp_children
    children._context = context
    children._owner = None
    return children


def _wrap(cpp_module, context):
    recursive_cls, dict_wrapper, module_dict = context.internals
    script_module = _new_script_module(recursive_cls, cpp_module)
    state = script_module.__dict__
    # pybind hands out the same Python object for a type while one is alive, and the context
    # keeps each alive, so its id is a key no other type can have.
    jit_type = cpp_module._type()
    facts = context.types.get(id(jit_type))
    cpp_children = None
    if facts is None or facts.has_children:
        cpp_children = dict(torch._C.ModuleDict(cpp_module).items())
    if facts is None:
        facts = context.types[id(jit_type)] = _TypeFacts(jit_type, bool(cpp_children))
    if cpp_children:
        if not state.keys().isdisjoint(cpp_children.keys()) or _CONCRETE_TYPE in cpp_children:
            # A child named like an nn.Module field: nn.Module's own rules decide.
            return torch.jit._recursive.wrap_cpp_module(cpp_module)
        children = _lazy_children(type(state["_modules"]), cpp_children, context)
        # The concrete type of a module with children, made when first read (_CONCRETE_TYPE).
        children._owner = (weakref.ref(script_module), facts)
    else:
        children = state["_modules"]  # torch's own empty dict
        state[_CONCRETE_TYPE] = facts.concrete_type()
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
    """The RecursiveScriptModule torch.jit._recursive.wrap_cpp_module(cpp_module) returns,
    with each submodule's wrapper made when it is first read."""
    if _INTERNALS is None or _registration_hooks_present():
        return torch.jit._recursive.wrap_cpp_module(cpp_module)
    return _wrap(cpp_module, _Context(_INTERNALS))


def cpp_children(script_module) -> list:
    """[(name, C++ module)] of a ScriptModule's child modules, in order, without making the
    Python wrappers that wrap_cpp_module has not made yet."""
    python_modules = getattr(script_module.__dict__.get("_modules"), "_python_modules", None)
    if isinstance(python_modules, _Lazy):
        return python_modules._cpp_items()
    return torch._C.ModuleDict(script_module._c).items()
