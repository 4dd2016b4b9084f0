#include "torch_pt2e_plugin/passes/reference_representation.h"

#include <c10/util/Exception.h>
#include <torch/csrc/jit/ir/irparser.h>
#include <torch/csrc/jit/ir/subgraph_matcher.h>
#include <torch/csrc/jit/passes/subgraph_rewrite.h>

#include "torch_pt2e_plugin/passes/graph_utils.h"

namespace torch_pt2e {
namespace passes {
namespace {

using torch::jit::Graph;
using torch::jit::Node;
using torch::jit::Value;

// Constants every replacement may use (dtypes are ScalarType numbers); unused
// ones die in dead-code elimination.
constexpr const char* kReplacementConstants = R"IR(
  %int8 : int = prim::Constant[value=1]()
  %int16 : int = prim::Constant[value=2]()
  %int32 : int = prim::Constant[value=3]()
  %float32 : int = prim::Constant[value=6]()
  %false : bool = prim::Constant[value=0]()
  %none : NoneType = prim::Constant()
  %one : int = prim::Constant[value=1]()
  %minus_one : int = prim::Constant[value=-1]()
  %int8_min : int = prim::Constant[value=-128]()
  %int8_max : int = prim::Constant[value=127]()
  %float64 : int = prim::Constant[value=7]()
  %one_f : float = prim::Constant[value=1.0]())IR";

std::string ir(const std::string& inputs, const std::string& body, bool replacement) {
  return "graph(" + inputs + "):" + (replacement ? kReplacementConstants : "") + body;
}

// Without a bias the accumulator is used as it is.
std::string without_bias(std::string replacement) {
  const std::string biased = "%acc_biased";
  for (size_t at = replacement.find(biased); at != std::string::npos; at = replacement.find(biased, at)) {
    replacement.replace(at, biased.size(), "%acc_i32");
  }
  return replacement;
}

// ReferenceNumerics::kQuantizeDequantize's quantize: quantize_per_tensor's
// arithmetic (multiply by the reciprocal scale, round half to even, add the
// zero point and clamp in float), from %inverse_scale, which `reciprocal`
// defines, to the int8 %output.
std::string qdq_quantize(const std::string& reciprocal, const std::string& input, const std::string& zp,
                         const std::string& qmin, const std::string& qmax, const std::string& output) {
  return reciprocal + "\n  %scaled : Tensor = aten::mul(%" + input + ", %inverse_scale)" +
         "\n  %rounded : Tensor = aten::round(%scaled)" +
         "\n  %shifted : Tensor = aten::add(%rounded, %" + zp + ", %one)" +
         "\n  %clamped : Tensor = aten::clamp(%shifted, %" + qmin + ", %" + qmax + ")" +
         "\n  %" + output + " : Tensor = aten::to(%clamped, %int8, %false, %false, %none)" +
         "\n  return (%" + output + ")";
}

// The reciprocal of a Python-float scale, in double, as upstream's 1.0 / scale;
// the multiply rounds it to float32, as a wrapped number.
std::string reciprocal_of_float(const std::string& scale) {
  return "\n  %inverse_scale : float = aten::div(%one_f, %" + scale + ")";
}

// A Tensor scale: upstream's .tensor overloads take scale.item(), a double
// that multiplies as a wrapped number (a one-element tensor would promote).
std::string reciprocal_of_tensor(const std::string& scale) {
  return "\n  %scale_f64 : Tensor = aten::to(%" + scale + ", %float64, %false, %false, %none)" +
         "\n  %inverse_scale_f64 : Tensor = aten::reciprocal(%scale_f64)" +
         "\n  %inverse_scale : Scalar = aten::item(%inverse_scale_f64)";
}

// ---- static linear / conv2d: dq(x), dq(w) -> op(bias) -> q ----

constexpr const char* kStaticInputs =
    "%x_i8, %x_scale, %x_zp, %x_qmin, %x_qmax, %x_dtype, %x_out_dtype, "
    "%w_i8, %w_scale, %w_zp, %w_qmin, %w_qmax, %w_dtype, %w_out_dtype, %bias, "
    "%out_scale, %out_zp, %out_qmin, %out_qmax, %out_dtype";

constexpr const char* kConvInputs = ", %stride, %padding, %dilation, %groups";

constexpr const char* kStaticDequantize = R"IR(
  %x : Tensor = quantized_decomposed::dequantize_per_tensor(%x_i8, %x_scale, %x_zp, %x_qmin, %x_qmax, %x_dtype, %x_out_dtype)
  %w : Tensor = quantized_decomposed::dequantize_per_tensor(%w_i8, %w_scale, %w_zp, %w_qmin, %w_qmax, %w_dtype, %w_out_dtype))IR";

constexpr const char* kStaticQuantize = R"IR(
  %out_i8 : Tensor = quantized_decomposed::quantize_per_tensor(%out_fp32, %out_scale, %out_zp, %out_qmin, %out_qmax, %out_dtype)
  return (%out_i8))IR";

