"""EmbeddingQuantizer under upstream's name: uint8 weight-only quantization of
aten::embedding tables with one scale and float zero point per row (the C++
EmbeddingQuantizer, torch_pt2e_plugin/quantizer/embedding_quantizer.h)."""

from typing import List

import torch.nn.functional as F
import torch

from . import _bridge
from .quantizer import Quantizer
from .xnnpack_quantizer_utils import OperatorConfig, OperatorPatternType, QuantizationConfig

__all__ = ["EmbeddingQuantizer", "get_embedding_operators_config"]


def get_embedding_operators_config() -> OperatorConfig:
    config = QuantizationConfig(None, None, _bridge.embedding_weight_spec(), None)
    operators: List[OperatorPatternType] = [[torch.nn.Embedding], [F.embedding]]
    return OperatorConfig(config=config, operators=operators)


class EmbeddingQuantizer(Quantizer):
    @classmethod
    def get_supported_operators(cls) -> List[OperatorConfig]:
        return [get_embedding_operators_config()]

    @classmethod
    def get_supported_quantization_configs(cls) -> List[QuantizationConfig]:
        return [get_embedding_operators_config().config]

    def annotate(self, model):
        _bridge.call("embedding_annotate", model, {}, {"embedding/weight": _bridge.embedding_weight_spec()})
        return model

    def validate(self, model) -> None:
        pass
