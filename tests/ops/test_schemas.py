"""The plugin's quantized_decomposed schemas (torch_pt2e::quantized_decomposed_schemas)
against the running torch's: byte for byte with upstream's on torch 2.x, and
the ones registered in the process on every torch."""

import pytest
import torch

from conftest import requires_upstream, upstream_decomposed

# Every op and overload of torch 2.6's torch/ao/quantization/fx/_decomposed.py.
UPSTREAM_OPS = {
    "quantize_per_tensor", "quantize_per_tensor.tensor", "quantize_per_tensor.tensor2",
    "dequantize_per_tensor", "dequantize_per_tensor.tensor", "dequantize_per_tensor.tensor2",
    "choose_qparams.tensor", "choose_qparams_symmetric.tensor",
    "quantize_per_channel", "dequantize_per_channel",
    "choose_qparams_per_token", "_choose_qparams_per_token_asymmetric_impl", "choose_qparams_per_token_asymmetric",
    "quantize_per_token", "dequantize_per_token",
    "quantize_per_channel_group", "dequantize_per_channel_group",
    "fake_quant_per_channel", "convert_element_type.no_fuse",
}


def plugin_schemas():
    return list(torch.ops.torch_pt2e.quantized_decomposed_schemas())


def op_name(schema):
    return schema.split("(")[0]


def registered_schema(name):
    """str(schema) of quantized_decomposed::<name> as the dispatcher holds it."""
    op, _, overload = name.partition(".")
    packet = getattr(torch.ops.quantized_decomposed, op)
    return str(getattr(packet, overload or "default")._schema)


def test_plugin_covers_every_upstream_op_once():
    names = [op_name(s) for s in plugin_schemas()]
    assert len(names) == len(set(names)), "an op is listed twice"
    assert set(names) == UPSTREAM_OPS


def test_registered_schemas_are_the_plugins():
    # On torch 1.x the plugin defined them; on torch 2.x upstream did, and they must agree.
    for schema in plugin_schemas():
        assert registered_schema(op_name(schema)) == "quantized_decomposed::" + schema


def test_schemas_parse_back_to_themselves():
    for schema in plugin_schemas():
        assert str(torch._C.parse_schema("quantized_decomposed::" + schema)) == "quantized_decomposed::" + schema


@requires_upstream
def test_upstream_defines_exactly_these_ops():
    defined = upstream_decomposed().quantized_decomposed_lib._op_defs
    assert {name.split("::", 1)[1] for name in defined} == UPSTREAM_OPS


@requires_upstream
def test_schemas_match_upstream_byte_for_byte():
    up_names = upstream_decomposed().quantized_decomposed_lib._op_defs
    for schema in plugin_schemas():
        qualified = "quantized_decomposed::" + op_name(schema)
        assert qualified in up_names
        assert registered_schema(op_name(schema)) == "quantized_decomposed::" + schema, schema


def test_definer_is_reported():
    import torch_pt2e

    definer = torch_pt2e.build_info()["quantized_decomposed_definer"]
    assert definer == ("python" if upstream_decomposed() is not None else "plugin")
