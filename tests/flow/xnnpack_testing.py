"""Helpers of the XNNPACK flow tests: which nodes of a converted module were
annotated (recovered from the prepared module's record), and upstream's
side of a small model when torch 2.6's flow is available."""

import collections
import copy
import json
import operator

import torch

from torch_pt2e.graph_view import GraphModuleView

STATE_ATTRIBUTE = "_torch_pt2e_prepare_state"


def annotated_kinds(prepared):
    """(kind, occurrence among nodes of that kind) of every annotated node of a prepared module."""
    state = json.loads(getattr(prepared, STATE_ATTRIBUTE))
    operators = [n for n in prepared.graph.nodes() if not n.kind().startswith("prim::")]
    seen = collections.Counter()
    occurrence = []
    for node in operators:
        occurrence.append((node.kind(), seen[node.kind()]))
        seen[node.kind()] += 1
    return {occurrence[record["ordinal"]] for record in state["annotated"]}


def annotated_view_nodes(prepared, converted):
    """The view nodes of `converted` that were annotated in `prepared` (matched by
    kind and occurrence; convert adds only quantized_decomposed operators)."""
    wanted = annotated_kinds(prepared)
    seen = collections.Counter()
    found = []
    for node in GraphModuleView(converted).graph.nodes:
        if node.op != "call_function" or node.ts_node is None or node.target is operator.getitem:
            continue
        kind = node.ts_node.kind()
        if kind.startswith("quantized_decomposed::"):
            continue
        if (kind, seen[kind]) in wanted:
            found.append(node)
        seen[kind] += 1
    return found


def upstream_quantize(model, example_inputs, quantizer, **convert_kwargs):
    """torch 2.6: export_for_training + torch.ao's prepare/convert with an upstream quantizer."""
    from torch.ao.quantization.quantize_pt2e import convert_pt2e, prepare_pt2e

    exported = torch.export.export_for_training(copy.deepcopy(model).eval(), example_inputs).module()
    prepared = prepare_pt2e(exported, quantizer)
    prepared(*example_inputs)
    return convert_pt2e(prepared, **convert_kwargs)


def has_upstream_xnnpack() -> bool:
    try:
        import torch.export  # noqa: F401
        from torch.ao.quantization.quantizer import xnnpack_quantizer  # noqa: F401
    except ImportError:
        return False
    return hasattr(torch.export, "export_for_training")


UPSTREAM_XNNPACK_SKIP = (
    "needs torch>=2.5 (torch.export.export_for_training and torch.ao's XNNPACKQuantizer); runs inside the trixie "
    "root with torch 2.6 (tools/trixie_root.sh run tools/trixie_tests.sh, part of tools/run_tests.sh)")
