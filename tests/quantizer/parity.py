"""Side-by-side runs of upstream's PT2E flow (torch.export + torch.ao's
XNNPACKQuantizer, torch 2.6) and this plugin's (TorchScript + torch_pt2e), and
the comparisons of their quantized graphs."""

import collections
import contextlib
import copy
from typing import Any, Dict, List, Optional, Sequence, Tuple

import torch

from torch_pt2e.graph_view import GraphModuleView
from torch_pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e
from torch_pt2e.quantizer.xnnpack_quantizer import XNNPACKQuantizer, get_symmetric_quantization_config

# The ops whose q/dq the real-model comparisons check, in graph order.
ANCHORS = ("conv2d", "linear", "add", "relu", "hardtanh", "max_pool2d", "adaptive_avg_pool2d", "flatten", "dropout",
           "layer_norm", "gelu")
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


# Both flows take `timed`: stage name ("capture", "prepare", "convert") -> a
# context manager around that stage (tools/bench_upstream.py times them).
def _untimed(stage: str):
    return contextlib.nullcontext()


def quantize_ours(model, example, calibration, how: str, config_kwargs: Dict[str, Any], timed=_untimed):
    quantizer = XNNPACKQuantizer().set_global(get_symmetric_quantization_config(**config_kwargs))
    model = copy.deepcopy(model).eval()
    with timed("capture"):
        captured = torch.jit.script(model) if how == "script" else torch.jit.trace(model, example)
    with timed("prepare"):
        prepared = prepare_pt2e(captured, quantizer)
    for batch in calibration:
        prepared(*batch)
    with timed("convert"):
        return convert_pt2e(prepared)


def quantize_upstream(model, example, calibration, config_kwargs: Dict[str, Any], timed=_untimed):
    from torch.ao.quantization.quantize_pt2e import convert_pt2e as up_convert
    from torch.ao.quantization.quantize_pt2e import prepare_pt2e as up_prepare
    from torch.ao.quantization.quantizer import xnnpack_quantizer as up

    quantizer = up.XNNPACKQuantizer().set_global(up.get_symmetric_quantization_config(**config_kwargs))
    model = copy.deepcopy(model).eval()
    with timed("capture"):
        exported = torch.export.export_for_training(model, example).module()
    with timed("prepare"):
        prepared = up_prepare(exported, quantizer)
    for batch in calibration:
        prepared(*batch)
    with timed("convert"):
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


def qparam_differences(ours: "Quantized", upstream: "Quantized", anchor_names: Sequence[str]) -> Tuple[int, List[str]]:
    """Compares the q/dq parameters (and folded integer weights) around every
    anchor op, in graph order. Returns the number of q/dq compared and one
    message per q/dq that differs; differing op sequences are one message
    and nothing compared."""
    ours_anchors = ours.anchors(anchor_names)
    up_anchors = upstream.anchors(anchor_names)
    ours_ops = [_short(n.target) for n in ours_anchors]
    up_ops = [_short(n.target) for n in up_anchors]
    if ours_ops != up_ops:
        return 0, [f"op sequences differ:\nours     {ours_ops}\nupstream {up_ops}"]
    compared = 0
    differences = []
    for position, (mine, theirs) in enumerate(zip(ours_anchors, up_anchors)):
        a, b = ours.signature(mine), upstream.signature(theirs)
        where = f"op {position} ({a['op']})"
        a_inputs = [x for x in a["inputs"] if x is not None]
        b_inputs = [x for x in b["inputs"] if x is not None]
        if len(a_inputs) != len(b_inputs):
            differences.append(f"{where}: {len(a_inputs)} vs {len(b_inputs)} dequantized inputs")
            continue
        for (qa, wa), (qb, wb) in zip(a_inputs, b_inputs):
            difference = _qparams_difference(qa, qb, where)
            if difference is None and (wa is None) != (wb is None):
                difference = f"{where}: folded weight on one side only"
            if difference is None and wa is not None and not (wa.dtype == wb.dtype and torch.equal(wa, wb)):
                difference = f"{where}: folded integer weights differ"
            compared += 1
            if difference is not None:
                differences.append(difference)
        if len(a["outputs"]) != len(b["outputs"]):
            differences.append(f"{where}: output quantize {a['outputs']} vs {b['outputs']}")
            continue
        for qa, qb in zip(a["outputs"], b["outputs"]):
            difference = _qparams_difference(qa, qb, where + " output")
            compared += 1
            if difference is not None:
                differences.append(difference)
    return compared, differences


def assert_same_qparams(ours: Quantized, upstream: Quantized, anchor_names: Sequence[str]) -> int:
    """Every anchor op, in graph order, has the same q/dq parameters (and the
    same folded integer weights) in both graphs. Returns the number compared."""
    compared, differences = qparam_differences(ours, upstream, anchor_names)
    assert not differences, "\n".join(differences)
    return compared


def _qparams_difference(a, b, where: str) -> Optional[str]:
    if len(a) != len(b) or a[0] != b[0]:
        return f"{where}: {a[0]} vs {b[0]}"
    for x, y in zip(a[1:], b[1:]):
        if isinstance(x, torch.Tensor) or isinstance(y, torch.Tensor):
            x, y = torch.as_tensor(x), torch.as_tensor(y)
            if not (x.shape == y.shape and torch.equal(x.to(y.dtype), y)):
                return f"{where}: {x} vs {y}"
        elif x != y:
            return f"{where}: {a} vs {b}"
    return None


def last_output_scale(quantized: Quantized) -> float:
    scale = None
    for node in quantized.nodes:
        if node.op == "call_function" and _short(node.target) == "quantize_per_tensor.default":
            scale = node.args[1]
    assert scale is not None, "no quantize_per_tensor in the graph"
    return float(scale)


# ---- the models compared (tests/quantizer/test_real_models.py, tools/bench_upstream.py) ----

# Input sizes: small inputs keep the runs short; ResNet-50 at a lower resolution.
TORCHVISION_MODELS = {"resnet18": 64, "mobilenet_v2": 64, "resnet50": 32}


def make_torchvision_model(name: str):
    """(model, example inputs, calibration batches): random init with seed 0,
    batch-norm statistics from three random batches."""
    import torchvision

    torch.manual_seed(0)
    model = getattr(torchvision.models, name)()
    size = TORCHVISION_MODELS[name]
    calibrate_batch_norm(model, [torch.randn(4, 3, size, size) for _ in range(3)])
    example = (torch.randn(1, 3, size, size),)
    calibration = [(torch.randn(2, 3, size, size),) for _ in range(2)]
    return model, example, calibration


class MLPStack(torch.nn.Module):
    """Transformer-style feed-forward blocks: pre-norm, two linears, residual."""

    def __init__(self, dim=32, hidden=64, blocks=2):
        super().__init__()
        self.blocks = torch.nn.ModuleList(
            torch.nn.ModuleDict({"norm": torch.nn.LayerNorm(dim), "up": torch.nn.Linear(dim, hidden),
                                 "down": torch.nn.Linear(hidden, dim)}) for _ in range(blocks))
        self.head = torch.nn.Linear(dim, 10)

    def forward(self, x):
        for block in self.blocks:
            x = x + block["down"](torch.nn.functional.gelu(block["up"](block["norm"](x))))
        return self.head(x)


def make_mlp():
    torch.manual_seed(0)
    model = MLPStack().eval()
    return model, (torch.randn(2, 5, 32),), [(torch.randn(2, 5, 32),) for _ in range(2)]
