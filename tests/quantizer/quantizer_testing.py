"""Helpers of the quantizer tests: the canonical graph view a quantizer's
annotate receives, and reading annotations off it."""

import json
import operator

import torch

from torch_pt2e.graph_view import GraphModuleView

ANNOTATION = "quantization_annotation"
CAPTURES = ["script", "trace"]


def capture(model, example_inputs, how):
    model = model.eval()
    if how == "script":
        return torch.jit.script(model)
    return torch.jit.trace(model, example_inputs)


def canonical_view(model, example_inputs, how="script", transform=None):
    """The view prepare_pt2e annotates: canonical form, optionally transformed
    by a quantizer's transform_for_annotation."""
    captured = capture(model, example_inputs, how)
    canonical = torch.jit._recursive.wrap_cpp_module(torch.ops.torch_pt2e.canonicalize(captured._c))
    if transform is not None:
        canonical = transform.transform_for_annotation(canonical)
    node_info = json.loads(torch.ops.torch_pt2e.node_info(canonical._c))
    return GraphModuleView(canonical, node_info)


def annotated_view(model, example_inputs, quantizer, how="script"):
    view = canonical_view(model, example_inputs, how, transform=quantizer)
    quantizer.annotate(view)
    return view


def ops(view, target):
    return [n for n in view.graph.nodes if n.op == "call_function" and n.target == target]


def op(view, target, index=0):
    found = ops(view, target)
    assert len(found) > index, f"no {target} #{index} in\n{view.graph.ts_graph}"
    return found[index]


def annotation(node):
    return node.meta.get(ANNOTATION)


def is_annotated(node):
    found = annotation(node)
    return found is not None and found._annotated


def attribute_node(node):
    """The get_attr view node an argument reads (weights, biases)."""
    assert node.op == "get_attr", f"{node} is a {node.op} node"
    return node


def real_nodes(view):
    return [n for n in view.graph.nodes if n.op == "call_function" and n.target is not operator.getitem]
