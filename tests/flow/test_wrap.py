"""torch_pt2e._wrap.wrap_cpp_module builds the Python module tree that torch's
torch.jit._recursive.wrap_cpp_module builds, each submodule's wrapper made when
first read: same classes, same attributes, same submodules, parameters and
buffers, modules that behave the same, and one object per submodule however
and in whatever order it is reached."""

import collections
import copy
import gc
import pickle
import random
import threading
import time
from typing import Tuple

import pytest
import torch

from flow_testing import quantize
import helper_modules as hm
from test_quantize_pt2e import DerivedBiasQuantizer
from torch_pt2e import _wrap
from torch_pt2e._wrap import cpp_children, wrap_cpp_module
from torch_pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e
from torch_pt2e.quantizer.xnnpack_quantizer import XNNPACKQuantizer, get_symmetric_quantization_config


def _halve_input(module: torch.nn.Module, inputs: Tuple[torch.Tensor]) -> Tuple[torch.Tensor]:
    return (inputs[0] * 0.5,)


def _add_one(module: torch.nn.Module, inputs: Tuple[torch.Tensor], output: torch.Tensor) -> torch.Tensor:
    return output + 1.0


class Block(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(4, 4)
        self.register_buffer("offset", torch.arange(4.0))

    def forward(self, x):
        return x + torch.relu(self.linear(x)) + self.offset


class Stack(torch.nn.Module):
    """A ModuleList, a Sequential with TorchScript hooks, a ModuleDict, and an attribute."""

    def __init__(self):
        super().__init__()
        self.blocks = torch.nn.ModuleList([Block() for _ in range(3)])
        self.head = torch.nn.Sequential(torch.nn.Linear(4, 2), torch.nn.ReLU())
        self.head.register_forward_pre_hook(_halve_input)
        self.head.register_forward_hook(_add_one)
        self.extra = torch.nn.ModuleDict({"a": torch.nn.Linear(4, 4)})
        self.scale = 2.0

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        return self.head(self.extra["a"](x)) * self.scale


def _scripted():
    torch.manual_seed(0)
    return torch.jit.script(Stack().eval())


def _prepared():
    quantizer = XNNPACKQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True))
    return prepare_pt2e(_scripted(), quantizer)


def _module(stage):
    if stage == "scripted":
        return _scripted()
    module = _prepared()
    if stage == "converted":
        module(torch.randn(2, 4))
        module = convert_pt2e(module)
    return module


def _both(module):
    """(ours, torch's) wrappers of one C++ module."""
    return wrap_cpp_module(module._c), torch.jit._recursive.wrap_cpp_module(module._c)


def _unread(module) -> int:
    """How many of `module`'s children have no wrapper yet."""
    return sum(value is _wrap._PENDING for value in dict.values(module._modules._python_modules))


def _assert_same_tree(ours, theirs, path="<top>"):
    assert type(ours) is type(theirs), path
    assert ours._c._type().qualified_name() == theirs._c._type().qualified_name(), path
    # Methods a call cached in __dict__ aside (RecursiveScriptModule.__getattr__ caches them).
    # The concrete type aside too: a module with children makes it when it is first read
    # (read below), and it then comes last in the __dict__.
    ours_state, theirs_state = ({key: value for key, value in module.__dict__.items()
                                 if not isinstance(value, torch._C.ScriptMethod) and key != "_concrete_type"}
                                for module in (ours, theirs))
    assert list(ours_state) == list(theirs_state), path
    for key, value in theirs_state.items():
        assert type(ours_state[key]) is type(value), f"{path}.{key}"
    assert ours._initializing is False and theirs._initializing is False
    assert ours._concrete_type.equals(theirs._concrete_type), path
    assert type(ours.__dict__["_concrete_type"]) is type(theirs.__dict__["_concrete_type"]), path
    assert list(ours._parameters.keys()) == list(theirs._parameters.keys()), path
    assert list(ours._buffers.keys()) == list(theirs._buffers.keys()), path
    assert len(ours._forward_hooks) == len(theirs._forward_hooks), path
    assert len(ours._forward_pre_hooks) == len(theirs._forward_pre_hooks), path
    assert list(ours._modules.keys()) == list(theirs._modules.keys()), path
    for name in theirs._modules.keys():
        _assert_same_tree(ours._modules[name], theirs._modules[name], f"{path}.{name}")


