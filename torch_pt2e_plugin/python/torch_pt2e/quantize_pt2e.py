"""prepare_pt2e / convert_pt2e for TorchScript modules, under torchao's names
(torchao.quantization.pt2e.quantize_pt2e).

    prepared = prepare_pt2e(torch.jit.script(model.eval()), quantizer)
    prepared(*calibration_batch)
    quantized = convert_pt2e(prepared)

The passes run in C++ (torch_pt2e_plugin/flow/quantize_pt2e.h); Python only
runs the quantizer's annotate on a graph view and Python derive functions.
Both functions return new ScriptModules; their inputs are left untouched.
"""

import json
from typing import Any, Optional, Sequence

import torch

from . import _annotations
from ._wrap import cpp_children, wrap_cpp_module
from .graph_view import GraphModuleView
from .quantizer.quantizer import Quantizer

__all__ = ["convert_pt2e", "prepare_pt2e", "prepare_qat_pt2e", "prepare_report", "register_derive_qparams_fn"]

register_derive_qparams_fn = _annotations.register_derive_qparams_fn


def _wrap(cpp_module) -> torch.jit.ScriptModule:
    return wrap_cpp_module(cpp_module)


def _check_script_module(model, fn: str) -> None:
    if not isinstance(model, torch.jit.ScriptModule):
        raise TypeError(
            f"{fn} expects a TorchScript module (torch.jit.script(model) or torch.jit.trace(model, inputs)), "
            f"got {type(model).__name__}"
        )


def _example_tensors(example_inputs) -> list:
    tensors = list(example_inputs) if isinstance(example_inputs, (tuple, list)) else [example_inputs]
    for i, item in enumerate(tensors):
        if not isinstance(item, torch.Tensor):
            raise TypeError(f"example_inputs[{i}] must be a Tensor, got {type(item).__name__}")
    return tensors


def annotate_view(model: torch.jit.ScriptModule, quantizer: Quantizer) -> GraphModuleView:
    """Runs quantizer.annotate on a graph view of a canonical module and returns the view."""
    node_info = json.loads(torch.ops.torch_pt2e.node_info(model._c))
    view = GraphModuleView(model, node_info)
    quantizer.annotate(view)
    quantizer.validate(view)
    return view


def _runs_in_cpp(quantizer: Quantizer, example_inputs, is_qat: bool) -> bool:
    """Whether the whole of prepare can run in C++: the quantizer is exactly
    our XNNPACKQuantizer (no Python overrides) with no Python filter function.
    Same annotators and passes as the general path, without the graph view and
    the Python round trip of the annotations (which dominate on large graphs)."""
    from .quantizer.xnnpack_quantizer import XNNPACKQuantizer

    return (type(quantizer) is XNNPACKQuantizer and quantizer.filter_fn is None and example_inputs is None
            and not is_qat)


def _prepare(model, quantizer: Quantizer, example_inputs, is_qat: bool, fn: str):
    _check_script_module(model, fn)
    if type(quantizer).prepare_obs_or_fq_callback is not Quantizer.prepare_obs_or_fq_callback:
        raise NotImplementedError(
            f"{type(quantizer).__name__} overrides prepare_obs_or_fq_callback, which cannot work here: observers "
            "are C++ modules created inside prepare_pt2e. Express the constraint with Shared/Fixed/Derived specs."
        )
    if not is_qat and model.training:
        raise RuntimeError("prepare_pt2e expects a module in eval mode (call model.eval() before scripting)")
    if _runs_in_cpp(quantizer, example_inputs, is_qat):
        return _wrap(torch.ops.torch_pt2e.xnnpack_prepare(model._c, json.dumps(quantizer.to_json())))
    canonical = _wrap(torch.ops.torch_pt2e.canonicalize(model._c, is_qat))
    if example_inputs is not None:
        torch.ops.torch_pt2e.propagate_types(canonical._c, _example_tensors(example_inputs))
    transformed = quantizer.transform_for_annotation(canonical)
    if transformed is None:
        transformed = canonical
    _check_script_module(transformed, f"{type(quantizer).__name__}.transform_for_annotation")
    view = annotate_view(transformed, quantizer)
    annotations = _annotations.annotations_to_json(view)
    prepared = torch.ops.torch_pt2e.insert_observers(transformed._c, json.dumps(annotations), is_qat)
    return _wrap(prepared)