constexpr const char* kLinearPattern = R"IR(
  %out_fp32 : Tensor = aten::linear(%x, %w, %bias))IR";

constexpr const char* kConv2dPattern = R"IR(
  %out_fp32 : Tensor = aten::conv2d(%x, %w, %bias, %stride, %padding, %dilation, %groups))IR";

// Operands clamped to their ranges, widened to int16, zero points subtracted.
constexpr const char* kCenteredOperands = R"IR(
  %x_clamped : Tensor = aten::clamp(%x_i8, %x_qmin, %x_qmax)
  %w_clamped : Tensor = aten::clamp(%w_i8, %w_qmin, %w_qmax)
  %x_i16 : Tensor = aten::to(%x_clamped, %int16, %false, %false, %none)
  %w_i16 : Tensor = aten::to(%w_clamped, %int16, %false, %false, %none)
  %x_centered : Tensor = aten::sub(%x_i16, %x_zp, %one)
  %w_centered : Tensor = aten::sub(%w_i16, %w_zp, %one))IR";

constexpr const char* kLinearAccumulate = R"IR(
  %acc_i32 : Tensor = torch_pt2e::out_dtype_linear(%x_centered, %w_centered, %none, %int32))IR";

constexpr const char* kConv2dAccumulate = R"IR(
  %acc_i32 : Tensor = torch_pt2e::out_dtype_conv2d(%x_centered, %w_centered, %none, %stride, %padding, %dilation, %groups, %int32))IR";

// Upstream multiplies the Python-float scales as wrapped numbers, i.e. in
// float32; a float32 0-dim tensor reproduces that.
constexpr const char* kBiasScale = R"IR(
  %x_scale_f32 : Tensor = aten::scalar_tensor(%x_scale, %float32, %none, %none, %none)
  %bias_scale : Tensor = aten::mul(%x_scale_f32, %w_scale))IR";

constexpr const char* kLinearBias = R"IR(
  %bias_i32 : Tensor = torch_pt2e::out_dtype_div(%bias, %bias_scale, %int32)
  %acc_biased : Tensor = aten::add(%acc_i32, %bias_i32, %one))IR";

constexpr const char* kConv2dBias = R"IR(
  %bias_i32 : Tensor = torch_pt2e::out_dtype_div(%bias, %bias_scale, %int32)
  %bias_i32_h : Tensor = aten::unsqueeze(%bias_i32, %minus_one)
  %bias_i32_hw : Tensor = aten::unsqueeze(%bias_i32_h, %minus_one)
  %acc_biased : Tensor = aten::add(%acc_i32, %bias_i32_hw, %one))IR";

// Requantization: float32 multiply, truncation toward zero, zero point, clamp.
constexpr const char* kRequantize = R"IR(
  %multiplier : Tensor = aten::div(%bias_scale, %out_scale)
  %acc_scaled : Tensor = torch_pt2e::out_dtype_mul(%acc_biased, %multiplier, %int32)
  %acc_out : Tensor = aten::add(%acc_scaled, %out_zp, %one)
  %out_clamped : Tensor = aten::clamp(%acc_out, %out_qmin, %out_qmax)
  %out_i8 : Tensor = aten::to(%out_clamped, %int8, %false, %false, %none)
  return (%out_i8))IR";

// kQuantizeDequantize: the accumulator dequantized with x_scale*w_scale, the
// float bias added, then quantized like quantize_per_tensor.
constexpr const char* kAccumulatorToFloat = R"IR(
  %acc_f32 : Tensor = aten::to(%acc_i32, %float32, %false, %false, %none))IR";

constexpr const char* kLinearFloatBias = R"IR(
  %out_fp32 : Tensor = aten::add(%acc_fp32, %bias, %one))IR";

constexpr const char* kConv2dFloatBias = R"IR(
  %bias_h : Tensor = aten::unsqueeze(%bias, %minus_one)
  %bias_hw : Tensor = aten::unsqueeze(%bias_h, %minus_one)
  %out_fp32 : Tensor = aten::add(%acc_fp32, %bias_hw, %one))IR";

std::string dequantized_accumulator(bool conv, bool has_bias) {
  const std::string acc_f32 = kAccumulatorToFloat;
  if (!has_bias) return acc_f32 + "\n  %out_fp32 : Tensor = aten::mul(%acc_f32, %bias_scale)";
  return acc_f32 + "\n  %acc_fp32 : Tensor = aten::mul(%acc_f32, %bias_scale)" +
         (conv ? kConv2dFloatBias : kLinearFloatBias);
}

std::vector<ValueRequirement> static_requirements(bool has_bias) {
  return {{"x_dtype", Requirement::kInt8},     {"w_dtype", Requirement::kInt8},
          {"out_dtype", Requirement::kInt8},   {"x_out_dtype", Requirement::kNone},
          {"w_out_dtype", Requirement::kNone}, {"x_scale", Requirement::kFloat},
          {"w_scale", Requirement::kFloat},    {"bias", has_bias ? Requirement::kTensor : Requirement::kNone}};
}

