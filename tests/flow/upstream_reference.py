"""Upstream's reference functions (torch 2.6's pt2e/representation/rewrite.py)
composed over the qparams and int8 weights of one of our q/dq-converted
modules, so that our reference representation can be compared with
upstream's arithmetic bit for bit on the same numbers.

Upstream's exported patterns see scales as Python floats, which its graph
multiplies as wrapped numbers, i.e. in float32; eager calls reproduce that
with float32 0-dim tensors.
"""

import torch

QD = torch.ops.quantized_decomposed


def qdq_calls(module):
    """[(kind, args)] of every per-tensor quantize/dequantize of `module`, in
    graph order, with weights resolved to tensors and graph inputs to names
    (plain data: it can be saved and composed under another torch)."""
    from torch_pt2e.graph_view import GraphModuleView

    kinds = {QD.quantize_per_tensor.default: "q", QD.dequantize_per_tensor.default: "dq"}
    calls = []
    for node in GraphModuleView(module).graph.nodes:
        if node.op != "call_function" or node.target not in kinds:
            continue
        args = []
        for arg in node.args:
            if getattr(arg, "op", None) == "get_attr":
                value = module
                for name in arg.target.split("."):
                    value = getattr(value, name)
                arg = value
            elif getattr(arg, "op", None) == "placeholder":
                arg = arg.name.split(".")[0]
            elif hasattr(arg, "op"):
                arg = None  # an intermediate value
            args.append(arg)
        calls.append((kinds[node.target], args))
    return calls


def _f32(scale):
    return torch.tensor(scale, dtype=torch.float32)


def linear_or_conv(calls, x, bias, conv):
    """q(x) -> linear or conv2d (stride 1, no padding) -> q -> dq."""
    from torch.ao.quantization.pt2e.representation import rewrite as up

    quantizes = [args for kind, args in calls if kind == "q"]
    weight = next(args for kind, args in calls if kind == "dq" and isinstance(args[0], torch.Tensor))
    (_, sx, zx, xmin, xmax, _), (_, so, zo, omin, omax, _) = quantizes
    w, sw, zw, wmin, wmax = weight[:5]
    x_i8 = up._reference_quantize_per_tensor_int8(x, _f32(sx), zx, xmin, xmax)
    layer = up._reference_quantized_conv2d if conv else up._reference_quantized_linear
    y_i8 = layer(x_i8, _f32(sx), zx, xmin, xmax, w, _f32(sw), zw, wmin, wmax, bias, _f32(so), zo, omin, omax)
    return up._reference_dequantize_per_tensor_int8(y_i8, _f32(so), zo, omin, omax)


def add(calls, inputs, relu):
    """q(x), q(y) -> add [-> relu] -> q -> dq; inputs: {graph input name: tensor}."""
    from torch.ao.quantization.pt2e.representation import rewrite as up

    quantizes = [args for kind, args in calls if kind == "q"]
    by_input = {args[0]: args for args in quantizes if isinstance(args[0], str)}
    (_, so, zo, qmin, qmax, _) = next(args for args in quantizes if args[0] is None)
    operands = []
    for name in ("x", "y"):
        _, scale, zero_point, *_ = by_input[name]
        x_i8 = up._reference_quantize_per_tensor_int8(inputs[name], _f32(scale), zero_point, qmin, qmax)
        operands += [x_i8, _f32(scale), zero_point]
    function = up._reference_quantized_add_relu if relu else up._reference_quantized_add
    out_i8 = function(*operands, _f32(so), zo, qmin, qmax)
    return up._reference_dequantize_per_tensor_int8(out_i8, _f32(so), zo, qmin, qmax)
