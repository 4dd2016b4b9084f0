#include "kernels/cpu/cpu_kernel_utils.h"

#include <algorithm>
#include <utility>
#include <cmath>
#include <limits>

#include <ATen/ATen.h>
#include <c10/util/TypeCast.h>
#include <c10/util/Exception.h>
#include <torch/version.h>

#include "kernels/checks.h"
#include "kernels/host_values.h"

namespace torch_pt2e {
namespace kernels {
namespace cpu {

c10::optional<FloatType> float_type(at::ScalarType dtype) {
  switch (dtype) {
    case at::kFloat:
      return FloatType::kFloat;
    case at::kHalf:
      return FloatType::kHalf;
    case at::kBFloat16:
      return FloatType::kBFloat16;
    case at::kDouble:
      return FloatType::kDouble;
    default:
      return c10::nullopt;
  }
}

c10::optional<QuantType> quant_type(at::ScalarType dtype) {
  switch (dtype) {
    case at::kByte:
      return QuantType::kUInt8;
    case at::kChar:
      return QuantType::kInt8;
    case at::kShort:
      return QuantType::kInt16;
    case at::kInt:
      return QuantType::kInt32;
#if (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 3) || TORCH_VERSION_MAJOR > 2
    case at::ScalarType::UInt16:
      return QuantType::kUInt16;
#endif
    default:
      return c10::nullopt;
  }
}

c10::optional<ComputeType> compute_type(at::ScalarType dtype) {
  switch (dtype) {
    case at::kFloat:
      return ComputeType::kFloat;
    case at::kDouble:
      return ComputeType::kDouble;
    case at::kBFloat16:
      return ComputeType::kBFloat16;
    case at::kHalf:
      return ComputeType::kHalf;
    default:
      return c10::nullopt;
  }
}

namespace {
// Runs shorter than this are expanded into per-element parameters.
constexpr int64_t kMinRun = 64;
// Largest expanded period, and the length periods are repeated up to.
constexpr int64_t kMaxPeriod = 1 << 16;
constexpr int64_t kMinPeriod = 1024;
}  // namespace

ParamPlan plan_params(int64_t entries, int64_t inner) {
  if (inner >= kMinRun || entries * inner > kMaxPeriod) return {{entries, inner}, 1, 1};
  const int64_t period = entries * inner;
  const int64_t tile = period >= kMinPeriod ? 1 : (kMinPeriod + period - 1) / period;
  return {{period * tile, 1}, inner, tile};
}

namespace {

// per_entry (`entries` values, already in the loop's dtype) laid out by
// `plan`, contiguous.
at::Tensor arrange_params(const at::Tensor& per_entry, const ParamPlan& plan) {
  at::Tensor out = per_entry.reshape({-1});
  if (plan.repeat_each > 1) out = out.repeat_interleave(plan.repeat_each);
  if (plan.tile > 1) out = out.repeat({plan.tile});
  return out.contiguous();
}

// `1.0 / v` in v's own dtype, as at::reciprocal computes it (float16 and
// bfloat16 in float, rounded: reciprocal_as_loop_values).
inline float own_reciprocal(float v) { return 1.0f / v; }
inline double own_reciprocal(double v) { return 1.0 / v; }
inline c10::Half own_reciprocal(c10::Half v) { return c10::Half(1.0f / static_cast<float>(v)); }
inline c10::BFloat16 own_reciprocal(c10::BFloat16 v) { return c10::BFloat16(1.0f / static_cast<float>(v)); }
template <typename Integer>
inline float own_reciprocal(Integer v) {  // never reached: reciprocals of integers take the ATen path
  return 1.0f / static_cast<float>(v);
}

}  // namespace

template <typename Storage, typename Loop>
bool ParamArray::fill_on_host(const LoopParam& param, int64_t entries, const ParamPlan& plan,
                              std::vector<Storage>& buffer) {
  const at::Tensor& values = param.values;
  if (values.defined()) {
    // Reciprocals of integer values (never scales) are left to ATen.
    if (!host_readable(values) || (values.numel() != entries && values.numel() != 1) ||
        (param.reciprocal && !at::isFloatingType(values.scalar_type()))) {
      return false;
    }
  }
  // The loop value of each entry: .to(dtype) is c10::convert, as in ATen's copy.
  std::vector<Storage> per_entry(static_cast<size_t>(entries), Storage(0));
  if (values.defined()) {
    visit_host_values(values, [&](int64_t i, auto v) {
      per_entry[i] = param.reciprocal ? static_cast<Storage>(c10::convert<Loop>(own_reciprocal(v)))
                                      : static_cast<Storage>(c10::convert<Loop>(v));
    });
    if (values.numel() == 1) std::fill(per_entry.begin(), per_entry.end(), per_entry[0]);
  }
  if (plan.repeat_each == 1 && plan.tile == 1) {
    buffer = std::move(per_entry);
  } else {
    // arrange_params' repeat_interleave(repeat_each), then repeat(tile).
    const auto period = static_cast<size_t>(entries * plan.repeat_each);
    buffer.resize(period * static_cast<size_t>(plan.tile));
    auto out = buffer.begin();
    for (const Storage& value : per_entry) out = std::fill_n(out, plan.repeat_each, value);
    for (; out != buffer.end(); out += period) std::copy_n(buffer.begin(), period, out);
  }
  data_ = buffer.data();
  return true;
}

ParamArray::ParamArray(const LoopParam& param, int64_t entries, const ParamPlan& plan) {
  bool on_host = false;
  switch (param.dtype) {
    case at::kFloat:
      on_host = fill_on_host<float, float>(param, entries, plan, floats_);
      break;
    case at::kHalf:
      on_host = fill_on_host<float, c10::Half>(param, entries, plan, floats_);
      break;
    case at::kBFloat16:
      on_host = fill_on_host<float, c10::BFloat16>(param, entries, plan, floats_);
      break;
    case at::kDouble:
      on_host = fill_on_host<double, double>(param, entries, plan, doubles_);
      break;
    case at::kInt:
      on_host = fill_on_host<int32_t, int32_t>(param, entries, plan, ints_);
      break;
    default:
      break;
  }
  if (on_host) return;
  at::Tensor per_entry;
  if (!param.values.defined()) {
    per_entry = at::zeros({entries}, at::TensorOptions().dtype(param.dtype));
  } else {
    per_entry = param.reciprocal ? reciprocal_as_loop_values(param.values, param.dtype)
                                 : as_loop_values(param.values, param.dtype);
    per_entry = per_entry.reshape({-1});
    if (per_entry.numel() != entries) per_entry = per_entry.expand({entries});
  }
  tensor_ = arrange_params(per_entry, plan);
  data_ = tensor_.data_ptr();
}

namespace {
MinMax combine(const MinMax& a, const MinMax& b) {
  return {b.min < a.min ? b.min : a.min, b.max > a.max ? b.max : a.max, a.has_nan || b.has_nan};
}
}  // namespace

MinMax tensor_min_max(const at::Tensor& input) {
  const at::Tensor src = dense(input);
  const auto type = float_type(src.scalar_type());
  TORCH_INTERNAL_ASSERT(type.has_value(), "tensor_min_max of ", src.scalar_type());
  const MinMaxFn fn = loops().min_max[static_cast<int>(*type)];
  const auto* data = static_cast<const char*>(src.data_ptr());
  const int64_t element_size = src.element_size();
  const double inf = std::numeric_limits<double>::infinity();
  return at::parallel_reduce(
      0, src.numel(), kParallelGrain, MinMax{inf, -inf, false},
      [&](int64_t begin, int64_t end, MinMax partial) {
        return combine(partial, fn(data + begin * element_size, end - begin));
      },
      combine);
}

void quantize_channels(const at::Tensor& src, const at::Tensor& out, ComputeType compute,
                       const LoopParam& inv_scale, const LoopParam& zero_point, int64_t entries, int64_t inner,
                       RoundingOrder order, int64_t quant_min, int64_t quant_max) {
  if (src.numel() == 0) return;
  const auto in_type = float_type(src.scalar_type());
  const auto out_type = quant_type(out.scalar_type());
  TORCH_INTERNAL_ASSERT(in_type && out_type && zero_point.dtype == inv_scale.dtype &&
                        compute_type(inv_scale.dtype) == compute);
  const QuantizeChannelsFn fn = loops().quantize_channels[static_cast<int>(order)][static_cast<int>(compute)]
                                                         [static_cast<int>(*in_type)][static_cast<int>(*out_type)];
  TORCH_INTERNAL_ASSERT(fn != nullptr, "no quantize loop for ", src.scalar_type(), " input, compute type ",
                        static_cast<int>(compute));
  const ParamPlan plan = plan_params(entries, inner);
  const ParamArray inv(inv_scale, entries, plan);
  const ParamArray zp(zero_point, entries, plan);
  ChannelQuantParams params;
  params.inv_scale = inv.data();
  params.zero_point = zp.data();
  params.layout = plan.layout;
  params.quant_min = static_cast<double>(quant_min);
  params.quant_max = static_cast<double>(quant_max);
  params.quant_min_int = quant_min;
  params.quant_max_int = quant_max;
  const void* in_ptr = src.data_ptr();
  void* out_ptr = out.data_ptr();
  parallel_over(src.numel(), [&](int64_t begin, int64_t end) { fn(in_ptr, out_ptr, begin, end, params); });
}

void dequantize_channels(const at::Tensor& src, const at::Tensor& out, ComputeType compute, const LoopParam& scale,
                         DifferenceType difference, const LoopParam& zero_point, int64_t entries, int64_t inner) {
  if (src.numel() == 0) return;
  const auto in_type = quant_type(src.scalar_type());
  const auto out_type = float_type(out.scalar_type());
  TORCH_INTERNAL_ASSERT(in_type && out_type && compute_type(scale.dtype) == compute &&
                        (difference == DifferenceType::kInteger) == (zero_point.dtype == at::kInt));
  const DequantizeChannelsFn fn = loops().dequantize_channels[static_cast<int>(difference)][static_cast<int>(compute)]
                                                             [static_cast<int>(*in_type)][static_cast<int>(*out_type)];
  TORCH_INTERNAL_ASSERT(fn != nullptr, "no dequantize loop for ", src.scalar_type(), ", difference ",
                        static_cast<int>(difference), ", compute ", static_cast<int>(compute));
  const ParamPlan plan = plan_params(entries, inner);
  const ParamArray s(scale, entries, plan);
  const ParamArray zp(zero_point, entries, plan);
  ChannelDequantParams params;
  params.scale = s.data();
  params.zero_point = zp.data();
  params.layout = plan.layout;
  const void* in_ptr = src.data_ptr();
  void* out_ptr = out.data_ptr();
  parallel_over(src.numel(), [&](int64_t begin, int64_t end) { fn(in_ptr, out_ptr, begin, end, params); });
}

bool has_quantize_loop(RoundingOrder order, at::ScalarType compute, at::ScalarType input, at::ScalarType dtype) {
  const auto compute_kind = compute_type(compute);
  const auto in_type = float_type(input);
  const auto out_type = quant_type(dtype);
  if (!compute_kind || !in_type || !out_type) return false;
  return loops().quantize_channels[static_cast<int>(order)][static_cast<int>(*compute_kind)]
                                  [static_cast<int>(*in_type)][static_cast<int>(*out_type)] != nullptr;
}

bool has_dequantize_loop(c10::optional<DifferenceType> difference, at::ScalarType compute, at::ScalarType input,
                         at::ScalarType out_dtype) {
  const auto compute_kind = compute_type(compute);
  const auto in_type = quant_type(input);
  const auto out_type = float_type(out_dtype);
  if (!difference || !compute_kind || !in_type || !out_type) return false;
  return loops().dequantize_channels[static_cast<int>(*difference)][static_cast<int>(*compute_kind)]
                                    [static_cast<int>(*in_type)][static_cast<int>(*out_type)] != nullptr;
}

at::ScalarType zero_point_loop_dtype(DifferenceType difference) {
  switch (difference) {
    case DifferenceType::kInteger:
      return at::kInt;
    case DifferenceType::kDouble:
      return at::kDouble;
    default:
      return at::kFloat;
  }
}

c10::optional<DifferenceType> difference_type(at::ScalarType input, at::ScalarType difference) {
  if (difference == at::kFloat) return DifferenceType::kFloat;
  if (difference == at::kDouble) return DifferenceType::kDouble;
  if (difference == at::kBFloat16) return DifferenceType::kBFloat16;
  if (difference == at::kHalf) return DifferenceType::kHalf;
  if (integer_difference_is_exact(input, difference)) return DifferenceType::kInteger;
  return c10::nullopt;
}

}  // namespace cpu
}  // namespace kernels
}  // namespace torch_pt2e