ReferenceRewrite static_rewrite(const std::string& name, bool conv, bool has_bias, ReferenceNumerics numerics) {
  const std::string inputs = std::string(kStaticInputs) + (conv ? kConvInputs : "");
  const std::string pattern = std::string(kStaticDequantize) + (conv ? kConv2dPattern : kLinearPattern) + kStaticQuantize;
  std::string replacement = std::string(kCenteredOperands) + (conv ? kConv2dAccumulate : kLinearAccumulate) + kBiasScale;
  auto requirements = static_requirements(has_bias);
  if (numerics == ReferenceNumerics::kUpstream) {
    replacement += std::string(!has_bias ? "" : (conv ? kConv2dBias : kLinearBias)) + kRequantize;
    if (!has_bias) replacement = without_bias(replacement);
  } else {
    replacement += dequantized_accumulator(conv, has_bias) +
                   qdq_quantize(reciprocal_of_float("out_scale"), "out_fp32", "out_zp", "out_qmin", "out_qmax", "out_i8");
    requirements.push_back({"out_scale", Requirement::kFloat});
  }
  if (conv) requirements.push_back({"padding", Requirement::kIntList});
  return {name, ir(inputs, pattern, false), ir(inputs, replacement, true), requirements};
}

// ---- dynamic linear: choose_qparams -> q -> dq, dq(w) -> linear ----

constexpr const char* kDynamicInputs =
    "%x_fp32, %x_qmin, %x_qmax, %x_eps, %x_dtype, %x_out_dtype, "
    "%w_i8, %w_scale, %w_zp, %w_qmin, %w_qmax, %w_dtype, %w_out_dtype, %bias";

constexpr const char* kDynamicPattern = R"IR(
  %x_scale : Tensor, %x_zp : Tensor = quantized_decomposed::choose_qparams(%x_fp32, %x_qmin, %x_qmax, %x_eps, %x_dtype)
  %x_i8 : Tensor = quantized_decomposed::quantize_per_tensor(%x_fp32, %x_scale, %x_zp, %x_qmin, %x_qmax, %x_dtype)
  %x : Tensor = quantized_decomposed::dequantize_per_tensor(%x_i8, %x_scale, %x_zp, %x_qmin, %x_qmax, %x_dtype, %x_out_dtype)
  %w : Tensor = quantized_decomposed::dequantize_per_tensor(%w_i8, %w_scale, %w_zp, %w_qmin, %w_qmax, %w_dtype, %w_out_dtype)
  %out_fp32 : Tensor = aten::linear(%x, %w, %bias)
  return (%out_fp32))IR";

// x quantized by division (as upstream), then as static linear; the result is
// acc * (x_scale * w_scale), with choose_qparams' float64 scale.
constexpr const char* kDynamicQuantizeInput = R"IR(
  %x_scale : Tensor, %x_zp : Tensor = quantized_decomposed::choose_qparams(%x_fp32, %x_qmin, %x_qmax, %x_eps, %x_dtype)
  %x_divided : Tensor = aten::div(%x_fp32, %x_scale)
  %x_rounded : Tensor = aten::round(%x_divided)
  %x_i32 : Tensor = aten::to(%x_rounded, %int32, %false, %false, %none)
  %x_shifted : Tensor = aten::add(%x_i32, %x_zp, %one)
  %x_clamped : Tensor = aten::clamp(%x_shifted, %x_qmin, %x_qmax)
  %x_i8 : Tensor = aten::to(%x_clamped, %int8, %false, %false, %none)
  %w_clamped : Tensor = aten::clamp(%w_i8, %w_qmin, %w_qmax)
  %x_i16 : Tensor = aten::to(%x_i8, %int16, %false, %false, %none)
  %w_i16 : Tensor = aten::to(%w_clamped, %int16, %false, %false, %none)
  %x_centered : Tensor = aten::sub(%x_i16, %x_zp, %one)
  %w_centered : Tensor = aten::sub(%w_i16, %w_zp, %one)
  %acc_i32 : Tensor = torch_pt2e::out_dtype_linear(%x_centered, %w_centered, %none, %int32)
  %bias_scale : Tensor = aten::mul(%x_scale, %w_scale))IR";

constexpr const char* kDynamicOutput = R"IR(
  %out : Tensor = aten::mul(%acc_biased, %bias_scale)
  return (%out))IR";