def _shape(value):
    """A value with wrappers replaced by their types (containers read raw, placeholders and all)."""
    if isinstance(value, dict):
        return type(value), [(key, _shape(item)) for key, item in dict.items(value)]
    if isinstance(value, (list, tuple)):
        return type(value), [_shape(item) for item in value]
    if value is None or isinstance(value, (bool, int, str)):
        return value
    return type(value)


def _outcome(fn):
    """What fn() does, comparable across the two trees: its result's shape, or the exception's type."""
    try:
        result = fn()
    except Exception as error:  # noqa: BLE001 - the point is to compare whatever happens
        return "raises", type(error)
    return "returns", _shape(result)


@pytest.mark.parametrize("stage", ["scripted", "prepared", "converted"])
def test_same_tree_as_torch_wrap_cpp_module(stage):
    module = _module(stage)
    ours, theirs = _both(module)
    _assert_same_tree(ours, theirs)
    assert [name for name, _ in ours.named_modules()] == [name for name, _ in theirs.named_modules()]
    assert [name for name, _ in ours.named_parameters()] == [name for name, _ in theirs.named_parameters()]
    assert [name for name, _ in ours.named_buffers()] == [name for name, _ in theirs.named_buffers()]
    x = torch.randn(3, 4)
    assert torch.equal(ours(x), theirs(x))
    assert ours.code == theirs.code


def test_every_module_has_containers_of_its_own():
    """Modules made after the first get fresh hook dicts and sets, not shared ones."""
    ours = wrap_cpp_module(_prepared()._c)
    modules = [module for _, module in ours.named_modules()]
    for key, value in modules[0].__dict__.items():
        if isinstance(value, (dict, set)):
            assert len({id(module.__dict__[key]) for module in modules}) == len(modules), key


def test_only_the_top_module_is_wrapped_until_a_child_is_read():
    ours = wrap_cpp_module(_scripted()._c)
    assert _unread(ours) == 3
    # Names need no wrapper.
    assert "blocks" in ours._modules and "missing" not in ours._modules
    assert list(ours._modules._python_modules) == ["blocks", "head", "extra"]
    assert len(ours._modules._python_modules) == 3 and _unread(ours) == 3
    blocks = ours.blocks
    assert _unread(ours) == 2 and _unread(blocks) == 3
    getattr(blocks, "1")
    assert _unread(blocks) == 2
    # A bulk read makes one level: the children, not their children.
    list(ours.named_children())
    assert _unread(ours) == 0 and _unread(ours.head) == 2 and _unread(blocks) == 2


@pytest.mark.parametrize("seed", range(4))
def test_children_read_in_any_order_are_one_object_each(seed):
    module = _prepared()
    ours, theirs = _both(module)
    paths = [path for path, _ in theirs.named_modules() if path]
    rng = random.Random(seed)
    rng.shuffle(paths)

    def by_getattr(path):
        node = ours
        for name in path.split("."):
            node = getattr(node, name)
        return node

    def by_modules(path):
        node = ours
        for name in path.split("."):
            node = node._modules[name]
        return node

    def by_named_children(path):
        parent, _, name = path.rpartition(".")
        return dict((by_getattr(parent) if parent else ours).named_children())[name]

    readers = [by_getattr, by_modules, by_named_children]
    first = {path: rng.choice(readers)(path) for path in paths}
    for path in paths:
        for read in readers:
            assert read(path) is first[path], (path, read)
    walked = dict(ours.named_modules())
    assert all(walked[path] is first[path] for path in paths)
    _assert_same_tree(ours, theirs)


def test_walks_match_torchs():
    module = _prepared()
    module(torch.randn(2, 4))
    ours, theirs = _both(module)

    def summary(pairs):
        return [(name, type(value), getattr(value, "original_name", None)) for name, value in pairs]

    assert summary(ours.named_children()) == summary(theirs.named_children())
    assert summary(ours.named_modules()) == summary(theirs.named_modules())
    assert summary(enumerate(ours.children())) == summary(enumerate(theirs.children()))
    assert summary(enumerate(ours.modules())) == summary(enumerate(theirs.modules()))
    for walk in ("named_parameters", "named_buffers", "state_dict"):
        ours_items, theirs_items = dict(getattr(ours, walk)()), dict(getattr(theirs, walk)())
        assert list(ours_items) == list(theirs_items), walk
        assert all(torch.equal(ours_items[key], theirs_items[key]) for key in theirs_items), walk
    assert len(list(ours.parameters())) == len(list(theirs.parameters()))
    assert len(list(ours.buffers())) == len(list(theirs.buffers()))


