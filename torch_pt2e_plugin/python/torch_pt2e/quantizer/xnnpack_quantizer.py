"""XNNPACKQuantizer and get_symmetric_quantization_config under upstream's
names, for TorchScript models:

    quantizer = XNNPACKQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True))
    prepared = prepare_pt2e(torch.jit.script(model.eval()), quantizer)

Annotation runs in C++ (torch_pt2e_plugin/quantizer/xnnpack_quantizer.h) with
ExecuTorch's semantics: configs by module name > module type > operator type
> global, the first config that annotates a node wins, patterns gated by
static / dynamic / QAT. docs/quantizer.md lists the differences from torch 2.6.
"""

import functools
import json
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Set

import torch
import torch.nn.functional as F

from . import _bridge
from .quantizer import Quantizer
from .xnnpack_quantizer_utils import (
    OperatorConfig,
    OperatorPatternType,
    QuantizationConfig,
    _convert_scalars_to_attrs,
    config_from_json,
    config_to_json,
    validate_config,
)

__all__ = ["XNNPACKQuantizer", "get_symmetric_quantization_config"]


@functools.lru_cache(maxsize=None)
def get_symmetric_quantization_config(
    is_per_channel: bool = False,
    is_qat: bool = False,
    is_dynamic: bool = False,
    act_qmin: int = -128,
    act_qmax: int = 127,
    weight_qmin: int = -127,
    weight_qmax: int = 127,
) -> QuantizationConfig:
    """Upstream's symmetric int8 config (built by the C++ get_symmetric_quantization_config).
    Equal arguments return the same object."""
    data = torch.ops.torch_pt2e.xnnpack_symmetric_quantization_config(
        is_per_channel, is_qat, is_dynamic, act_qmin, act_qmax, weight_qmin, weight_qmax)
    return config_from_json(json.loads(data))


def _supported_symmetric_quantized_operators() -> Dict[str, List[OperatorPatternType]]:
    return {
        "conv2d": [
            [torch.nn.Conv2d, torch.nn.ReLU],
            [torch.nn.Conv2d, F.relu],
            [F.conv2d, torch.nn.ReLU],
            [F.conv2d, F.relu],
        ],
        "linear": [[torch.nn.Linear], [F.linear]],
        "add": [[torch.add]],
        "adaptive_avg_pool2d": [[torch.nn.AdaptiveAvgPool2d], [F.adaptive_avg_pool2d]],
    }


def _operator_name(operator_type) -> str:
    """TorchScript spelling of an operator: "aten::conv2d" for a packet (every
    overload), "aten::conv2d.default" / "aten::add.Tensor" for one overload."""
    if isinstance(operator_type, str):
        return operator_type
    schema = getattr(operator_type, "_schema", None)
    if schema is not None:
        return f"{schema.name}.{getattr(operator_type, '_overloadname', None) or 'default'}"
    qualified = getattr(operator_type, "_qualified_op_name", None)
    if qualified is not None:
        return qualified
    raise TypeError(f"set_operator_type expects an operator (torch.ops.aten.conv2d.default, torch.ops.aten.add), "
                    f"got {operator_type!r}")


def _module_type_name(module_type) -> str:
    """TorchScript's name of a module class (what scripted and traced graphs record)."""
    if isinstance(module_type, str):
        return module_type
    if not isinstance(module_type, type):
        raise TypeError(f"set_module_type expects a module class, got {module_type!r}")
    return torch._jit_internal._qualified_name(module_type)


@dataclass
class QuantPattern:
    name: str
    is_dynamic: bool
    is_qat: bool