// kQuantizeDequantize: x quantized by the reciprocal, as quantize_per_tensor.tensor.
constexpr const char* kDynamicQdqQuantizeInput = R"IR(
  %x_scale : Tensor, %x_zp : Tensor = quantized_decomposed::choose_qparams(%x_fp32, %x_qmin, %x_qmax, %x_eps, %x_dtype)
  %x_scale_f64 : Tensor = aten::to(%x_scale, %float64, %false, %false, %none)
  %x_inverse_scale_f64 : Tensor = aten::reciprocal(%x_scale_f64)
  %x_inverse_scale : Scalar = aten::item(%x_inverse_scale_f64)
  %x_scaled : Tensor = aten::mul(%x_fp32, %x_inverse_scale)
  %x_rounded : Tensor = aten::round(%x_scaled)
  %x_shifted : Tensor = aten::add(%x_rounded, %x_zp, %one)
  %x_clamped : Tensor = aten::clamp(%x_shifted, %x_qmin, %x_qmax)
  %x_i8 : Tensor = aten::to(%x_clamped, %int8, %false, %false, %none))IR";

constexpr const char* kDynamicQdqAccumulate = R"IR(
  %w_clamped : Tensor = aten::clamp(%w_i8, %w_qmin, %w_qmax)
  %x_i16 : Tensor = aten::to(%x_i8, %int16, %false, %false, %none)
  %w_i16 : Tensor = aten::to(%w_clamped, %int16, %false, %false, %none)
  %x_centered : Tensor = aten::sub(%x_i16, %x_zp, %one)
  %w_centered : Tensor = aten::sub(%w_i16, %w_zp, %one)
  %acc_i32 : Tensor = torch_pt2e::out_dtype_linear(%x_centered, %w_centered, %none, %int32)
  %x_scale_f32 : Tensor = aten::to(%x_scale, %float32, %false, %false, %none)
  %bias_scale : Tensor = aten::mul(%x_scale_f32, %w_scale))IR";

ReferenceRewrite dynamic_rewrite(const std::string& name, bool has_bias, ReferenceNumerics numerics) {
  std::string replacement;
  if (numerics == ReferenceNumerics::kUpstream) {
    replacement = std::string(kDynamicQuantizeInput) + (has_bias ? kLinearBias : "") + kDynamicOutput;
    if (!has_bias) replacement = without_bias(replacement);
  } else {
    replacement = std::string(kDynamicQdqQuantizeInput) + kDynamicQdqAccumulate +
                  dequantized_accumulator(/*conv=*/false, has_bias) + "\n  return (%out_fp32)";
  }
  return {name,
          ir(kDynamicInputs, kDynamicPattern, false),
          ir(kDynamicInputs, replacement, true),
          {{"x_dtype", Requirement::kInt8},
           {"w_dtype", Requirement::kInt8},
           {"x_out_dtype", Requirement::kNone},
           {"w_out_dtype", Requirement::kNone},
           {"w_scale", Requirement::kFloat},
           {"bias", has_bias ? Requirement::kTensor : Requirement::kNone}}};
}

// ---- add, add_relu: dq(x), dq(y) -> add [-> relu] -> q ----

constexpr const char* kAddInputs =
    "%x_i8, %x_scale, %x_zp, %y_i8, %y_scale, %y_zp, %out_scale, %out_zp, %qmin, %qmax, %dtype, "
    "%x_out_dtype, %y_out_dtype, %alpha";

constexpr const char* kAddDequantize = R"IR(
  %x : Tensor = quantized_decomposed::dequantize_per_tensor(%x_i8, %x_scale, %x_zp, %qmin, %qmax, %dtype, %x_out_dtype)
  %y : Tensor = quantized_decomposed::dequantize_per_tensor(%y_i8, %y_scale, %y_zp, %qmin, %qmax, %dtype, %y_out_dtype)
  %sum : Tensor = aten::add(%x, %y, %alpha))IR";

constexpr const char* kAddReluPattern = R"IR(
  %out_fp32 : Tensor = aten::relu(%sum)
  %out_i8 : Tensor = quantized_decomposed::quantize_per_tensor(%out_fp32, %out_scale, %out_zp, %qmin, %qmax, %dtype)
  return (%out_i8))IR";

constexpr const char* kAddPattern = R"IR(
  %out_i8 : Tensor = quantized_decomposed::quantize_per_tensor(%sum, %out_scale, %out_zp, %qmin, %qmax, %dtype)
  return (%out_i8))IR";

// Both inputs widened to int32, zero points subtracted.
constexpr const char* kAddCentered = R"IR(
  %x_i32 : Tensor = aten::to(%x_i8, %int32, %false, %false, %none)
  %y_i32 : Tensor = aten::to(%y_i8, %int32, %false, %false, %none)
  %x_centered : Tensor = aten::sub(%x_i32, %x_zp, %one)
  %y_centered : Tensor = aten::sub(%y_i32, %y_zp, %one))IR";

constexpr const char* kAddMultipliers = R"IR(
  %x_scale_f32 : Tensor = aten::scalar_tensor(%x_scale, %float32, %none, %none, %none)
  %y_scale_f32 : Tensor = aten::scalar_tensor(%y_scale, %float32, %none, %none, %none)
  %x_multiplier : Tensor = aten::div(%x_scale_f32, %out_scale)
  %y_multiplier : Tensor = aten::div(%y_scale_f32, %out_scale))IR";

