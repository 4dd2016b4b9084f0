"""Each XNNPACK annotator (OP_TO_ANNOTATOR) on small modules, scripted and
traced: which nodes it annotates, with which spec objects, and what it leaves
alone."""

import pytest
import torch
import torch.nn.functional as F

from quantizer_testing import CAPTURES, annotation, canonical_view, is_annotated, op, ops
from torch_pt2e.quantizer.quantizer import SharedQuantizationSpec
from torch_pt2e.quantizer.xnnpack_quantizer import XNNPACKQuantizer, get_symmetric_quantization_config
from torch_pt2e.quantizer.xnnpack_quantizer_utils import OP_TO_ANNOTATOR, propagate_annotation

aten = torch.ops.aten
CONFIG = get_symmetric_quantization_config()
PER_CHANNEL = get_symmetric_quantization_config(is_per_channel=True)


def test_registry_has_every_upstream_annotator():
    assert list(OP_TO_ANNOTATOR) == [
        "linear", "linear_relu", "conv", "conv_relu", "conv_transpose", "conv_transpose_relu", "conv_bn",
        "conv_bn_relu", "conv_transpose_bn", "conv_transpose_bn_relu", "gru_io_only", "adaptive_avg_pool2d", "add",
        "add_relu", "mul", "mul_relu", "cat"]


def test_unknown_annotator_names_the_known_ones():
    view = canonical_view(torch.nn.Linear(2, 2), (torch.randn(1, 2),))
    with pytest.raises(RuntimeError, match="no XNNPACK annotator named 'linear_gelu'.*linear_relu"):
        torch.ops.torch_pt2e.xnnpack_run_annotator(view._c, '{"name": "linear_gelu", "config": null}')


class LinearReLU(torch.nn.Module):
    def __init__(self, bias=True, relu=True):
        super().__init__()
        self.linear = torch.nn.Linear(4, 4, bias=bias)
        self.relu = torch.nn.ReLU() if relu else torch.nn.Identity()

    def forward(self, x):
        return self.relu(self.linear(x))


@pytest.mark.parametrize("how", CAPTURES)
def test_linear(how):
    view = canonical_view(LinearReLU(relu=False), (torch.randn(2, 4),), how)
    partitions = OP_TO_ANNOTATOR["linear"](view, CONFIG)
    linear = op(view, aten.linear.default)
    x, weight, bias = linear.args
    found = annotation(linear)
    # the config's own spec objects, as upstream
    assert list(found.input_qspec_map.items()) == [(x, CONFIG.input_activation), (weight, CONFIG.weight),
                                                   (bias, None)]
    assert found.output_qspec is CONFIG.output_activation and found._annotated
    assert weight.op == "get_attr" and is_annotated(weight) and is_annotated(bias)
    assert partitions == [[linear, weight, bias]]
    # annotating again changes nothing: the first annotation wins
    assert OP_TO_ANNOTATOR["linear"](view, PER_CHANNEL) == []
    assert annotation(linear).input_qspec_map[weight] is CONFIG.weight


@pytest.mark.parametrize("how", CAPTURES)
def test_linear_without_bias_and_dynamic(how):
    dynamic = get_symmetric_quantization_config(is_dynamic=True)
    view = canonical_view(LinearReLU(bias=False, relu=False), (torch.randn(2, 4),), how)
    OP_TO_ANNOTATOR["linear"](view, dynamic)
    found = annotation(op(view, aten.linear.default))
    assert len(found.input_qspec_map) == 2 and found.output_qspec is None
    assert next(iter(found.input_qspec_map.values())).is_dynamic


@pytest.mark.parametrize("how", CAPTURES)
def test_linear_relu(how):
    view = canonical_view(LinearReLU(), (torch.randn(2, 4),), how)
    OP_TO_ANNOTATOR["linear_relu"](view, CONFIG)
    linear, relu = op(view, aten.linear.default), op(view, aten.relu.default)
    assert len(annotation(linear).input_qspec_map) == 3 and annotation(linear).output_qspec is None
    assert annotation(relu).input_qspec_map == {} and annotation(relu).output_qspec is CONFIG.output_activation