def test_printing_code_and_dir_match_torchs():
    module = _scripted()
    ours, theirs = _both(module)
    assert repr(ours) == repr(theirs) and str(ours) == str(theirs)
    ours, theirs = _both(module)
    # dir() lists the __dict__: a module with children shows its concrete type once it is read.
    assert sorted(dir(ours)) == sorted(set(dir(theirs)) - {"_concrete_type"})
    assert sorted(dir(ours.head)) == sorted(set(dir(theirs.head)) - {"_concrete_type"})
    ours._concrete_type, ours.head._concrete_type
    assert sorted(dir(ours)) == sorted(dir(theirs))
    assert sorted(dir(ours.head)) == sorted(dir(theirs.head))
    for read in (lambda m: m.code, lambda m: str(m.graph), lambda m: m.head.code,
                 lambda m: getattr(m.blocks, "2").code, lambda m: str(getattr(m.blocks, "2").graph)):
        assert read(ours) == read(theirs)


def test_modules_mapping_reads_like_torchs():
    module = _scripted()
    for reads in (
        lambda m: "head" in m._modules,
        lambda m: "nothing" in m._modules,
        lambda m: len(m._modules),
        lambda m: m._modules.keys(),
        lambda m: [name for name, _ in m._modules.items()],
        lambda m: [type(value) for value in m._modules.values()],
        lambda m: type(m._modules["extra"]),
        lambda m: m._modules["nothing"],
        lambda m: list(m._modules),  # no __iter__: Python tries [0], [1], ...; both raise KeyError
    ):
        ours, theirs = _both(module)
        assert _outcome(lambda: reads(ours)) == _outcome(lambda: reads(theirs))
    ours = wrap_cpp_module(module._c)
    assert ours._modules["head"] is ours.head
    assert [value for _, value in ours._modules.items()][1] is ours.head


@pytest.mark.parametrize("container,key", [("blocks", 1), ("head", 0), ("extra", "a")])
def test_containers_index_iterate_and_measure_as_torchs_do(container, key):
    """wrap_cpp_module's containers have no Python __getitem__/__len__/__iter__ (torch's
    RecursiveScriptModule raises NotImplementedError for them); ours must do the same."""
    module = _scripted()
    for op in (lambda c: c[key], len, lambda c: list(iter(c)), lambda c: key in c, bool,
               lambda c: isinstance(c, torch.jit.RecursiveScriptModule), lambda c: isinstance(c, torch.nn.Module)):
        ours, theirs = _both(module)
        assert _outcome(lambda: op(getattr(ours, container))) == _outcome(lambda: op(getattr(theirs, container)))


@pytest.mark.parametrize("read_first", [False, True])
def test_setattr_of_a_submodule_replaces_it_in_python_and_cpp(read_first):
    module = _scripted()
    ours = wrap_cpp_module(module._c)
    torch.manual_seed(1)
    replacement = torch.jit.script(Block().eval())
    if read_first:
        getattr(ours.blocks, "1")
    setattr(ours.blocks, "1", replacement)
    assert getattr(ours.blocks, "1") is replacement and ours.blocks._modules["1"] is replacement
    assert torch.equal(module._c.getattr("blocks").getattr("1").getattr("linear").getattr("weight"),
                       replacement.linear.weight)
    assert [child for _, child in ours.blocks.named_children()][1] is replacement
    assert dict(cpp_children(ours.blocks))["1"]._type() == replacement._c._type()
    x = torch.randn(2, 4)
    assert torch.equal(ours(x), torch.jit._recursive.wrap_cpp_module(module._c)(x))
    with pytest.raises(RuntimeError, match="non-scripted"):
        ours.head = torch.nn.Linear(4, 2)