// Requantized by truncation; relu is a clamp at the output zero point.
constexpr const char* kAddReluReplacement = R"IR(
  %x_rescaled : Tensor = torch_pt2e::out_dtype_mul(%x_centered, %x_multiplier, %int32)
  %y_rescaled : Tensor = torch_pt2e::out_dtype_mul(%y_centered, %y_multiplier, %int32)
  %sum_i32 : Tensor = aten::add(%x_rescaled, %y_rescaled, %one)
  %out_i32 : Tensor = aten::add(%sum_i32, %out_zp, %one)
  %out_clamped : Tensor = aten::clamp(%out_i32, %out_zp, %qmax)
  %out_i8 : Tensor = aten::to(%out_clamped, %int8, %false, %false, %none)
  return (%out_i8))IR";

// Requantized by rounding (half to even); clamped to int8's range as upstream.
constexpr const char* kAddReplacement = R"IR(
  %x_product : Tensor = aten::mul(%x_multiplier, %x_centered)
  %y_product : Tensor = aten::mul(%y_multiplier, %y_centered)
  %x_rounded : Tensor = aten::round(%x_product)
  %y_rounded : Tensor = aten::round(%y_product)
  %x_rescaled : Tensor = aten::to(%x_rounded, %int32, %false, %false, %none)
  %y_rescaled : Tensor = aten::to(%y_rounded, %int32, %false, %false, %none)
  %sum_i32 : Tensor = aten::add(%x_rescaled, %y_rescaled, %one)
  %out_i32 : Tensor = aten::add(%sum_i32, %out_zp, %one)
  %out_clamped : Tensor = aten::clamp(%out_i32, %int8_min, %int8_max)
  %out_i8 : Tensor = aten::to(%out_clamped, %int8, %false, %false, %none)
  return (%out_i8))IR";

// kQuantizeDequantize: both inputs dequantized as dequantize_per_tensor does,
// added in float32 and quantized once; relu is the clamp at the zero point.
constexpr const char* kAddDequantized = R"IR(
  %x_exact_f32 : Tensor = aten::to(%x_centered, %float32, %false, %false, %none)
  %y_exact_f32 : Tensor = aten::to(%y_centered, %float32, %false, %false, %none)
  %x_fp32 : Tensor = aten::mul(%x_exact_f32, %x_scale)
  %y_fp32 : Tensor = aten::mul(%y_exact_f32, %y_scale)
  %sum_fp32 : Tensor = aten::add(%x_fp32, %y_fp32, %one))IR";

ReferenceRewrite add_rewrite(const std::string& name, bool relu, ReferenceNumerics numerics) {
  const std::string pattern = std::string(kAddDequantize) + (relu ? kAddReluPattern : kAddPattern);
  std::vector<ValueRequirement> requirements = {{"dtype", Requirement::kInt8},     {"x_out_dtype", Requirement::kNone},
                                                {"y_out_dtype", Requirement::kNone}, {"alpha", Requirement::kOne},
                                                {"x_scale", Requirement::kFloat},  {"y_scale", Requirement::kFloat}};
  std::string replacement;
  if (numerics == ReferenceNumerics::kUpstream) {
    replacement = std::string(kAddCentered) + kAddMultipliers + (relu ? kAddReluReplacement : kAddReplacement);
  } else {
    replacement = std::string(kAddCentered) + kAddDequantized +
                  qdq_quantize(reciprocal_of_float("out_scale"), "sum_fp32", "out_zp", relu ? "out_zp" : "qmin", "qmax",
                               "out_i8");
    requirements.push_back({"out_scale", Requirement::kFloat});
  }
  return {name, ir(kAddInputs, pattern, false), ir(kAddInputs, replacement, true), requirements};
}

// ---- max_pool2d: dq(x) -> max_pool2d -> q ----

constexpr const char* kMaxPoolInputs =
    "%x_i8, %x_scale, %x_zp, %x_qmin, %x_qmax, %x_dtype, %x_out_dtype, "
    "%kernel_size, %stride, %padding, %dilation, %ceil_mode, %out_scale, %out_zp, %out_qmin, %out_qmax, %out_dtype";

constexpr const char* kMaxPoolPattern = R"IR(
  %x : Tensor = quantized_decomposed::dequantize_per_tensor(%x_i8, %x_scale, %x_zp, %x_qmin, %x_qmax, %x_dtype, %x_out_dtype)
  %pooled : Tensor = aten::max_pool2d(%x, %kernel_size, %stride, %padding, %dilation, %ceil_mode)
  %out_i8 : Tensor = quantized_decomposed::quantize_per_tensor(%pooled, %out_scale, %out_zp, %out_qmin, %out_qmax, %out_dtype)
  return (%out_i8))IR";

