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
from .graph_view import GraphModuleView
from .quantizer.quantizer import Quantizer

__all__ = ["convert_pt2e", "prepare_pt2e", "prepare_report", "register_derive_qparams_fn"]

register_derive_qparams_fn = _annotations.register_derive_qparams_fn


def _wrap(cpp_module) -> torch.jit.ScriptModule:
    return torch.jit._recursive.wrap_cpp_module(cpp_module)


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


def _prepare(model, quantizer: Quantizer, example_inputs, is_qat: bool, fn: str):
    _check_script_module(model, fn)
    if type(quantizer).prepare_obs_or_fq_callback is not Quantizer.prepare_obs_or_fq_callback:
        raise NotImplementedError(
            f"{type(quantizer).__name__} overrides prepare_obs_or_fq_callback, which cannot work here: observers "
            "are C++ modules created inside prepare_pt2e. Express the constraint with Shared/Fixed/Derived specs."
        )
    if not is_qat and model.training:
        raise RuntimeError("prepare_pt2e expects a module in eval mode (call model.eval() before scripting)")
    canonical = _wrap(torch.ops.torch_pt2e.canonicalize(model._c))
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


def _derived_qparams(prepared: torch.jit.ScriptModule):
    """Runs the Python derive functions of the derived observers: {observer name: [scale, zero_point]}."""
    results = {}
    for name, module in prepared.named_children():
        if not hasattr(module, "derive_qparams_fn"):
            continue
        fn = _annotations.resolve_derive_fn(module.derive_qparams_fn)
        if fn is None:
            continue  # C++ may have a function of that name; convert reports it if not
        sources = [getattr(module, f"source_{i}") for i in range(module.num_sources)]
        scale, zero_point = fn(sources)
        results[name] = [torch.as_tensor(scale), torch.as_tensor(zero_point)]
    return results


def convert_pt2e(model: torch.jit.ScriptModule, use_reference_representation: bool = False,
                 fold_quantize: bool = True) -> torch.jit.ScriptModule:
    """Replaces observers with quantized_decomposed quantize/dequantize pairs.

    fold_quantize stores quantized weights as int attributes (the fp32 originals
    are dropped); use_reference_representation rewrites quantized patterns into
    integer arithmetic.
    """
    _check_script_module(model, "convert_pt2e")
    converted = torch.ops.torch_pt2e.convert(model._c, _derived_qparams(model), use_reference_representation,
                                             fold_quantize)
    return _wrap(converted)


def prepare_report(prepared: torch.jit.ScriptModule) -> dict:
    """What prepare_pt2e quantized and what stays in float.

    {"annotated": {op kind: count}, "left_in_float": [{"kind", "module", "source"}, ...],
     "in_control_flow": [...]}: operators no annotation covered, and operators
    inside control flow (if/loop bodies), which quantizers do not see.
    """
    _check_script_module(prepared, "prepare_report")
    return json.loads(torch.ops.torch_pt2e.prepare_report(prepared._c))
