"""Side-by-side runs of upstream's PT2E flow (torch.export + torch.ao's
XNNPACKQuantizer, torch 2.6) and this plugin's (TorchScript + torch_pt2e), and
the comparisons of their quantized graphs."""

import collections
import copy
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch

from torch_pt2e.graph_view import GraphModuleView
from torch_pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e
from torch_pt2e.quantizer.xnnpack_quantizer import XNNPACKQuantizer, get_symmetric_quantization_config

QD_OPS = ("quantize_per_tensor", "dequantize_per_tensor", "quantize_per_channel", "dequantize_per_channel",
          "choose_qparams", "choose_qparams_symmetric")


def upstream_flow_missing() -> Optional[str]:
    """Why upstream's side cannot run here (None when it can)."""
    try:
        import torch.export  # noqa: F401
        from torch.ao.quantization.quantize_pt2e import prepare_pt2e as _  # noqa: F401
        from torch.ao.quantization.quantizer.xnnpack_quantizer import XNNPACKQuantizer as _X  # noqa: F401
    except ImportError as error:
        return (f"needs torch>=2.5 with torch.export and torch.ao's PT2E flow ({error}); runs inside the trixie root "
                "with torch 2.6 (tools/trixie_root.sh run tools/trixie_tests.sh, part of tools/run_tests.sh)")
    if not hasattr(torch.export, "export_for_training"):
        return "needs torch.export.export_for_training (torch>=2.5); runs in the trixie root with torch 2.6"
    return None


def calibrate_batch_norm(model: torch.nn.Module, batches: Sequence[torch.Tensor]) -> torch.nn.Module:
    """Running statistics from a few batches in train mode (random init leaves
    them at 0/1, and MobileNetV2's activations then vanish), then eval mode."""
    model.train()
    with torch.no_grad():
        for batch in batches:
            model(batch)
    return model.eval()


def capture(model: torch.nn.Module, example: Tuple[torch.Tensor, ...], how: str) -> torch.jit.ScriptModule:
    model = copy.deepcopy(model).eval()
    if how == "script":
        return torch.jit.script(model)
    return torch.jit.trace(model, example)


def quantize_ours(model, example, calibration, how: str, config_kwargs: Dict[str, Any]):
    quantizer = XNNPACKQuantizer().set_global(get_symmetric_quantization_config(**config_kwargs))
    prepared = prepare_pt2e(capture(model, example, how), quantizer)
    for batch in calibration:
        prepared(*batch)
    return convert_pt2e(prepared)


def quantize_upstream(model, example, calibration, config_kwargs: Dict[str, Any]):
    from torch.ao.quantization.quantize_pt2e import convert_pt2e as up_convert
    from torch.ao.quantization.quantize_pt2e import prepare_pt2e as up_prepare
    from torch.ao.quantization.quantizer import xnnpack_quantizer as up

    exported = torch.export.export_for_training(copy.deepcopy(model).eval(), example).module()
    quantizer = up.XNNPACKQuantizer().set_global(up.get_symmetric_quantization_config(**config_kwargs))
    prepared = up_prepare(exported, quantizer)
    for batch in calibration:
        prepared(*batch)
    return up_convert(prepared)


# ---- reading quantized graphs (FX GraphModule or TorchScript view) -------------------


def _short(target) -> str:
    """"quantize_per_tensor.default", "conv2d.default", "add.Tensor" (in-place spellings folded)."""
    text = str(target)
    for prefix in ("torch.ops.", "aten.", "quantized_decomposed."):
        if text.startswith(prefix):
            text = text[len(prefix):]
    name, _, overload = text.partition(".")
    return f"{name.rstrip('_')}.{overload or 'default'}"


def _namespace(target) -> str:
    return str(target).replace("torch.ops.", "").split(".")[0]


# ScalarType numbering (c10/core/ScalarType.h) for dtypes TorchScript constants hold as ints.
_SCALAR_TYPES = {0: torch.uint8, 1: torch.int8, 2: torch.int16, 3: torch.int32, 4: torch.int64, 5: torch.float16,
                 6: torch.float32, 7: torch.float64, 12: torch.qint8, 13: torch.quint8, 14: torch.qint32,
                 15: torch.bfloat16}


def as_dtype(value):
    return _SCALAR_TYPES[value] if isinstance(value, int) and not isinstance(value, bool) else value


def _attr(module, path: str) -> torch.Tensor:
    value = module
    for part in path.split("."):
        value = getattr(value, part)
    return value