// Upstream pools int32 (x - zp); torch 1.13 has no integer max_pool2d on CPU,
// so the same integers are pooled as float32, which holds them exactly and is
// what upstream's next multiply converts them to.
constexpr const char* kMaxPoolReplacement = R"IR(
  %x_clamped : Tensor = aten::clamp(%x_i8, %x_qmin, %x_qmax)
  %x_i32 : Tensor = aten::to(%x_clamped, %int32, %false, %false, %none)
  %x_centered : Tensor = aten::sub(%x_i32, %x_zp, %one)
  %x_exact_f32 : Tensor = aten::to(%x_centered, %float32, %false, %false, %none)
  %pooled : Tensor = aten::max_pool2d(%x_exact_f32, %kernel_size, %stride, %padding, %dilation, %ceil_mode)
  %x_scale_f32 : Tensor = aten::scalar_tensor(%x_scale, %float32, %none, %none, %none)
  %multiplier : Tensor = aten::div(%x_scale_f32, %out_scale)
  %scaled : Tensor = aten::mul(%pooled, %multiplier)
  %shifted : Tensor = aten::add(%scaled, %out_zp, %one)
  %out_clamped : Tensor = aten::clamp(%shifted, %out_qmin, %out_qmax)
  %out_i8 : Tensor = aten::to(%out_clamped, %int8, %false, %false, %none)
  return (%out_i8))IR";

// kQuantizeDequantize: the pooled integers dequantized and quantized as the
// q/dq ops do; max commutes with the positive scale, so this equals q/dq.
constexpr const char* kMaxPoolDequantized = R"IR(
  %x_clamped : Tensor = aten::clamp(%x_i8, %x_qmin, %x_qmax)
  %x_i32 : Tensor = aten::to(%x_clamped, %int32, %false, %false, %none)
  %x_centered : Tensor = aten::sub(%x_i32, %x_zp, %one)
  %x_exact_f32 : Tensor = aten::to(%x_centered, %float32, %false, %false, %none)
  %pooled : Tensor = aten::max_pool2d(%x_exact_f32, %kernel_size, %stride, %padding, %dilation, %ceil_mode)
  %pooled_fp32 : Tensor = aten::mul(%pooled, %x_scale))IR";

ReferenceRewrite max_pool2d_rewrite(ReferenceNumerics numerics) {
  std::vector<ValueRequirement> requirements = {{"x_dtype", Requirement::kInt8},
                                                {"out_dtype", Requirement::kInt8},
                                                {"x_out_dtype", Requirement::kNone},
                                                {"x_scale", Requirement::kFloat}};
  std::string replacement = kMaxPoolReplacement;
  if (numerics == ReferenceNumerics::kQuantizeDequantize) {
    replacement = std::string(kMaxPoolDequantized) + qdq_quantize(reciprocal_of_float("out_scale"), "pooled_fp32",
                                                                  "out_zp", "out_qmin", "out_qmax", "out_i8");
    requirements.push_back({"out_scale", Requirement::kFloat});
  }
  return {"max_pool2d", ir(kMaxPoolInputs, kMaxPoolPattern, false), ir(kMaxPoolInputs, replacement, true),
          requirements};
}

// ---- quantize / dequantize per tensor ----

constexpr const char* kPerTensorInputs = "%x, %scale, %zp, %qmin, %qmax, %dtype";

constexpr const char* kQuantizePerTensorPattern = R"IR(
  %out : Tensor = quantized_decomposed::quantize_per_tensor(%x, %scale, %zp, %qmin, %qmax, %dtype)
  return (%out))IR";

constexpr const char* kQuantizePerTensorReplacement = R"IR(
  %divided : Tensor = aten::div(%x, %scale)
  %rounded : Tensor = aten::round(%divided)
  %x_i32 : Tensor = aten::to(%rounded, %int32, %false, %false, %none)
  %shifted : Tensor = aten::add(%x_i32, %zp, %one)
  %clamped : Tensor = aten::clamp(%shifted, %qmin, %qmax)
  %out : Tensor = aten::to(%clamped, %int8, %false, %false, %none)
  return (%out))IR";

constexpr const char* kDequantizePerTensorPattern = R"IR(
  %out : Tensor = quantized_decomposed::dequantize_per_tensor(%x, %scale, %zp, %qmin, %qmax, %dtype, %out_dtype)
  return (%out))IR";

constexpr const char* kDequantizePerTensorReplacement = R"IR(
  %clamped : Tensor = aten::clamp(%x, %qmin, %qmax)
  %x_f32 : Tensor = aten::to(%clamped, %float32, %false, %false, %none)
  %centered : Tensor = aten::sub(%x_f32, %zp, %one)
  %scaled : Tensor = aten::mul(%centered, %scale)
  %out : Tensor = aten::to(%scaled, %float32, %false, %false, %none)
  return (%out))IR";

// ---- quantize / dequantize per channel: the channel axis moved last ----

constexpr const char* kPerChannelInputs = "%x, %scales, %zps, %axis, %qmin, %qmax, %dtype";

constexpr const char* kQuantizePerChannelPattern = R"IR(
  %out : Tensor = quantized_decomposed::quantize_per_channel(%x, %scales, %zps, %axis, %qmin, %qmax, %dtype)
  return (%out))IR";