class XNNPACKQuantizer(Quantizer):
    """ExecuTorch's XNNPACKQuantizer on TorchScript graph views."""

    SUPPORTED_PATTERNS = [
        QuantPattern("conv_bn_relu", False, True),
        QuantPattern("conv_bn", False, True),
        QuantPattern("conv_transpose_bn_relu", False, True),
        QuantPattern("conv_transpose_bn", False, True),
        QuantPattern("linear_relu", False, False),
        QuantPattern("linear", True, False),
        QuantPattern("conv", True, False),
        QuantPattern("conv_transpose", True, False),
        QuantPattern("conv_relu", False, False),
        QuantPattern("conv_transpose_relu", False, False),
        QuantPattern("adaptive_avg_pool2d", False, False),
        QuantPattern("add_relu", False, False),
        QuantPattern("add", False, False),
        QuantPattern("mul_relu", False, False),
        QuantPattern("mul", False, False),
        QuantPattern("cat", False, False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.global_config: Optional[QuantizationConfig] = None
        self.operator_type_config: Dict[Any, Optional[QuantizationConfig]] = {}
        self.module_type_config: Dict[Any, Optional[QuantizationConfig]] = {}
        self.module_name_config: Dict[str, Optional[QuantizationConfig]] = {}
        self.filter_fn: Optional[Callable] = None

    @classmethod
    def get_supported_operators(cls) -> List[OperatorConfig]:
        configs = [
            get_symmetric_quantization_config(),
            get_symmetric_quantization_config(is_qat=True),
            get_symmetric_quantization_config(is_per_channel=True),
            get_symmetric_quantization_config(is_per_channel=True, is_qat=True),
        ]
        return [OperatorConfig(config, patterns) for config in configs
                for patterns in _supported_symmetric_quantized_operators().values()]

    @classmethod
    def get_supported_quantization_configs(cls) -> List[QuantizationConfig]:
        configs: Set[QuantizationConfig] = {config for config, _ in cls.get_supported_operators()}
        return list(configs)

    @classmethod
    def get_supported_operator_for_quantization_config(
            cls, quantization_config: Optional[QuantizationConfig]) -> List[OperatorPatternType]:
        operators: List[OperatorPatternType] = []
        for config, patterns in cls.get_supported_operators():
            if quantization_config is None:
                operators.extend(patterns)
            elif config == quantization_config:
                return patterns
        return operators

    def set_global(self, quantization_config: Optional[QuantizationConfig]) -> "XNNPACKQuantizer":
        validate_config(quantization_config)
        self.global_config = quantization_config
        return self

    def set_operator_type(self, operator_type, quantization_config: Optional[QuantizationConfig]
                          ) -> "XNNPACKQuantizer":
        """operator_type: an OpOverload (torch.ops.aten.conv2d.default) or OpOverloadPacket
        (torch.ops.aten.conv2d: every overload), or its TorchScript name."""
        validate_config(quantization_config)
        name = _operator_name(operator_type)
        # The C++ quantizer rejects operators no pattern annotates; ask it now.
        probe = {"global": None, "operator_type": [[name, None]], "module_type": [], "module_name": []}
        torch.ops.torch_pt2e.xnnpack_check_quantizer(json.dumps(probe))
        self.operator_type_config[operator_type] = quantization_config
        return self

    def set_module_type(self, module_type, quantization_config: Optional[QuantizationConfig]) -> "XNNPACKQuantizer":
        """Configs nodes inlined from a module of class `module_type` (or a submodule of one)."""
        validate_config(quantization_config)
        _module_type_name(module_type)
        self.module_type_config[module_type] = quantization_config
        return self

    def set_module_name(self, module_name: str, quantization_config: Optional[QuantizationConfig]
                        ) -> "XNNPACKQuantizer":
        """Configs nodes inlined from submodule `module_name` ("layer1.0.conv1")."""
        if quantization_config is None:
            raise ValueError(f"set_module_name({module_name!r}, None): quantization_config=None is not supported "
                             "(as upstream)")
        validate_config(quantization_config)
        self.module_name_config[module_name] = quantization_config
        return self

    def set_filter_function(self, filter_fn: Callable) -> "XNNPACKQuantizer":
        """Only nodes for which filter_fn(node) is True are quantized."""
        self.filter_fn = filter_fn
        return self

    def _origins(self) -> Dict[str, Any]:
        """Config specs by the names the C++ quantizer gives them (XNNPACKQuantizer::configs)."""
        origins = _bridge.config_origins("global", self.global_config)
        for kind, configs in (("operator_type", self.operator_type_config), ("module_type", self.module_type_config),
                              ("module_name", self.module_name_config)):
            for i, config in enumerate(configs.values()):
                origins.update(_bridge.config_origins(f"{kind}/{i}", config))
        return origins

    def to_json(self) -> Dict[str, Any]:
        """The C++ XNNPACKQuantizer::from_json form of this quantizer's configs."""
        return {
            "global": config_to_json(self.global_config),
            "operator_type": [[_operator_name(op), config_to_json(config)]
                              for op, config in self.operator_type_config.items()],
            "module_type": [[_module_type_name(tp), config_to_json(config)]
                            for tp, config in self.module_type_config.items()],
            "module_name": [[name, config_to_json(config)] for name, config in self.module_name_config.items()],
        }

    def transform_for_annotation(self, model):
        """Transforms scalar operands of add/mul into float32 buffers."""
        return _convert_scalars_to_attrs(model)

    def annotate(self, model):
        request = {"quantizer": self.to_json(), "allowed": _bridge.allowed_values(model, self.filter_fn)}
        _bridge.call("xnnpack_annotate", model, request, self._origins())
        return model

    def validate(self, model) -> None:
        pass
