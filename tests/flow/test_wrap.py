"""torch_pt2e._wrap.wrap_cpp_module builds the Python module tree that torch's
torch.jit._recursive.wrap_cpp_module builds: same classes, same attributes,
same submodules, parameters and buffers, and modules that behave the same."""

import gc

import pytest
import torch

from torch_pt2e._wrap import wrap_cpp_module
from torch_pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e
from torch_pt2e.quantizer.xnnpack_quantizer import XNNPACKQuantizer, get_symmetric_quantization_config


class Block(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(4, 4)
        self.register_buffer("offset", torch.arange(4.0))

    def forward(self, x):
        return x + torch.relu(self.linear(x)) + self.offset


class Stack(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.blocks = torch.nn.ModuleList([Block() for _ in range(3)])
        self.head = torch.nn.Sequential(torch.nn.Linear(4, 2), torch.nn.ReLU())
        self.scale = 2.0

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        return self.head(x) * self.scale


def _prepared():
    torch.manual_seed(0)
    quantizer = XNNPACKQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True))
    return prepare_pt2e(torch.jit.script(Stack().eval()), quantizer)


def _assert_same_tree(ours, theirs, path="<top>"):
    assert type(ours) is type(theirs), path
    assert ours._c._type().qualified_name() == theirs._c._type().qualified_name(), path
    assert sorted(ours.__dict__) == sorted(theirs.__dict__), path
    for key, value in theirs.__dict__.items():
        assert type(ours.__dict__[key]) is type(value), f"{path}.{key}"
    assert ours._initializing is False and theirs._initializing is False
    assert ours._concrete_type.equals(theirs._concrete_type), path
    assert list(ours._parameters.keys()) == list(theirs._parameters.keys()), path
    assert list(ours._buffers.keys()) == list(theirs._buffers.keys()), path
    assert len(ours._forward_hooks) == len(theirs._forward_hooks), path
    assert len(ours._forward_pre_hooks) == len(theirs._forward_pre_hooks), path
    assert list(ours._modules.keys()) == list(theirs._modules.keys()), path
    for name in theirs._modules.keys():
        _assert_same_tree(ours._modules[name], theirs._modules[name], f"{path}.{name}")


@pytest.mark.parametrize("stage", ["scripted", "prepared", "converted"])
def test_same_tree_as_torch_wrap_cpp_module(stage):
    module = torch.jit.script(Stack().eval()) if stage == "scripted" else _prepared()
    if stage == "converted":
        module(torch.randn(2, 4))
        module = convert_pt2e(module)
    ours = wrap_cpp_module(module._c)
    theirs = torch.jit._recursive.wrap_cpp_module(module._c)
    _assert_same_tree(ours, theirs)
    assert [name for name, _ in ours.named_modules()] == [name for name, _ in theirs.named_modules()]
    assert [name for name, _ in ours.named_parameters()] == [name for name, _ in theirs.named_parameters()]
    assert [name for name, _ in ours.named_buffers()] == [name for name, _ in theirs.named_buffers()]
    x = torch.randn(3, 4)
    assert torch.equal(ours(x), theirs(x))
    assert ours.code == theirs.code


def test_wrapped_module_writes_through_to_the_cpp_module(tmp_path):
    module = torch.jit.script(Stack().eval())
    ours = wrap_cpp_module(module._c)
    ours.scale = 3.0  # a TorchScript attribute: the C++ module holds it
    assert module._c.getattr("scale") == 3.0
    ours.train()
    blocks = module._c.getattr("blocks")
    assert module._c.getattr("training") and blocks.getattr("0").getattr("linear").getattr("training")
    ours.eval()
    assert not blocks.getattr("2").getattr("training")
    replacement = torch.jit.script(torch.nn.Sequential(torch.nn.Linear(4, 2), torch.nn.ReLU()))
    ours.head = replacement
    assert torch.equal(getattr(ours.head, "0").weight, getattr(replacement, "0").weight)
    path = tmp_path / "wrapped.pt"
    torch.jit.save(ours, str(path))
    x = torch.randn(2, 4)
    assert torch.equal(torch.jit.load(str(path))(x), ours(x))


def test_submodules_of_one_type_share_their_concrete_type_only_within_a_type():
    ours = wrap_cpp_module(torch.jit.script(Stack().eval())._c)
    first, second = getattr(ours.blocks, "0"), getattr(ours.blocks, "1")
    assert first._concrete_type is second._concrete_type
    assert first.linear._concrete_type is not first._concrete_type
    head = getattr(ours.head, "0")
    assert head._concrete_type.equals(torch._C.ConcreteModuleType.from_jit_type(head._c._type()))


@pytest.mark.parametrize("enabled", [True, False])
def test_garbage_collector_state_is_restored(enabled):
    module = torch.jit.script(Stack().eval())
    was = gc.isenabled()
    try:
        gc.enable() if enabled else gc.disable()
        wrap_cpp_module(module._c)
        assert gc.isenabled() == enabled
    finally:
        gc.enable() if was else gc.disable()


@pytest.mark.skipif(not hasattr(torch.nn.modules.module, "register_module_module_registration_hook"),
                    reason="global module registration hooks exist from torch 2.0 on; this runs with torch 2.6 "
                           "inside the trixie root (tools/trixie_root.sh, part of tools/run_tests.sh)")
def test_global_module_registration_hooks_are_called_as_torch_calls_them():
    module = torch.jit.script(Stack().eval())
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