constexpr const char* kQuantizePerChannelReplacement = R"IR(
  %x_last : Tensor = aten::transpose(%x, %axis, %minus_one)
  %divided : Tensor = aten::div(%x_last, %scales)
  %rounded : Tensor = aten::round(%divided)
  %x_i32 : Tensor = aten::to(%rounded, %int32, %false, %false, %none)
  %shifted : Tensor = aten::add(%x_i32, %zps, %one)
  %clamped : Tensor = aten::clamp(%shifted, %qmin, %qmax)
  %back : Tensor = aten::transpose(%clamped, %axis, %minus_one)
  %out : Tensor = aten::to(%back, %int8, %false, %false, %none)
  return (%out))IR";

// kQuantizeDequantize: times the reciprocal scales, as quantize_per_channel.
constexpr const char* kQuantizePerChannelQdqReplacement = R"IR(
  %x_last : Tensor = aten::transpose(%x, %axis, %minus_one)
  %inverse_scales : Tensor = aten::reciprocal(%scales)
  %scaled : Tensor = aten::mul(%x_last, %inverse_scales)
  %rounded : Tensor = aten::round(%scaled)
  %shifted : Tensor = aten::add(%rounded, %zps, %one)
  %clamped : Tensor = aten::clamp(%shifted, %qmin, %qmax)
  %back : Tensor = aten::transpose(%clamped, %axis, %minus_one)
  %out : Tensor = aten::to(%back, %int8, %false, %false, %none)
  return (%out))IR";

constexpr const char* kDequantizePerChannelPattern = R"IR(
  %out : Tensor = quantized_decomposed::dequantize_per_channel(%x, %scales, %zps, %axis, %qmin, %qmax, %dtype, %out_dtype)
  return (%out))IR";

constexpr const char* kDequantizePerChannelReplacement = R"IR(
  %clamped : Tensor = aten::clamp(%x, %qmin, %qmax)
  %x_last : Tensor = aten::transpose(%clamped, %axis, %minus_one)
  %x_i32 : Tensor = aten::to(%x_last, %int32, %false, %false, %none)
  %centered : Tensor = aten::sub(%x_i32, %zps, %one)
  %x_f32 : Tensor = aten::to(%centered, %float32, %false, %false, %none)
  %scaled : Tensor = aten::mul(%x_f32, %scales)
  %out : Tensor = aten::transpose(%scaled, %axis, %minus_one)
  return (%out))IR";

std::vector<ReferenceRewrite> quantize_per_tensor_rewrites(ReferenceNumerics numerics) {
  if (numerics == ReferenceNumerics::kUpstream) {
    return {{"quantize_per_tensor",
             ir(kPerTensorInputs, kQuantizePerTensorPattern, false),
             ir(kPerTensorInputs, kQuantizePerTensorReplacement, true),
             {{"dtype", Requirement::kInt8}}}};
  }
  return {{"quantize_per_tensor",
           ir(kPerTensorInputs, kQuantizePerTensorPattern, false),
           ir(kPerTensorInputs, qdq_quantize(reciprocal_of_float("scale"), "x", "zp", "qmin", "qmax", "out"), true),
           {{"dtype", Requirement::kInt8}, {"scale", Requirement::kFloat}}},
          {"quantize_per_tensor_tensor_scale",
           ir(kPerTensorInputs, kQuantizePerTensorPattern, false),
           ir(kPerTensorInputs, qdq_quantize(reciprocal_of_tensor("scale"), "x", "zp", "qmin", "qmax", "out"), true),
           {{"dtype", Requirement::kInt8}, {"scale", Requirement::kTensor}}}};
}

std::vector<ReferenceRewrite> make_rewrites(ReferenceNumerics numerics) {
  const std::string dequantize_inputs = std::string(kPerTensorInputs) + ", %out_dtype";
  const std::string dequantize_channel_inputs = std::string(kPerChannelInputs) + ", %out_dtype";
  const bool upstream = numerics == ReferenceNumerics::kUpstream;
  std::vector<ReferenceRewrite> rewrites = {
      dynamic_rewrite("dynamic_linear", /*has_bias=*/true, numerics),
      dynamic_rewrite("dynamic_linear_no_bias", /*has_bias=*/false, numerics),
      static_rewrite("linear", /*conv=*/false, /*has_bias=*/true, numerics),
      static_rewrite("linear_no_bias", /*conv=*/false, /*has_bias=*/false, numerics),
      static_rewrite("conv2d", /*conv=*/true, /*has_bias=*/true, numerics),
      static_rewrite("conv2d_no_bias", /*conv=*/true, /*has_bias=*/false, numerics),
      add_rewrite("add_relu", /*relu=*/true, numerics),
      add_rewrite("add", /*relu=*/false, numerics),
      max_pool2d_rewrite(numerics),
  };
  for (auto& rewrite : quantize_per_tensor_rewrites(numerics)) rewrites.push_back(std::move(rewrite));
  std::vector<ReferenceRewrite> rest = {
      {"dequantize_per_tensor",
       ir(dequantize_inputs, kDequantizePerTensorPattern, false),
       ir(dequantize_inputs, kDequantizePerTensorReplacement, true),
       {{"dtype", Requirement::kInt8}, {"out_dtype", Requirement::kNone}}},
      {"quantize_per_channel",
       ir(kPerChannelInputs, kQuantizePerChannelPattern, false),
       ir(kPerChannelInputs, upstream ? kQuantizePerChannelReplacement : kQuantizePerChannelQdqReplacement, true),
       {{"dtype", Requirement::kInt8}}},
      {"dequantize_per_channel",
       ir(dequantize_channel_inputs, kDequantizePerChannelPattern, false),
       ir(dequantize_channel_inputs, kDequantizePerChannelReplacement, true),
       {{"dtype", Requirement::kInt8}, {"out_dtype", Requirement::kNone}}},
  };
  for (auto& rewrite : rest) rewrites.push_back(std::move(rewrite));
  return rewrites;
}