def test_train_and_eval_reach_every_module():
    module = _prepared()

    def flags(cpp_module):
        yield cpp_module.getattr("training")
        for _, child in torch._C.ModuleDict(cpp_module).items():
            yield from flags(child)

    ours = wrap_cpp_module(module._c)
    ours.train()
    assert all(flags(module._c)) and ours.training and getattr(ours.blocks, "2").linear.training
    ours = wrap_cpp_module(module._c)
    ours.eval()
    assert not any(flags(module._c)) and not getattr(ours.blocks, "2").linear.training


def test_wrapped_module_writes_through_to_the_cpp_module():
    module = _scripted()
    ours = wrap_cpp_module(module._c)
    ours.scale = 3.0  # a TorchScript attribute: the C++ module holds it
    assert module._c.getattr("scale") == 3.0
    theirs = torch.jit._recursive.wrap_cpp_module(module._c)
    set_constant = _outcome(lambda: setattr(getattr(ours.head, "0"), "in_features", 5))
    assert set_constant[0] == "raises"
    assert set_constant == _outcome(lambda: setattr(getattr(theirs.head, "0"), "in_features", 5))
    ours.note = "python only"  # neither a child nor a TorchScript attribute: the wrapper's
    assert ours.note == "python only" and not module._c.hasattr("note")


def test_save_copy_and_deepcopy_before_any_child_is_read(tmp_path):
    module = _scripted()
    x = torch.randn(2, 4)
    ours = wrap_cpp_module(module._c)
    path = tmp_path / "wrapped.pt"
    torch.jit.save(ours, str(path))
    assert _unread(ours) == 3
    loaded = torch.jit.load(str(path))
    assert torch.equal(loaded(x), ours(x)) and loaded.code == ours.code
    for clone in (copy.copy(ours), copy.deepcopy(ours)):
        assert type(clone) is type(ours) and torch.equal(clone(x), ours(x))
        _assert_same_tree(clone, torch.jit._recursive.wrap_cpp_module(clone._c))
    deep = copy.deepcopy(ours)
    with torch.no_grad():
        getattr(deep.blocks, "0").linear.weight.zero_()
    assert getattr(ours.blocks, "0").linear.weight.abs().sum() > 0


def test_hooks_of_submodules():
    module = _scripted()
    ours, theirs = _both(module)
    # The TorchScript hooks scripting recorded on `head`, as torch copies them.
    assert len(ours.head._forward_pre_hooks) == len(theirs.head._forward_pre_hooks) == 1
    assert len(ours.head._forward_hooks) == len(theirs.head._forward_hooks) == 1
    x = torch.randn(2, 4)
    assert torch.equal(ours.head(x), theirs.head(x))  # the child called from Python runs them
    assert dict(ours.named_modules())["head"]._forward_hooks is ours.head._forward_hooks
    # Python hooks on ScriptModules are refused, by both trees alike.
    for tree in (ours, theirs):
        with pytest.raises(RuntimeError, match="not supported on ScriptModules"):
            tree.head.register_forward_hook(lambda module, inputs, output: output)


# Every read of a dict; the lazy children dict must answer each as a dict of wrappers would.
_DICT_READS = {
    "dict": dict,
    "unpack": lambda d: {**d},
    "kwargs": lambda d: (lambda **kwargs: kwargs)(**d),
    "update": lambda d: {}.update(d),
    "copy": lambda d: d.copy(),
    "copy.copy": copy.copy,
    "copy.deepcopy": copy.deepcopy,
    "pickle": pickle.dumps,
    "items": lambda d: list(d.items()),
    "values": lambda d: list(d.values()),
    "keys": lambda d: list(d.keys()),
    "iter": list,
    "reversed": lambda d: list(reversed(d)),
    "len": len,
    "in": lambda d: "head" in d,
    "getitem": lambda d: d["head"],
    "getitem_missing": lambda d: d["nothing"],
    "get": lambda d: [d.get("head"), d.get("nothing", 5)],
    "setdefault": lambda d: d.setdefault("extra"),
    "or": lambda d: d | {},
    "ror": lambda d: {} | d,
    "eq": lambda d: d == dict(d),
    "ne": lambda d: d != {},
    "pop": lambda d: d.pop("blocks"),
    "pop_missing": lambda d: d.pop("nothing", None),
    "popitem": lambda d: d.popitem(),
    "del_then_items": lambda d: (d.__delitem__("head"), list(d.items())),
    "set_then_items": lambda d: (d.__setitem__("head", d["extra"]), list(d.items())),
    "clear": lambda d: (d.clear(), list(d.items())),
    "fromkeys": lambda d: type(d).fromkeys(["a"]),
    "fromkeys_items": lambda d: list(type(d).fromkeys(["a"]).items()),
}