class Quantized:
    """The call_function nodes of a quantized graph with what tests compare."""

    def __init__(self, module, nodes: List[Any]):
        self.module = module
        self.nodes = nodes

    @classmethod
    def of_fx(cls, graph_module) -> "Quantized":
        return cls(graph_module, list(graph_module.graph.nodes))

    @classmethod
    def of_script(cls, script_module) -> "Quantized":
        return cls(script_module, GraphModuleView(script_module).graph.nodes)

    def qd_counts(self) -> Dict[str, int]:
        counts = collections.Counter(
            _short(n.target) for n in self.nodes
            if n.op == "call_function" and _namespace(n.target) == "quantized_decomposed")
        return dict(counts)

    def _value(self, arg):
        if hasattr(arg, "op") and arg.op == "get_attr":
            return _attr(self.module, arg.target)
        return arg

    def qparams(self, node) -> Tuple[Any, ...]:
        """(op, scale, zero_point, [axis,] quant_min, quant_max, dtype) of a q/dq
        node: per-channel scales and zero points as tensors, the qparams of
        dynamic quantization (computed at run time) as "dynamic"."""
        op = _short(node.target)
        args = list(node.args)
        per_channel = "per_channel" in op
        scale, zero_point = (self._value(arg) for arg in args[1:3])
        if hasattr(scale, "op"):
            scale = zero_point = "dynamic"
        rest = args[3:7] if per_channel else args[3:6]
        rest[-1] = as_dtype(rest[-1])
        return (op, scale, zero_point) + tuple(rest)

    def anchors(self, names: Sequence[str]) -> List[Any]:
        return [n for n in self.nodes if n.op == "call_function" and _namespace(n.target) == "aten"
                and _short(n.target).split(".")[0] in names]

    def signature(self, anchor) -> Dict[str, Any]:
        """The q/dq around one op: dequantize nodes feeding it (by argument
        position, list inputs flattened) and the quantize reading its output."""
        inputs = []
        flat = []
        for arg in anchor.args:
            flat.extend(arg if isinstance(arg, (list, tuple)) else [arg])
        for arg in flat:
            if hasattr(arg, "op") and arg.op == "call_function" and _short(arg.target).startswith("dequantize"):
                dq = arg
                quantized = dq.args[0]
                weight = None
                if hasattr(quantized, "op") and quantized.op == "get_attr":
                    weight = _attr(self.module, quantized.target)
                inputs.append((self.qparams(dq), weight))
            else:
                inputs.append(None)
        outputs = [self.qparams(u) for u in anchor.users
                   if u.op == "call_function" and _short(u.target).startswith("quantize")]
        return {"op": _short(anchor.target), "inputs": inputs, "outputs": outputs}


def assert_same_qparams(ours: Quantized, upstream: Quantized, anchor_names: Sequence[str]) -> int:
    """Every anchor op, in graph order, has the same q/dq parameters (and the
    same folded integer weights) in both graphs. Returns the number compared."""
    ours_anchors = ours.anchors(anchor_names)
    up_anchors = upstream.anchors(anchor_names)
    ours_ops = [_short(n.target) for n in ours_anchors]
    up_ops = [_short(n.target) for n in up_anchors]
    assert ours_ops == up_ops, f"op sequences differ:\nours     {ours_ops}\nupstream {up_ops}"
    compared = 0
    for position, (mine, theirs) in enumerate(zip(ours_anchors, up_anchors)):
        a, b = ours.signature(mine), upstream.signature(theirs)
        where = f"op {position} ({a['op']})"
        assert len(a["inputs"]) >= len([x for x in b["inputs"] if x is not None]), where
        a_inputs = [x for x in a["inputs"] if x is not None]
        b_inputs = [x for x in b["inputs"] if x is not None]
        assert len(a_inputs) == len(b_inputs), f"{where}: {len(a_inputs)} vs {len(b_inputs)} dequantized inputs"
        for (qa, wa), (qb, wb) in zip(a_inputs, b_inputs):
            _assert_qparams_equal(qa, qb, where)
            assert (wa is None) == (wb is None), f"{where}: folded weight on one side only"
            if wa is not None:
                assert wa.dtype == wb.dtype and torch.equal(wa, wb), f"{where}: folded integer weights differ"
            compared += 1
        assert len(a["outputs"]) == len(b["outputs"]), f"{where}: output quantize {a['outputs']} vs {b['outputs']}"
        for qa, qb in zip(a["outputs"], b["outputs"]):
            _assert_qparams_equal(qa, qb, where + " output")
            compared += 1
    return compared


def _assert_qparams_equal(a, b, where: str) -> None:
    assert len(a) == len(b) and a[0] == b[0], f"{where}: {a[0]} vs {b[0]}"
    for x, y in zip(a[1:], b[1:]):
        if isinstance(x, torch.Tensor) or isinstance(y, torch.Tensor):
            x, y = torch.as_tensor(x), torch.as_tensor(y)
            assert x.shape == y.shape and torch.equal(x.to(y.dtype), y), f"{where}: {x} vs {y}"
        else:
            assert x == y, f"{where}: {a} vs {b}"


def last_output_scale(quantized: Quantized) -> float:
    scale = None
    for node in quantized.nodes:
        if node.op == "call_function" and _short(node.target) == "quantize_per_tensor.default":
            scale = node.args[1]
    assert scale is not None, "no quantize_per_tensor in the graph"
    return float(scale)