bool meets(Value* value, Requirement requirement) {
  const c10::TypePtr& type = value->type();
  switch (requirement) {
    case Requirement::kInt8: {
      const auto constant = constant_value(value);
      return constant && constant->isInt() && constant->toInt() == static_cast<int64_t>(at::kChar);
    }
    case Requirement::kNone:
      return type->kind() == c10::NoneType::Kind;
    case Requirement::kTensor:
      return type->isSubtypeOf(*c10::TensorType::get());
    case Requirement::kFloat:
      return type->kind() == c10::FloatType::Kind;
    case Requirement::kOne: {
      const auto constant = constant_value(value);
      return constant && constant->isInt() && constant->toInt() == 1;
    }
    case Requirement::kIntList:
      return type->isSubtypeOf(*c10::ListType::ofInts());
  }
  return false;
}

// The kind of the pattern's last node: each replacement removes one.
c10::Symbol anchor_kind(const std::string& pattern) {
  Graph graph;
  std::unordered_map<std::string, Value*> values;
  torch::jit::parseIR(pattern, &graph, values);
  return graph.return_node()->input(0)->node()->kind();
}

int64_t count_kind(torch::jit::Block* block, c10::Symbol kind) {
  int64_t count = 0;
  for (Node* node : block->nodes()) {
    if (node->kind() == kind) ++count;
    for (torch::jit::Block* inner : node->blocks()) count += count_kind(inner, kind);
  }
  return count;
}

}  // namespace

ReferenceNumerics parse_reference_numerics(const std::string& name) {
  if (name == "upstream") return ReferenceNumerics::kUpstream;
  if (name == "qdq") return ReferenceNumerics::kQuantizeDequantize;
  TORCH_CHECK(false, "reference_numerics must be 'upstream' (upstream's rewrite, truncating requantization) or 'qdq' ",
              "(the quantize/dequantize ops' rounding), got '", name, "'");
}

const std::vector<ReferenceRewrite>& reference_rewrites(ReferenceNumerics numerics) {
  static const std::vector<ReferenceRewrite> upstream = make_rewrites(ReferenceNumerics::kUpstream);
  static const std::vector<ReferenceRewrite> quantize_dequantize = make_rewrites(ReferenceNumerics::kQuantizeDequantize);
  return numerics == ReferenceNumerics::kUpstream ? upstream : quantize_dequantize;
}

int64_t apply_reference_rewrite(std::shared_ptr<Graph>& graph, const ReferenceRewrite& rewrite) {
  const c10::Symbol anchor = anchor_kind(rewrite.pattern);
  const int64_t before = count_kind(graph->block(), anchor);
  torch::jit::SubgraphRewriter rewriter;
  rewriter.RegisterRewritePattern(rewrite.pattern, rewrite.replacement);
  const auto filter = [&rewrite](const torch::jit::Match& match,
                                 const std::unordered_map<std::string, Value*>& pattern_values) {
    for (const auto& required : rewrite.requirements) {
      const auto pattern_value = pattern_values.find(required.value);
      TORCH_INTERNAL_ASSERT(pattern_value != pattern_values.end(), "reference rewrite '", rewrite.name,
                            "' requires '", required.value, "', which its pattern does not have");
      if (!meets(match.values_map.at(pattern_value->second), required.requirement)) return false;
    }
    return true;
  };
  rewriter.runOnGraph(graph, filter);
  return before - count_kind(graph->block(), anchor);
}

int64_t reference_representation(std::shared_ptr<Graph>& graph, ReferenceNumerics numerics) {
  // Patterns share one input among several uses (upstream's one quant_min for
  // x, y and out); that needs equal constants to be one value.
  pool_constants(graph);
  int64_t rewritten = 0;
  for (const auto& rewrite : reference_rewrites(numerics)) rewritten += apply_reference_rewrite(graph, rewrite);
  eliminate_dead_code(graph);
  return rewritten;
}

}  // namespace passes
}  // namespace torch_pt2e