class LinearTwoUsers(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(4, 4)

    def forward(self, x):
        y = self.linear(x)
        return torch.relu(y), y


@pytest.mark.parametrize("how", CAPTURES)
def test_linear_relu_needs_a_single_user(how):
    view = canonical_view(LinearTwoUsers(), (torch.randn(2, 4),), how)
    assert OP_TO_ANNOTATOR["linear_relu"](view, CONFIG) == []


class ConvReLU(torch.nn.Module):
    def __init__(self, dim=2, relu=True, transpose=False, groups=1):
        super().__init__()
        convs = {(1, False): torch.nn.Conv1d, (2, False): torch.nn.Conv2d, (3, False): torch.nn.Conv3d,
                 (1, True): torch.nn.ConvTranspose1d, (2, True): torch.nn.ConvTranspose2d,
                 (3, True): torch.nn.ConvTranspose3d}
        self.conv = convs[(dim, transpose)](4, 4, 3, groups=groups)
        self.relu = torch.nn.ReLU() if relu else torch.nn.Identity()

    def forward(self, x):
        return self.relu(self.conv(x))


CONV_OPS = {1: aten.conv1d.default, 2: aten.conv2d.default, 3: aten.conv3d.default}
CONV_TRANSPOSE_OPS = {1: aten.conv_transpose1d.default, 2: aten.conv_transpose2d.input,
                      3: aten.conv_transpose3d.input}


def conv_input(dim):
    return (torch.randn((1, 4) + (5,) * dim),)


@pytest.mark.parametrize("how", CAPTURES)
@pytest.mark.parametrize("dim", [1, 2, 3])
def test_conv(how, dim):
    view = canonical_view(ConvReLU(dim, relu=False), conv_input(dim), how)
    OP_TO_ANNOTATOR["conv"](view, PER_CHANNEL)
    conv = op(view, CONV_OPS[dim])
    x, weight, bias = conv.args[:3]
    assert annotation(conv).input_qspec_map == {x: PER_CHANNEL.input_activation, weight: PER_CHANNEL.weight,
                                                bias: None}
    assert annotation(conv).output_qspec is PER_CHANNEL.output_activation


@pytest.mark.parametrize("how", CAPTURES)
@pytest.mark.parametrize("dim", [1, 2, 3])
def test_conv_relu(how, dim):
    view = canonical_view(ConvReLU(dim), conv_input(dim), how)
    # conv leaves conv -> relu to conv_relu (ExecuTorch's order runs conv first)
    assert OP_TO_ANNOTATOR["conv"](view, CONFIG) == []
    OP_TO_ANNOTATOR["conv_relu"](view, CONFIG)
    conv, relu = op(view, CONV_OPS[dim]), op(view, aten.relu.default)
    assert annotation(conv).output_qspec is None and len(annotation(conv).input_qspec_map) == 3
    assert annotation(relu).output_qspec is CONFIG.output_activation


@pytest.mark.parametrize("how", CAPTURES)
@pytest.mark.parametrize("dim", [1, 2, 3])
@pytest.mark.parametrize("relu", [False, True])
def test_conv_transpose(how, dim, relu):
    view = canonical_view(ConvReLU(dim, relu=relu, transpose=True), conv_input(dim), how)
    OP_TO_ANNOTATOR["conv_transpose_relu" if relu else "conv_transpose"](view, PER_CHANNEL)
    conv = op(view, CONV_TRANSPOSE_OPS[dim])
    weight_spec = annotation(conv).input_qspec_map[conv.args[1]]
    # transposed weights are [in, out / groups, ...]: per output channel is axis 1
    assert weight_spec.ch_axis == 1 and weight_spec.qscheme == torch.per_channel_symmetric
    assert weight_spec.observer_or_fake_quant_ctr is PER_CHANNEL.weight.observer_or_fake_quant_ctr
    if relu:
        assert annotation(op(view, aten.relu.default)).output_qspec is PER_CHANNEL.output_activation


@pytest.mark.parametrize("how", CAPTURES)
def test_conv_transpose_with_groups_is_left_alone(how):
    view = canonical_view(ConvReLU(2, relu=False, transpose=True, groups=2), conv_input(2), how)
    assert OP_TO_ANNOTATOR["conv_transpose"](view, PER_CHANNEL) == []
    assert annotation(op(view, aten.conv_transpose2d.input)) is None


class ConvBatchNormTraining(torch.nn.Module):
    """conv -> batch_norm(training=True) [-> relu], as QAT graphs keep it."""

    def __init__(self, relu, transpose=False):
        super().__init__()
        self.conv = (torch.nn.ConvTranspose2d if transpose else torch.nn.Conv2d)(3, 3, 3)
        self.bn_weight = torch.nn.Parameter(torch.rand(3))
        self.bn_bias = torch.nn.Parameter(torch.rand(3))
        self.register_buffer("mean", torch.zeros(3))
        self.register_buffer("var", torch.ones(3))
        self.relu = relu

    def forward(self, x):
        y = F.batch_norm(self.conv(x), self.mean, self.var, self.bn_weight, self.bn_bias, training=True)
        return F.relu(y) if self.relu else y


@pytest.mark.parametrize("how", CAPTURES)
@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("transpose", [False, True])
def test_conv_bn(how, relu, transpose):
    name = ("conv_transpose_bn" if transpose else "conv_bn") + ("_relu" if relu else "")
    view = canonical_view(ConvBatchNormTraining(relu, transpose), (torch.randn(2, 3, 6, 6),), how)
    qat = get_symmetric_quantization_config(is_qat=True)
    partitions = OP_TO_ANNOTATOR[name](view, qat)
    conv = op(view, aten.conv_transpose2d.input if transpose else aten.conv2d.default)
    output = op(view, aten.relu.default if relu else aten.batch_norm.default)
    assert partitions == [[conv] + list(conv.args[1:3])]
    assert list(annotation(conv).input_qspec_map.values()) == [qat.input_activation, qat.weight, None]
    assert annotation(conv).output_qspec is None
    assert annotation(output).output_qspec is qat.output_activation
    if relu:
        assert annotation(op(view, aten.batch_norm.default)) is None


class GRUThenLinear(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.gru = torch.nn.GRU(4, 4)
        self.linear = torch.nn.Linear(4, 4)

    def forward(self, x, h):
        y, h_n = self.gru(x, h)
        return self.linear(y), h_n


def test_gru_io_only():
    view = canonical_view(GRUThenLinear(), (torch.randn(3, 1, 4), torch.randn(1, 1, 4)), "trace")
    OP_TO_ANNOTATOR["gru_io_only"](view, CONFIG)
    gru = op(view, aten.gru.input)
    assert list(annotation(gru).input_qspec_map) == [gru.args[0], gru.args[1]]
    assert all(spec is CONFIG.input_activation for spec in annotation(gru).input_qspec_map.values())
    # the GRU output's spec sits on its user's input edge (one node, two outputs in TorchScript)
    linear = op(view, aten.linear.default)
    assert annotation(linear).input_qspec_map == {linear.args[0]: CONFIG.output_activation}


class ConvPool(torch.nn.Module):
    def __init__(self, conv=True):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 3, 3) if conv else torch.nn.Identity()
        self.pool = torch.nn.AdaptiveAvgPool2d((1, 1))

    def forward(self, x):
        return self.pool(self.conv(x))


@pytest.mark.parametrize("how", CAPTURES)
@pytest.mark.parametrize("conv", [True, False])
def test_adaptive_avg_pool2d(how, conv):
    view = canonical_view(ConvPool(conv), (torch.randn(1, 3, 6, 6),), how)
    if conv:
        OP_TO_ANNOTATOR["conv"](view, CONFIG)
    OP_TO_ANNOTATOR["adaptive_avg_pool2d"](view, CONFIG)
    pool = op(view, aten.adaptive_avg_pool2d.default)
    source = pool.args[0]
    input_spec = annotation(pool).input_qspec_map[source]
    if conv:
        # share the conv's output observer
        assert input_spec == SharedQuantizationSpec(source)
    else:
        assert input_spec is CONFIG.input_activation
    assert annotation(pool).output_qspec == SharedQuantizationSpec((source, pool))


class Binary(torch.nn.Module):
    def __init__(self, op, relu=False):
        super().__init__()
        self.op, self.relu = op, relu

    def forward(self, x, y):
        z = x + y if self.op == "add" else x * y
        return torch.relu(z) if self.relu else z


BINARY_OPS = {"add": aten.add.Tensor, "mul": aten.mul.Tensor}


@pytest.mark.parametrize("how", CAPTURES)
@pytest.mark.parametrize("name", ["add", "mul"])
def test_add_mul(how, name):
    view = canonical_view(Binary(name), (torch.randn(2, 3), torch.randn(2, 3)), how)
    partitions = OP_TO_ANNOTATOR[name](view, CONFIG)
    node = op(view, BINARY_OPS[name])
    x, y = node.args[:2]
    assert annotation(node).input_qspec_map == {x: CONFIG.input_activation, y: CONFIG.input_activation}
    assert annotation(node).output_qspec is CONFIG.output_activation
    # upstream's mul partition lists its first input twice; add lists both
    assert partitions == [[node, x, x if name == "mul" else y]]


@pytest.mark.parametrize("how", CAPTURES)
@pytest.mark.parametrize("name", ["add", "mul"])
def test_add_mul_relu(how, name):
    view = canonical_view(Binary(name, relu=True), (torch.randn(2, 3), torch.randn(2, 3)), how)
    OP_TO_ANNOTATOR[f"{name}_relu"](view, CONFIG)
    node, relu = op(view, BINARY_OPS[name]), op(view, aten.relu.default)
    assert len(annotation(node).input_qspec_map) == 2 and annotation(node).output_qspec is None
    assert annotation(relu).output_qspec is CONFIG.output_activation


@pytest.mark.parametrize("name", ["add", "mul"])
def test_add_mul_leave_integer_tensors_alone(name):
    # traced graphs know the dtypes; observers only take float tensors
    view = canonical_view(Binary(name), (torch.randn(2, 3), torch.ones(2, 3, dtype=torch.int64)), "trace")
    assert OP_TO_ANNOTATOR[name](view, CONFIG) == []
    assert annotation(op(view, BINARY_OPS[name])) is None


class AddScalar(torch.nn.Module):
    def __init__(self, scalar):
        super().__init__()
        self.scalar = scalar

    def forward(self, x):
        return x + self.scalar


@pytest.mark.parametrize("how", CAPTURES)
def test_add_scalar_after_transform(how):
    view = canonical_view(AddScalar(2.0), (torch.randn(2, 3),), how, transform=XNNPACKQuantizer())
    OP_TO_ANNOTATOR["add"](view, CONFIG)
    node = op(view, aten.add.Tensor)
    constant = node.args[1]
    assert constant.op == "get_attr" and constant.target.startswith("_tensor_constant_")
    assert annotation(node).input_qspec_map == {node.args[0]: CONFIG.input_activation,
                                                constant: CONFIG.input_activation}


@pytest.mark.parametrize("how", CAPTURES)
def test_add_large_scalar_is_left_alone(how):
    # torch.histc (HistogramObserver) works up to 3.4028235e15
    view = canonical_view(AddScalar(1e16), (torch.randn(2, 3),), how, transform=XNNPACKQuantizer())
    assert OP_TO_ANNOTATOR["add"](view, CONFIG) == []


@pytest.mark.parametrize("how", CAPTURES)
def test_add_scalar_without_transform_observes_the_tensor_only(how):
    view = canonical_view(AddScalar(2.0), (torch.randn(2, 3),), how)
    OP_TO_ANNOTATOR["add"](view, CONFIG)
    node = op(view, aten.add.Scalar if how == "script" else aten.add.Tensor)
    # the literal (a TorchScript constant) is not observable
    assert list(annotation(node).input_qspec_map) == [node.args[0]]


class CatAfterConv(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 3, 1)

    def forward(self, x, y):
        return torch.cat([x, self.conv(y)], dim=1)


@pytest.mark.parametrize("how", CAPTURES)
def test_cat_shares_the_observer_of_an_annotated_input(how):
    view = canonical_view(CatAfterConv(), (torch.randn(1, 3, 4, 4), torch.randn(1, 3, 4, 4)), how)
    OP_TO_ANNOTATOR["conv"](view, CONFIG)
    OP_TO_ANNOTATOR["cat"](view, CONFIG)
    cat = op(view, aten.cat.default)
    x, conv_out = cat.args[0]
    # ExecuTorch's choice: the input that traces back to an annotated output owns the qparams
    shared = SharedQuantizationSpec((conv_out, cat))
    assert annotation(cat).input_qspec_map == {conv_out: CONFIG.input_activation, x: shared}
    assert annotation(cat).output_qspec == shared


class CatInputs(torch.nn.Module):
    def forward(self, x, y):
        return torch.cat([x, y])


@pytest.mark.parametrize("how", CAPTURES)
def test_cat_defaults_to_the_first_input(how):
    view = canonical_view(CatInputs(), (torch.randn(2, 3), torch.randn(2, 3)), how)
    OP_TO_ANNOTATOR["cat"](view, CONFIG)
    cat = op(view, aten.cat.default)
    x, y = cat.args[0]
    assert annotation(cat).input_qspec_map == {x: CONFIG.input_activation, y: SharedQuantizationSpec((x, cat))}


class ConvPoolFlatten(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 3, 3)

    def forward(self, x):
        y = F.max_pool2d(self.conv(x), 2)
        return torch.flatten(y, 1).view(-1, 3).reshape(-1).relu()


@pytest.mark.parametrize("how", CAPTURES)
def test_propagate_annotation(how):
    view = canonical_view(ConvPoolFlatten(), (torch.randn(1, 3, 6, 6),), how)
    OP_TO_ANNOTATOR["conv"](view, CONFIG)
    propagate_annotation(view)
    previous = op(view, aten.conv2d.default)
    for target in (aten.max_pool2d.default, aten.flatten.using_ints, aten.view.default, aten.reshape.default,
                   aten.relu.default):
        node = op(view, target)
        assert annotation(node).input_qspec_map == {previous: SharedQuantizationSpec(previous)}
        assert annotation(node).output_qspec == SharedQuantizationSpec(previous) and node.meta[
            "quantization_annotation"]._annotated
        previous = node


class TwoLinears(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear1 = torch.nn.Linear(4, 4)
        self.linear2 = torch.nn.Linear(4, 4)

    def forward(self, x):
        return self.linear2(self.linear1(x))


@pytest.mark.parametrize("how", CAPTURES)
def test_filter_fn_sees_view_nodes(how):
    view = canonical_view(TwoLinears(), (torch.randn(2, 4),), how)
    seen = []

    def only_linear2(node):
        seen.append(node.op)
        return "linear2" in node.meta.get("nn_module_stack", {})

    OP_TO_ANNOTATOR["linear"](view, CONFIG, only_linear2)
    first, second = ops(view, aten.linear.default)
    assert annotation(first) is None and is_annotated(second)
    assert {"placeholder", "get_attr", "call_function"} <= set(seen)


class SharedConv(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 3, 1)

    def forward(self, x):
        return self.conv(self.conv(x))


@pytest.mark.parametrize("how", CAPTURES)
def test_weight_read_twice_is_one_node(how):
    """FX has one get_attr node per parameter: a conv module called twice is
    annotated once, its weight being already annotated at the second call
    (TorchScript reads the weight twice; both reads count as one node)."""
    view = canonical_view(SharedConv(), (torch.randn(1, 3, 4, 4),), how)
    first, second = ops(view, aten.conv2d.default)
    assert len(OP_TO_ANNOTATOR["conv"](view, CONFIG)) == 1
    assert is_annotated(first) and annotation(second) is None