@pytest.mark.parametrize("base", [dict, collections.OrderedDict], ids=["dict", "OrderedDict"])
def test_lazy_children_read_like_a_dict_of_wrappers(base):
    """_LazyChildren over both dict types torch uses for `_modules` (dict in 2.x, OrderedDict
    in 1.13), whichever torch runs, against a dict of wrappers made up front."""
    module = _scripted()

    def fresh():
        cpp_children = dict(torch._C.ModuleDict(module._c).items())
        wrappers = base((name, torch.jit._recursive.wrap_cpp_module(child)) for name, child in cpp_children.items())
        return _wrap._lazy_children(base, cpp_children, _wrap._Context(_wrap._INTERNALS)), wrappers

    for label, read in _DICT_READS.items():
        lazy, wrappers = fresh()
        assert _outcome(lambda: read(lazy)) == _outcome(lambda: read(wrappers)), label
    lazy, wrappers = fresh()
    assert repr(lazy) == repr(wrappers)
    # Two wrappings of the same C++ modules hold different objects, as two of torch's trees do.
    assert (fresh()[0] == fresh()[0]) is False
    assert (fresh()[0] != fresh()[0]) is True
    lazy = fresh()[0]
    assert list(dict(lazy).values()) == [lazy["blocks"], lazy["head"], lazy["extra"]]


def test_children_dict_of_the_tree_reads_like_torchs():
    """The dict OrderedModuleDict reads (`_modules._python_modules`), in the tree itself."""
    module = _scripted()
    for label, read in _DICT_READS.items():
        ours, theirs = _both(module)
        ours_dict, theirs_dict = ours._modules._python_modules, theirs._modules._python_modules
        assert _outcome(lambda: read(ours_dict)) == _outcome(lambda: read(theirs_dict)), label
    ours, theirs = _both(module)
    assert repr(ours._modules._python_modules) == repr(theirs._modules._python_modules)
    ours = wrap_cpp_module(module._c)
    assert list(dict(ours._modules._python_modules).values()) == [ours.blocks, ours.head, ours.extra]


