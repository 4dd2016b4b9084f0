// CPU kernels of choose_qparams.tensor, choose_qparams_symmetric.tensor,
// choose_qparams_per_token, _choose_qparams_per_token_asymmetric_impl and
// choose_qparams_per_token_asymmetric: one vectorized, multithreaded pass
// for the min/max (per tensor or per token), then the scalar arithmetic of
// kernels/numerics.h.
#include <cmath>
#include <limits>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include "kernels/checks.h"
#include "kernels/cpu/cpu_kernel_utils.h"
#include "kernels/cpu/loops.h"
#include "kernels/numerics.h"

namespace torch_pt2e {
namespace kernels {
namespace cpu {
namespace {

namespace nm = ::torch_pt2e::numerics;

constexpr const char* kChooseOp = "quantized_decomposed::choose_qparams.tensor";
constexpr const char* kChooseSymmetricOp = "quantized_decomposed::choose_qparams_symmetric.tensor";
constexpr const char* kPerTokenOp = "quantized_decomposed::choose_qparams_per_token";
constexpr const char* kPerTokenAsymmetricOp = "quantized_decomposed::choose_qparams_per_token_asymmetric";

template <typename Fn>
nm::QParams for_input_dtype(at::ScalarType dtype, const Fn& fn) {
  switch (dtype) {
    case at::kHalf:
      return fn(nm::Float16Arith());
    case at::kBFloat16:
      return fn(nm::BFloat16Arith());
    default:
      return fn(nm::Float32Arith());
  }
}

std::tuple<at::Tensor, at::Tensor> choose_qparams(const char* op, const at::Tensor& input, int64_t quant_min,
                                                  int64_t quant_max, double eps, at::ScalarType dtype,
                                                  bool symmetric) {
  check_choose_qparams_args(op, input, quant_min, quant_max, eps, dtype);
  at::Tensor scale = at::empty({1}, input.options().dtype(at::kDouble));
  at::Tensor zero_point = at::empty({1}, input.options().dtype(at::kLong));
  if (input.numel() == 0) {
    // Nothing observed: determine_qparams' default (upstream's aminmax raises here).
    scale.fill_(1.0);
    zero_point.fill_(0);
    return {scale, zero_point};
  }
  const MinMax found = tensor_min_max(input);
  check_observed_range(op, "input", found.min, found.max, found.has_nan);
  const float eps_f32 = static_cast<float>(eps);
  const auto min_val = static_cast<float>(found.min), max_val = static_cast<float>(found.max);
  const nm::QParams qparams = for_input_dtype(input.scalar_type(), [&](auto arith) {
    using A = decltype(arith);
    return symmetric ? nm::choose_qparams_symmetric<A>(min_val, max_val, quant_min, quant_max, eps_f32,
                                                       dtype == at::kByte)
                     : nm::choose_qparams_affine<A>(min_val, max_val, quant_min, quant_max, eps_f32);
  });
  check_chosen_scale(op, qparams.scale, found.min, found.max, input.scalar_type());
  scale.fill_(qparams.scale);
  zero_point.fill_(qparams.zero_point);
  return {scale, zero_point};
}

std::tuple<at::Tensor, at::Tensor> choose_qparams_tensor(const at::Tensor& input, int64_t quant_min,
                                                         int64_t quant_max, double eps, at::ScalarType dtype) {
  return choose_qparams(kChooseOp, input, quant_min, quant_max, eps, dtype, /*symmetric=*/false);
}

std::tuple<at::Tensor, at::Tensor> choose_qparams_symmetric_tensor(const at::Tensor& input, int64_t quant_min,
                                                                   int64_t quant_max, double eps,
                                                                   at::ScalarType dtype) {
  return choose_qparams(kChooseSymmetricOp, input, quant_min, quant_max, eps, dtype, /*symmetric=*/true);
}

// Calls row_fn(row, const void* data, length) for every token on all threads.
template <typename RowFn>
void for_each_token(const at::Tensor& contiguous, const RowFn& row_fn) {
  const int64_t tokens = num_tokens(contiguous);
  const int64_t length = contiguous.dim() == 0 ? 1 : contiguous.size(-1);
  const auto* data = static_cast<const char*>(contiguous.data_ptr());
  const int64_t row_bytes = length * contiguous.element_size();
  const int64_t grain = std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(length, 1));
  at::parallel_for(0, tokens, grain, [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) row_fn(row, data + row * row_bytes, length);
  });
}

template <typename A, typename Storage>
void store_per_token_scales(const at::Tensor& src, const AbsMaxFn fn, Storage* scales) {
  using T = typename A::value_type;
  for_each_token(src, [&](int64_t row, const void* data, int64_t length) {
    const AbsMax found = fn(data, length);
    check_token_abs_max(kPerTokenOp, found.max, found.has_nan, row);
    scales[row] = Storage(nm::choose_scale_per_token_symmetric<A>(static_cast<T>(found.max)));
  });
}

std::tuple<at::Tensor, at::Tensor> choose_qparams_per_token(const at::Tensor& input, at::ScalarType dtype) {
  check_choose_qparams_per_token_input(kPerTokenOp, input);
  TORCH_CHECK(dtype == at::kChar, kPerTokenOp, ": dtype must be int8 (the only one upstream supports), got ", dtype);
  // Upstream's scales keep the input's dtype, except float16 -> float32.
  const at::ScalarType scale_dtype = input.scalar_type() == at::kHalf ? at::kFloat : input.scalar_type();
  const auto shape = per_token_qparams_shape(input);
  at::Tensor scales = at::empty(shape, input.options().dtype(scale_dtype));
  at::Tensor zero_points = at::zeros(shape, input.options().dtype(scale_dtype));
  if (scales.numel() == 0) return {scales, zero_points};
  const at::Tensor src = input.contiguous();
  const AbsMaxFn fn = loops().abs_max[static_cast<int>(*float_type(src.scalar_type()))];
  switch (scale_dtype) {
    case at::kDouble:
      store_per_token_scales<nm::Float64Arith>(src, fn, scales.data_ptr<double>());
      break;
    case at::kBFloat16:
      store_per_token_scales<nm::BFloat16Arith>(src, fn, scales.data_ptr<at::BFloat16>());
      break;
    default:
      store_per_token_scales<nm::Float32Arith>(src, fn, scales.data_ptr<float>());
      break;
  }
  return {scales, zero_points};
}

template <typename A>
void store_per_token_asymmetric(const at::Tensor& src, double* scales, int64_t* zero_points) {
  using T = typename A::value_type;
  const MinMaxFn fn = loops().min_max[static_cast<int>(*float_type(src.scalar_type()))];
  for_each_token(src, [&](int64_t row, const void* data, int64_t length) {
    const MinMax found = fn(data, length);
    if (found.has_nan || !std::isfinite(found.min) || !std::isfinite(found.max)) {
      check_observed_range(kPerTokenAsymmetricOp, "token " + std::to_string(row) + " of input", found.min, found.max,
                           found.has_nan);
    }
    const nm::QParams qparams =
        nm::choose_qparams_per_token_asymmetric<A>(static_cast<T>(found.min), static_cast<T>(found.max));
    scales[row] = qparams.scale;
    zero_points[row] = qparams.zero_point;
  });
}

std::tuple<at::Tensor, at::Tensor> choose_qparams_per_token_asymmetric(const at::Tensor& input,
                                                                       at::ScalarType dtype) {
  // dtype is not used: upstream always chooses for [-128, 127].
  check_choose_qparams_per_token_input(kPerTokenAsymmetricOp, input);
  const auto shape = per_token_qparams_shape(input);
  at::Tensor scales = at::empty(shape, input.options().dtype(at::kDouble));
  at::Tensor zero_points = at::empty(shape, input.options().dtype(at::kLong));
  if (scales.numel() == 0) return {scales, zero_points};
  const at::Tensor src = input.contiguous();
  double* scale_ptr = scales.data_ptr<double>();
  int64_t* zero_point_ptr = zero_points.data_ptr<int64_t>();
  switch (src.scalar_type()) {
    case at::kDouble:
      store_per_token_asymmetric<nm::Float64Arith>(src, scale_ptr, zero_point_ptr);
      break;
    case at::kHalf:
      store_per_token_asymmetric<nm::Float16Arith>(src, scale_ptr, zero_point_ptr);
      break;
    case at::kBFloat16:
      store_per_token_asymmetric<nm::BFloat16Arith>(src, scale_ptr, zero_point_ptr);
      break;
    default:
      store_per_token_asymmetric<nm::Float32Arith>(src, scale_ptr, zero_point_ptr);
      break;
  }
  return {scales, zero_points};
}

}  // namespace

TORCH_LIBRARY_IMPL(quantized_decomposed, CPU, m) {
  m.impl("choose_qparams.tensor", TORCH_FN(choose_qparams_tensor));
  m.impl("choose_qparams_symmetric.tensor", TORCH_FN(choose_qparams_symmetric_tensor));
  m.impl("choose_qparams_per_token", TORCH_FN(choose_qparams_per_token));
  m.impl("_choose_qparams_per_token_asymmetric_impl", TORCH_FN(choose_qparams_per_token_asymmetric));
  m.impl("choose_qparams_per_token_asymmetric", TORCH_FN(choose_qparams_per_token_asymmetric));
}

}  // namespace cpu
}  // namespace kernels
}  // namespace torch_pt2e
