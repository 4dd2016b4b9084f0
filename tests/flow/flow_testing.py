"""Helpers of the flow tests: capture, quantize, and count nodes the way
upstream's checkGraphModuleNodes does (by operator overload, in graph order)."""

import collections

import torch

from torch_pt2e.graph_view import GraphModuleView
from torch_pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

QD = torch.ops.quantized_decomposed


def capture(model, example_inputs, how):
    model = model.eval()
    if how == "script":
        return torch.jit.script(model)
    return torch.jit.trace(model, example_inputs)


def call_targets(module):
    """Targets of the call_function nodes of the module's forward, in order."""
    view = GraphModuleView(module)
    return [n.target for n in view.graph.nodes if n.op == "call_function"]


def check_nodes(module, expected_occurrence=None, expected_list=None):
    targets = call_targets(module)
    counts = collections.Counter(targets)
    for target, count in (expected_occurrence or {}).items():
        assert counts.get(target, 0) == count, (
            f"{target}: expected {count}, found {counts.get(target, 0)}\n{module.graph}")
    if expected_list:
        position = 0
        for target in targets:
            if position < len(expected_list) and target == expected_list[position]:
                position += 1
        assert position == len(expected_list), (
            f"node order {expected_list} not found (matched {position})\n{module.graph}")


def quantize(model, example_inputs, quantizer, how="script"):
    """capture -> prepare -> calibrate -> convert; returns (prepared, converted)."""
    captured = capture(model, example_inputs, how)
    prepared = prepare_pt2e(captured, quantizer)
    prepared(*example_inputs)
    converted = convert_pt2e(prepared)
    converted(*example_inputs)
    return prepared, converted


def observer_name(view_node):
    """The observer a call_module view node calls: one submodule per instance,
    so equal names mean the same observer instance."""
    assert view_node.op == "call_module", f"expected an observer call, got {view_node.format_node()}"
    return view_node.target
