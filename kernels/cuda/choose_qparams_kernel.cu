// CUDA kernels of choose_qparams.tensor, choose_qparams_symmetric.tensor,
// choose_qparams_per_token, _choose_qparams_per_token_asymmetric_impl and
// choose_qparams_per_token_asymmetric: block reductions of the min/max (per
// tensor or per token), then the scalar arithmetic of kernels/numerics.h on
// the device, as the CPU kernels do it on the host. The outputs stay on the
// GPU; the host waits for the reduction once, to report non-finite inputs
// with the CPU's messages.
#include <algorithm>
#include <climits>
#include <cmath>
#include <limits>
#include <string>

#include <ATen/ATen.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include "kernels/checks.h"
#include "kernels/cuda/cuda_kernel_utils.h"
#include "kernels/cuda/loops.cuh"
#include "kernels/kernel_utils.h"
#include "kernels/numerics.h"

namespace torch_pt2e {
namespace kernels {
namespace cuda {
namespace {

constexpr const char* kChooseOp = "quantized_decomposed::choose_qparams.tensor";
constexpr const char* kChooseSymmetricOp = "quantized_decomposed::choose_qparams_symmetric.tensor";
constexpr const char* kPerTokenOp = "quantized_decomposed::choose_qparams_per_token";
constexpr const char* kPerTokenAsymmetricOp = "quantized_decomposed::choose_qparams_per_token_asymmetric";

// ---- reduction of rows --------------------------------------------------------------

// Extremes of each (row, chunk) slice of a [rows, length] contiguous tensor:
// min/max of the non-NaN values, or (kAbs) the max of |x|.
template <typename F, typename Acc, bool kAbs>
__global__ void __launch_bounds__(kThreads)
    row_extremes_kernel(const typename Floating<F>::raw* __restrict__ in, int64_t rows, int64_t length,
                        int64_t chunks, Extremes<Acc>* __restrict__ partials) {
  const int64_t items = rows * chunks;
  const int64_t chunk_length = (length + chunks - 1) / chunks;
  for (int64_t item = blockIdx.x; item < items; item += gridDim.x) {
    const int64_t row = item / chunks, chunk = item - row * chunks;
    const int64_t begin = chunk * chunk_length;
    const int64_t end = begin + chunk_length < length ? begin + chunk_length : length;
    const auto* data = in + row * length;
    Extremes<Acc> acc{static_cast<Acc>(INFINITY), kAbs ? Acc(0) : static_cast<Acc>(-INFINITY), 0};
    for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) {
      const Acc v = Floating<F>::template widen<Acc>(data[i]);
      acc.has_nan |= v != v;
      if (kAbs) {
        const Acc a = v < Acc(0) ? -v : v;
        acc.max = a > acc.max ? a : acc.max;
      } else {
        acc.min = v < acc.min ? v : acc.min;
        acc.max = v > acc.max ? v : acc.max;
      }
    }
    acc = block_combine(acc);
    if (threadIdx.x == 0) partials[item] = acc;
  }
}

// Slices per row: one unless there are too few rows to fill the GPU.
int64_t chunks_per_row(int64_t rows, int64_t length) {
  const int64_t target = static_cast<int64_t>(at::cuda::getCurrentDeviceProperties()->multiProcessorCount) * 8;
  if (rows >= target) return 1;
  const int64_t by_rows = (target + rows - 1) / rows;
  const int64_t by_length = (length + 4095) / 4096;
  return std::max<int64_t>(1, std::min(by_rows, by_length));
}

// Queues the row reduction of `src` (contiguous, [rows, length] in memory);
// returns the partials tensor ([rows * chunks] Extremes<Acc>).
template <typename Acc, bool kAbs>
at::Tensor queue_row_extremes(const at::Tensor& src, int64_t rows, int64_t length, int64_t chunks) {
  at::Tensor partials =
      at::empty({rows * chunks * static_cast<int64_t>(sizeof(Extremes<Acc>))}, src.options().dtype(at::kByte));
  const int64_t sms = at::cuda::getCurrentDeviceProperties()->multiProcessorCount;
  const auto blocks = static_cast<unsigned>(std::max<int64_t>(1, std::min<int64_t>(rows * chunks, sms * 32)));
  const auto stream = at::cuda::getCurrentCUDAStream();
  auto* out = static_cast<Extremes<Acc>*>(partials.data_ptr());
  switch (src.scalar_type()) {
    case at::kHalf:
      row_extremes_kernel<c10::Half, Acc, kAbs><<<blocks, kThreads, 0, stream>>>(
          static_cast<const uint16_t*>(src.data_ptr()), rows, length, chunks, out);
      break;
    case at::kBFloat16:
      row_extremes_kernel<c10::BFloat16, Acc, kAbs><<<blocks, kThreads, 0, stream>>>(
          static_cast<const uint16_t*>(src.data_ptr()), rows, length, chunks, out);
      break;
    case at::kDouble:
      if constexpr (std::is_same<Acc, double>::value) {
        row_extremes_kernel<double, Acc, kAbs><<<blocks, kThreads, 0, stream>>>(
            static_cast<const double*>(src.data_ptr()), rows, length, chunks, out);
      }
      break;
    default:
      row_extremes_kernel<float, Acc, kAbs><<<blocks, kThreads, 0, stream>>>(
          static_cast<const float*>(src.data_ptr()), rows, length, chunks, out);
      break;
  }
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return partials;
}

// The extremes of one row from its chunks, in order.
template <typename Acc>
__device__ Extremes<Acc> fold_row(const Extremes<Acc>* partials, int64_t row, int64_t chunks) {
  Extremes<Acc> acc = partials[row * chunks];
  for (int64_t c = 1; c < chunks; ++c) acc = combine(acc, partials[row * chunks + c]);
  return acc;
}

// ---- choose_qparams.tensor / choose_qparams_symmetric.tensor -------------------------

struct ChooseStatus {
  double min;
  double max;
  double scale;
  int has_nan;
};

template <typename A>
__global__ void __launch_bounds__(kThreads)
    choose_qparams_kernel(const Extremes<float>* partials, int64_t count, int64_t quant_min, int64_t quant_max,
                          float eps, bool symmetric, bool is_uint8, double* scale, int64_t* zero_point,
                          ChooseStatus* status) {
  Extremes<float> acc{INFINITY, -INFINITY, 0};
  for (int64_t i = threadIdx.x; i < count; i += blockDim.x) acc = combine(acc, partials[i]);
  acc = block_combine(acc);
  if (threadIdx.x != 0) return;
  const nm::QParams qparams = symmetric
                                  ? nm::choose_qparams_symmetric<A>(acc.min, acc.max, quant_min, quant_max, eps, is_uint8)
                                  : nm::choose_qparams_affine<A>(acc.min, acc.max, quant_min, quant_max, eps);
  *scale = qparams.scale;
  *zero_point = qparams.zero_point;
  *status = {acc.min, acc.max, qparams.scale, acc.has_nan};
}

std::tuple<at::Tensor, at::Tensor> choose_qparams(const char* op, const at::Tensor& input, int64_t quant_min,
                                                  int64_t quant_max, double eps, at::ScalarType dtype,
                                                  bool symmetric) {
  check_choose_qparams_args(op, input, quant_min, quant_max, eps, dtype);
  check_cuda_input(op, input);
  c10::cuda::CUDAGuard guard(input.device());
  at::Tensor scale = at::empty({1}, input.options().dtype(at::kDouble));
  at::Tensor zero_point = at::empty({1}, input.options().dtype(at::kLong));
  if (input.numel() == 0) {
    // Nothing observed: determine_qparams' default (upstream's aminmax raises here).
    scale.fill_(1.0);
    zero_point.fill_(0);
    return {scale, zero_point};
  }
  const at::Tensor src = dense(input);
  DeviceStatus<ChooseStatus> status(op, input);
  const int64_t chunks = chunks_per_row(1, src.numel());
  const at::Tensor partials = queue_row_extremes<float, false>(src, 1, src.numel(), chunks);
  const auto* found = static_cast<const Extremes<float>*>(partials.data_ptr());
  const float eps_f32 = static_cast<float>(eps);
  const bool is_uint8 = dtype == at::kByte;
  const auto stream = at::cuda::getCurrentCUDAStream();
  double* scale_ptr = scale.data_ptr<double>();
  int64_t* zero_point_ptr = zero_point.data_ptr<int64_t>();
  switch (src.scalar_type()) {
    case at::kHalf:
      choose_qparams_kernel<nm::Float16Arith><<<1, kThreads, 0, stream>>>(
          found, chunks, quant_min, quant_max, eps_f32, symmetric, is_uint8, scale_ptr, zero_point_ptr, status.get());
      break;
    case at::kBFloat16:
      choose_qparams_kernel<nm::BFloat16Arith><<<1, kThreads, 0, stream>>>(
          found, chunks, quant_min, quant_max, eps_f32, symmetric, is_uint8, scale_ptr, zero_point_ptr, status.get());
      break;
    default:
      choose_qparams_kernel<nm::Float32Arith><<<1, kThreads, 0, stream>>>(
          found, chunks, quant_min, quant_max, eps_f32, symmetric, is_uint8, scale_ptr, zero_point_ptr, status.get());
      break;
  }
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  const ChooseStatus& result = status.result();
  check_observed_range(op, "input", result.min, result.max, result.has_nan != 0);
  check_chosen_scale(op, result.scale, result.min, result.max, input.scalar_type());
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

// ---- per token -------------------------------------------------------------------------

// The first token (smallest row) whose values are not all finite.
struct TokenStatus {
  unsigned long long first_bad;  // ULLONG_MAX: none
};

// Reads the values of one token on the host, for the message of a bad one.
at::Tensor token_values(const at::Tensor& src, int64_t tokens, int64_t token) {
  return src.reshape({tokens, -1})[token].to(at::kDouble);
}

template <typename A, typename S>
__global__ void per_token_scales_kernel(const Extremes<typename A::value_type>* partials, int64_t rows,
                                        int64_t chunks, typename Floating<S>::raw* scales, TokenStatus* status) {
  using T = typename A::value_type;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t row = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; row < rows; row += stride) {
    const Extremes<T> found = fold_row(partials, row, chunks);
    if (found.has_nan || !isfinite(found.max)) atomicMin(&status->first_bad, static_cast<unsigned long long>(row));
    scales[row] = Floating<S>::narrow(nm::choose_scale_per_token_symmetric<A>(found.max));
  }
}

template <typename A, typename S>
void queue_per_token_scales(const at::Tensor& src, int64_t tokens, int64_t length, at::Tensor& scales,
                            TokenStatus* status) {
  using T = typename A::value_type;
  const int64_t chunks = chunks_per_row(tokens, length);
  const at::Tensor partials = queue_row_extremes<T, /*kAbs=*/true>(src, tokens, length, chunks);
  per_token_scales_kernel<A, S><<<static_cast<unsigned>(grid_size(tokens)), kThreads, 0,
                                  at::cuda::getCurrentCUDAStream()>>>(
      static_cast<const Extremes<T>*>(partials.data_ptr()), tokens, chunks,
      static_cast<typename Floating<S>::raw*>(scales.data_ptr()), status);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

std::tuple<at::Tensor, at::Tensor> choose_qparams_per_token(const at::Tensor& input, at::ScalarType dtype) {
  check_choose_qparams_per_token_input(kPerTokenOp, input);
  TORCH_CHECK(dtype == at::kChar, kPerTokenOp, ": dtype must be int8 (the only one upstream supports), got ", dtype);
  check_cuda_input(kPerTokenOp, input);
  c10::cuda::CUDAGuard guard(input.device());
  // Upstream's scales keep the input's dtype, except float16 -> float32.
  const at::ScalarType scale_dtype = input.scalar_type() == at::kHalf ? at::kFloat : input.scalar_type();
  const auto shape = per_token_qparams_shape(input);
  at::Tensor scales = at::empty(shape, input.options().dtype(scale_dtype));
  at::Tensor zero_points = at::zeros(shape, input.options().dtype(scale_dtype));
  if (scales.numel() == 0) return {scales, zero_points};
  const at::Tensor src = input.contiguous();
  const int64_t tokens = num_tokens(input), length = token_length(input);
  DeviceStatus<TokenStatus> status(kPerTokenOp, input, /*fill=*/0xFF);
  switch (scale_dtype) {
    case at::kDouble:
      queue_per_token_scales<nm::Float64Arith, double>(src, tokens, length, scales, status.get());
      break;
    case at::kBFloat16:
      queue_per_token_scales<nm::BFloat16Arith, c10::BFloat16>(src, tokens, length, scales, status.get());
      break;
    default:
      queue_per_token_scales<nm::Float32Arith, float>(src, tokens, length, scales, status.get());
      break;
  }
  const unsigned long long bad = status.result().first_bad;
  if (bad != ULLONG_MAX) {
    const auto token = static_cast<int64_t>(bad);
    const at::Tensor values = token_values(src, tokens, token);
    const at::Tensor nan = at::isnan(values);
    const double abs_max = at::where(nan, at::zeros_like(values), values.abs()).max().item<double>();
    check_token_abs_max(kPerTokenOp, abs_max, nan.any().item<bool>(), token);
    TORCH_INTERNAL_ASSERT(false, kPerTokenOp, ": the device found a non-finite token ", token,
                          " that the host check accepts");
  }
  return {scales, zero_points};
}

template <typename A>
__global__ void per_token_asymmetric_kernel(const Extremes<typename A::value_type>* partials, int64_t rows,
                                            int64_t chunks, double* scales, int64_t* zero_points,
                                            TokenStatus* status) {
  using T = typename A::value_type;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t row = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; row < rows; row += stride) {
    const Extremes<T> found = fold_row(partials, row, chunks);
    if (found.has_nan || !isfinite(found.min) || !isfinite(found.max)) {
      atomicMin(&status->first_bad, static_cast<unsigned long long>(row));
    }
    const nm::QParams qparams = nm::choose_qparams_per_token_asymmetric<A>(found.min, found.max);
    scales[row] = qparams.scale;
    zero_points[row] = qparams.zero_point;
  }
}

template <typename A>
void queue_per_token_asymmetric(const at::Tensor& src, int64_t tokens, int64_t length, at::Tensor& scales,
                                at::Tensor& zero_points, TokenStatus* status) {
  using T = typename A::value_type;
  const int64_t chunks = chunks_per_row(tokens, length);
  const at::Tensor partials = queue_row_extremes<T, /*kAbs=*/false>(src, tokens, length, chunks);
  per_token_asymmetric_kernel<A><<<static_cast<unsigned>(grid_size(tokens)), kThreads, 0,
                                   at::cuda::getCurrentCUDAStream()>>>(
      static_cast<const Extremes<T>*>(partials.data_ptr()), tokens, chunks, scales.data_ptr<double>(),
      zero_points.data_ptr<int64_t>(), status);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

std::tuple<at::Tensor, at::Tensor> choose_qparams_per_token_asymmetric(const at::Tensor& input,
                                                                       at::ScalarType dtype) {
  // dtype is not used: upstream always chooses for [-128, 127].
  check_choose_qparams_per_token_input(kPerTokenAsymmetricOp, input);
  check_cuda_input(kPerTokenAsymmetricOp, input);
  c10::cuda::CUDAGuard guard(input.device());
  const auto shape = per_token_qparams_shape(input);
  at::Tensor scales = at::empty(shape, input.options().dtype(at::kDouble));
  at::Tensor zero_points = at::empty(shape, input.options().dtype(at::kLong));
  if (scales.numel() == 0) return {scales, zero_points};
  const at::Tensor src = input.contiguous();
  const int64_t tokens = num_tokens(input), length = token_length(input);
  DeviceStatus<TokenStatus> status(kPerTokenAsymmetricOp, input, /*fill=*/0xFF);
  switch (src.scalar_type()) {
    case at::kDouble:
      queue_per_token_asymmetric<nm::Float64Arith>(src, tokens, length, scales, zero_points, status.get());
      break;
    case at::kHalf:
      queue_per_token_asymmetric<nm::Float16Arith>(src, tokens, length, scales, zero_points, status.get());
      break;
    case at::kBFloat16:
      queue_per_token_asymmetric<nm::BFloat16Arith>(src, tokens, length, scales, zero_points, status.get());
      break;
    default:
      queue_per_token_asymmetric<nm::Float32Arith>(src, tokens, length, scales, zero_points, status.get());
      break;
  }
  const unsigned long long bad = status.result().first_bad;
  if (bad != ULLONG_MAX) {
    const auto token = static_cast<int64_t>(bad);
    const at::Tensor values = token_values(src, tokens, token);
    const at::Tensor nan = at::isnan(values);
    const double inf = std::numeric_limits<double>::infinity();
    const double min = at::where(nan, at::full_like(values, inf), values).min().item<double>();
    const double max = at::where(nan, at::full_like(values, -inf), values).max().item<double>();
    check_observed_range(kPerTokenAsymmetricOp, "token " + std::to_string(token) + " of input", min, max,
                         nan.any().item<bool>());
    TORCH_INTERNAL_ASSERT(false, kPerTokenAsymmetricOp, ": the device found a non-finite token ", token,
                          " that the host check accepts");
  }
  return {scales, zero_points};
}

}  // namespace

TORCH_LIBRARY_IMPL(quantized_decomposed, CUDA, m) {
  m.impl("choose_qparams.tensor", TORCH_FN(choose_qparams_tensor));
  m.impl("choose_qparams_symmetric.tensor", TORCH_FN(choose_qparams_symmetric_tensor));
  m.impl("choose_qparams_per_token", TORCH_FN(choose_qparams_per_token));
  m.impl("_choose_qparams_per_token_asymmetric_impl", TORCH_FN(choose_qparams_per_token_asymmetric));
  m.impl("choose_qparams_per_token_asymmetric", TORCH_FN(choose_qparams_per_token_asymmetric));
}

}  // namespace cuda
}  // namespace kernels
}  // namespace torch_pt2e