def prepare_pt2e(model: torch.jit.ScriptModule, quantizer: Quantizer,
                 example_inputs: Optional[Sequence[torch.Tensor]] = None) -> torch.jit.ScriptModule:
    """Annotates `model` with `quantizer` and inserts observers.

    example_inputs (optional) give the graph's tensor dtypes and shapes to
    quantizers that check them (e.g. "is this add's input a float tensor");
    traced modules already carry them.
    """
    return _prepare(model, quantizer, example_inputs, is_qat=False, fn="prepare_pt2e")


def prepare_qat_pt2e(model: torch.jit.ScriptModule, quantizer: Quantizer,
                     example_inputs: Optional[Sequence[torch.Tensor]] = None) -> torch.jit.ScriptModule:
    """Annotates `model` with `quantizer` (a QAT config) for quantization-aware training.

    The result keeps the model's training flags, so train() / eval() switch
    batch norm and dropout; conv + batch norm are fused the QAT way and
    fake-quantize modules stand where observers would (docs/quantizer.md, QAT).
    Train it, then convert_pt2e, which folds the batch norms. Scripted and
    traced models both work (the constant flags of a traced one become reads).
    """
    return _prepare(model, quantizer, example_inputs, is_qat=True, fn="prepare_qat_pt2e")


def _derived_qparams(prepared: torch.jit.ScriptModule):
    """Runs the Python derive functions of the derived observers: {observer name: [scale, zero_point]}."""
    results = {}
    # Read on the C++ modules: the prepared module's Python wrappers of its observers are
    # made when first read (torch_pt2e/_wrap.py), and only derived observers need one.
    for name, cpp_module in cpp_children(prepared):
        if not cpp_module.hasattr("derive_qparams_fn"):
            continue
        module = getattr(prepared, name)
        fn = _annotations.resolve_derive_fn(module.derive_qparams_fn)
        if fn is None:
            continue  # C++ may have a function of that name; convert reports it if not
        sources = [getattr(module, f"source_{i}") for i in range(module.num_sources)]
        scale, zero_point = fn(sources)
        results[name] = [torch.as_tensor(scale), torch.as_tensor(zero_point)]
    return results


def convert_pt2e(model: torch.jit.ScriptModule, use_reference_representation: bool = False,
                 fold_quantize: bool = True, reference_numerics: str = "upstream") -> torch.jit.ScriptModule:
    """Replaces observers with quantized_decomposed quantize/dequantize pairs.

    fold_quantize stores quantized weights as int attributes (the fp32 originals
    are dropped); use_reference_representation rewrites int8 quantized patterns
    (linear, conv2d, add, add_relu, max_pool2d, quantize/dequantize) into
    integer arithmetic with torch.ops.torch_pt2e.out_dtype_* ops
    (docs/reference_representation.md). reference_numerics picks that
    representation's arithmetic: "upstream" (upstream's rewrite bit for bit:
    requantization truncates) or "qdq" (rounds as quantize_per_tensor does, so
    the model keeps the q/dq model's accuracy; an addition to torchao's API).
    Either result can be saved with torch.jit.save and loaded where the plugin
    is loaded.
    """
    _check_script_module(model, "convert_pt2e")
    converted = torch.ops.torch_pt2e.convert(model._c, _derived_qparams(model), use_reference_representation,
                                             fold_quantize, reference_numerics)
    return _wrap(converted)


def prepare_report(prepared: torch.jit.ScriptModule) -> dict:
    """What prepare_pt2e quantized and what stays in float.

    {"annotated": {op kind: count}, "left_in_float": [{"kind", "module", "source"}, ...],
     "in_control_flow": [...]}: operators no annotation covered, and operators
    inside control flow (if/loop bodies), which quantizers do not see.
    """
    _check_script_module(prepared, "prepare_report")
    return json.loads(torch.ops.torch_pt2e.prepare_report(prepared._c))