def test_threads_reading_one_child_get_one_object(monkeypatch):
    ours = wrap_cpp_module(_prepared()._c)
    slow_wrap = _wrap._wrap

    def wrap_slowly(cpp_module, context):
        time.sleep(0.01)  # long enough for every thread to reach the child while it is made
        return slow_wrap(cpp_module, context)

    monkeypatch.setattr(_wrap, "_wrap", wrap_slowly)
    barrier = threading.Barrier(8)
    seen = []

    def read():
        barrier.wait()
        seen.append(getattr(ours.blocks, "2").linear)

    threads = [threading.Thread(target=read) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(seen) == 8 and all(child is seen[0] for child in seen)


def test_submodules_of_one_type_share_their_concrete_type_only_within_a_type():
    ours = wrap_cpp_module(_scripted()._c)
    first, second = getattr(ours.blocks, "0"), getattr(ours.blocks, "1")
    assert first._concrete_type is second._concrete_type
    assert first.linear._concrete_type is not first._concrete_type
    head = getattr(ours.head, "0")
    assert head._concrete_type.equals(torch._C.ConcreteModuleType.from_jit_type(head._c._type()))


def test_concrete_type_of_a_module_with_children_is_made_when_first_read():
    ours, theirs = _both(_prepared())
    assert "_concrete_type" not in ours.__dict__ and "_concrete_type" in theirs.__dict__
    # Asked for by name only; never listed.
    assert "_concrete_type" in ours._modules
    assert "_concrete_type" not in list(ours._modules.keys()) and len(ours._modules) == len(theirs._modules)
    assert hasattr(ours, "_concrete_type")
    first = ours.__dict__["_concrete_type"]
    assert first.equals(theirs._concrete_type) and ours._concrete_type is first
    assert "_concrete_type" not in ours._modules
    # A module without children (an observer) has it from the start.
    observer = ours.activation_post_process_0
    assert "_concrete_type" in observer.__dict__


def test_wrapped_modules_script_as_submodules_and_define_methods():
    """What reads the concrete type: scripting a module that holds the wrapper, and define()."""
    class Outer(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            return self.inner(x) + 1

    module = _prepared()
    x = torch.randn(2, 4)
    ours, theirs = _both(module)
    assert torch.jit._recursive.get_module_concrete_type(ours).equals(
        torch.jit._recursive.get_module_concrete_type(theirs))
    ours, theirs = _both(module)
    assert torch.equal(torch.jit.script(Outer(ours))(x), torch.jit.script(Outer(theirs))(x))
    # (One wrapper: a method defined goes on the module's JIT type, which both share.)
    ours = wrap_cpp_module(module._c)
    ours.define("def twice(self, x: Tensor) -> Tensor:\n    return self.forward(x) * 2\n")
    assert torch.equal(ours.twice(x), module(x) * 2)


def test_a_child_named_like_a_module_field_is_wrapped_by_torch():
    """nn.Module.__setattr__ moves such a field into _modules; torch's own function wraps
    that module's subtree, and the tree still matches torch's."""
    class Inner(torch.nn.Module):  # a class of its own: the attribute added below changes its JIT type
        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(4, 4)

        def forward(self, x):
            return self.linear(x)

    module = torch.jit.script(torch.nn.Sequential(Inner(), torch.nn.ReLU()))
    inner = module._c.getattr("0")
    odd = torch.jit.script(torch.nn.ReLU())
    inner._register_attribute("_backward_hooks", odd._c._type(), odd._c)
    ours, theirs = _both(module)
    _assert_same_tree(ours, theirs)
    inner = getattr(ours, "0")
    assert "_backward_hooks" not in inner.__dict__ and "_backward_hooks" in inner._modules


@pytest.mark.parametrize("enabled", [True, False])
def test_garbage_collector_state_is_restored(enabled):
    module = _scripted()
    was = gc.isenabled()
    try:
        gc.enable() if enabled else gc.disable()
        list(wrap_cpp_module(module._c).named_modules())
        assert gc.isenabled() == enabled
    finally:
        gc.enable() if was else gc.disable()


@pytest.mark.skipif(not hasattr(torch.nn.modules.module, "register_module_module_registration_hook"),
                    reason="global module registration hooks exist from torch 2.0 on; this runs with torch 2.6 "
                           "inside the trixie root (tools/trixie_root.sh, part of tools/run_tests.sh)")
def test_global_module_registration_hooks_are_called_as_torch_calls_them():
    module = _scripted()
    seen = []
    handle = torch.nn.modules.module.register_module_module_registration_hook(
        lambda parent, name, child: seen.append(name))
    try:
        wrap_cpp_module(module._c)
        ours = list(seen)
        seen.clear()
        torch.jit._recursive.wrap_cpp_module(module._c)
    finally:
        handle.remove()
    assert ours == seen and "blocks" in seen


@pytest.mark.parametrize("how", ["script", "trace"])
def test_prepare_and_convert_results_are_read_lazily_and_match_torchs(how):
    """The flow's own results: calibration and convert_pt2e make no observer wrappers, and
    the walked trees are torch's."""
    example = (torch.randn(1, 3, 5, 5),)
    quantizer = XNNPACKQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True))
    prepared, converted = quantize(hm.ConvWithBNRelu(relu=True), example, quantizer, how)
    assert _unread(prepared) == len(prepared._modules._python_modules) > 0
    for result in (prepared, converted):
        theirs = torch.jit._recursive.wrap_cpp_module(result._c)
        _assert_same_tree(result, theirs)
        assert [name for name, _ in result.named_modules()] == [name for name, _ in theirs.named_modules()]
        assert torch.equal(result(*example), theirs(*example))


def test_convert_pt2e_wraps_only_the_derived_observers():
    example = (torch.randn(1, 3, 5, 5),)
    prepared, _ = quantize(hm.ConvWithBNRelu(relu=False, bn=False), example, DerivedBiasQuantizer())
    derived = [name for name, child in cpp_children(prepared) if child.hasattr("derive_qparams_fn")]
    wrapped = [name for name, value in dict.items(prepared._modules._python_modules) if value is not _wrap._PENDING]
    assert derived and wrapped == derived
