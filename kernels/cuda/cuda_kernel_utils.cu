#include "kernels/cuda/cuda_kernel_utils.h"

#include <algorithm>

#include <ATen/ATen.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAException.h>
#include <torch/version.h>

#include "kernels/checks.h"
#include "kernels/cuda/dtype_dispatch.cuh"
#include "kernels/cuda/loops.cuh"
#include "kernels/kernel_utils.h"
#include "kernels/numerics.h"

namespace torch_pt2e {
namespace kernels {
namespace cuda {

int64_t grid_size(int64_t items) {
  const int64_t sms = at::cuda::getCurrentDeviceProperties()->multiProcessorCount;
  const int64_t needed = (items + kThreads - 1) / kThreads;
  // 2048 resident threads per SM on every supported GPU; four waves of them.
  return std::max<int64_t>(1, std::min<int64_t>(needed, sms * (2048 / kThreads) * 4));
}

void check_cuda_input(const char* op, const at::Tensor& input) {
  TORCH_CHECK(input.is_cuda(), op, ": input must be a CUDA tensor when a parameter tensor is, got input on ",
              input.device());
}

at::Tensor on_input_device(const char* op, const char* name, const at::Tensor& value, const at::Tensor& input) {
  if (value.device() == input.device()) return value;
  TORCH_CHECK(value.device().is_cpu(), op, ": ", name, " must be on the input's device (", input.device(),
              ") or on the CPU, got ", value.device());
  return value.to(input.device());
}

namespace {

// ---- device-side parameter checks ----------------------------------------------

// Reads element i of a tensor of `type` as the host checks see it; `type` is
// one the callers accepted (readable_on_device).
__device__ double read_real(const void* data, c10::ScalarType type, int64_t i) {
  switch (type) {
    case c10::ScalarType::Float:
      return static_cast<const float*>(data)[i];
    case c10::ScalarType::Double:
      return static_cast<const double*>(data)[i];
    case c10::ScalarType::Half:
      return nm::half_to_float(static_cast<const uint16_t*>(data)[i]);
    case c10::ScalarType::BFloat16:
      return nm::bf16_to_float(static_cast<const uint16_t*>(data)[i]);
    default:
      return 0.0;
  }
}

__device__ int64_t read_integer_on_device(const void* data, c10::ScalarType type, int64_t i) {
  switch (type) {
    case c10::ScalarType::Byte:
      return static_cast<const uint8_t*>(data)[i];
    case c10::ScalarType::Char:
      return static_cast<const int8_t*>(data)[i];
    case c10::ScalarType::Short:
      return static_cast<const int16_t*>(data)[i];
    case c10::ScalarType::Int:
      return static_cast<const int32_t*>(data)[i];
    case c10::ScalarType::Long:
      return static_cast<const int64_t*>(data)[i];
    default:
      return 0;
  }
}

bool is_device_floating(at::ScalarType type) {
  return type == at::kFloat || type == at::kDouble || type == at::kHalf || type == at::kBFloat16;
}
bool is_device_integer(at::ScalarType type) {
  return type == at::kByte || type == at::kChar || type == at::kShort || type == at::kInt || type == at::kLong;
}

__global__ void check_scales_kernel(const void* scales, c10::ScalarType type, int64_t n, int* flag) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const double s = read_real(scales, type, i);
    if (!(isfinite(s) && s > 0.0)) atomicOr(flag, kBadParameter);
  }
}

__global__ void check_zero_points_kernel(const void* zero_points, c10::ScalarType type, bool floating, int64_t n,
                                         int64_t quant_min, int64_t quant_max, int* flag) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    bool bad;
    if (floating) {
      bad = !isfinite(read_real(zero_points, type, i));
    } else {
      const int64_t z = read_integer_on_device(zero_points, type, i);
      bad = z < quant_min || z > quant_max;
    }
    if (bad) atomicOr(flag, kBadParameter);
  }
}

}  // namespace

void queue_scale_checks(DeviceFlag& flag, const char* op, const char* name, const at::Tensor& scales) {
  if (scales.numel() == 0) return;
  if (!is_device_floating(scales.scalar_type())) {
    check_scale_values(op, name, scales);
    return;
  }
  const at::Tensor values = scales.contiguous();
  const auto stream = at::cuda::getCurrentCUDAStream();
  check_scales_kernel<<<static_cast<unsigned>(grid_size(values.numel())), kThreads, 0, stream>>>(
      values.data_ptr(), values.scalar_type(), values.numel(), flag.get());
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

void queue_zero_point_checks(DeviceFlag& flag, const char* op, const at::Tensor& zero_points, int64_t quant_min,
                             int64_t quant_max) {
  if (zero_points.numel() == 0) return;
  if (!is_device_floating(zero_points.scalar_type()) && !is_device_integer(zero_points.scalar_type())) {
    check_zero_point_values(op, zero_points, quant_min, quant_max);
    return;
  }
  const at::Tensor values = zero_points.contiguous();
  const auto stream = at::cuda::getCurrentCUDAStream();
  check_zero_points_kernel<<<static_cast<unsigned>(grid_size(values.numel())), kThreads, 0, stream>>>(
      values.data_ptr(), values.scalar_type(), at::isFloatingType(values.scalar_type()), values.numel(), quant_min,
      quant_max, flag.get());
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

namespace {

// ---- dtype dispatch --------------------------------------------------------------

template <typename Fn>
bool with_arith(at::ScalarType compute, const Fn& fn) {
  switch (compute) {
    case at::kFloat:
      fn(nm::Float32Arith());
      return true;
    case at::kDouble:
      fn(nm::Float64Arith());
      return true;
    case at::kBFloat16:
      fn(nm::BFloat16Arith());
      return true;
    case at::kHalf:
      fn(nm::Float16Arith());
      return true;
    default:
      return false;
  }
}

// ---- elements of the channel loops -------------------------------------------------

// One element of quantize_per_channel (round then add) or of
// quantize_per_token / per_channel_group (add then round), in arithmetic A.
template <bool kAddThenRound, typename A, typename F, typename Q>
struct ChannelQuantize {
  using C = typename A::value_type;
  using In = typename Floating<F>::raw;
  const C* inv_scale;
  const C* zero_point;
  ChannelLayout layout;
  C lo, hi;  // clamp bounds, rounded to the compute dtype
  int64_t lo_int, hi_int;
  int* flag;
  bool saw_nan;

  __device__ void prepare() { saw_nan = false; }
  template <int kVec>
  __device__ void apply(int64_t first, const In (&x)[kVec], Q (&y)[kVec]) {
    ChannelCursor cursor(first, layout);
#pragma unroll
    for (int k = 0; k < kVec; ++k) {
      const C v = Floating<F>::template widen<C>(x[k]);
      saw_nan |= v != v;
      const C inv = inv_scale[cursor.entry], zp = zero_point[cursor.entry];
      const C r = kAddThenRound ? nm::quantize_add_then_round_in<A>(v, inv, zp, lo, hi)
                                : nm::quantize_round_then_add_in<A>(v, inv, zp, lo, hi);
      y[k] = nm::to_quantized_in<A, Q>(r, lo_int, hi_int);
      cursor.advance(layout);
    }
  }
  __device__ void finish() {
    if (flag != nullptr && saw_nan) atomicOr(flag, kNanInput);
  }
};

// `q - zero_point` exact in integers: int32 for narrow inputs, int64 for int32.
template <typename Q>
struct IntegerDifference {
  using zero_point_type = int32_t;
  using type = typename std::conditional<(sizeof(Q) < 4), int32_t, int64_t>::type;
  static __device__ __forceinline__ type of(Q q, int32_t zp) {
    return nm::sub_rn(static_cast<type>(q), static_cast<type>(zp));
  }
};
// In the zero points' floating dtype (arithmetic D).
template <typename D>
struct FloatingDifference {
  using zero_point_type = typename D::value_type;
  template <typename Q>
  static __device__ __forceinline__ typename D::value_type of(Q q, zero_point_type zp) {
    return nm::quantized_minus_zero_point<D>(q, zp);
  }
};

template <typename Difference, typename A, typename Q, typename F>
struct ChannelDequantize {
  using C = typename A::value_type;
  using Out = typename Floating<F>::raw;
  using Zp = typename Difference::zero_point_type;
  const C* scale;
  const Zp* zero_point;
  ChannelLayout layout;

  __device__ void prepare() {}
  template <int kVec>
  __device__ void apply(int64_t first, const Q (&q)[kVec], Out (&y)[kVec]) const {
    ChannelCursor cursor(first, layout);
#pragma unroll
    for (int k = 0; k < kVec; ++k) {
      const auto difference = Difference::of(q[k], zero_point[cursor.entry]);
      y[k] = Floating<F>::narrow(nm::times_scale<A>(difference, scale[cursor.entry]));
      cursor.advance(layout);
    }
  }
  __device__ void finish() {}
};

// The (compute, input) pairs with a kernel: the input converts exactly to
// the compute dtype (as the CPU loop table). The same pairs as types, so
// that no other combination is compiled:
template <typename A, typename F>
constexpr bool kInputFitsArith =
    std::is_same<A, nm::Float64Arith>::value ||
    (std::is_same<A, nm::Float32Arith>::value && !std::is_same<F, double>::value) ||
    (std::is_same<A, nm::BFloat16Arith>::value && std::is_same<F, c10::BFloat16>::value) ||
    (std::is_same<A, nm::Float16Arith>::value && std::is_same<F, c10::Half>::value);

bool input_fits_compute(at::ScalarType compute, at::ScalarType input) {
  switch (compute) {
    case at::kFloat:
      return input == at::kFloat || input == at::kHalf || input == at::kBFloat16;
    case at::kDouble:
      return is_float_type(input);
    case at::kBFloat16:
    case at::kHalf:
      return input == compute;
    default:
      return false;
  }
}

template <typename D>
struct IsIntegerDifference : std::false_type {};
template <typename Q>
struct IsIntegerDifference<IntegerDifference<Q>> : std::true_type {};
template <typename D>
struct DifferenceArith {
  using type = void;
};
template <typename A>
struct DifferenceArith<FloatingDifference<A>> {
  using type = A;
};

// The (difference, compute) pairs with a kernel: compute is the promotion of
// the difference with some scale dtype. As types:
template <typename D, typename A>
constexpr bool kDifferenceFitsArith =
    IsIntegerDifference<D>::value || std::is_same<A, nm::Float64Arith>::value ||
    (std::is_same<A, nm::Float32Arith>::value &&
     !std::is_same<typename DifferenceArith<D>::type, nm::Float64Arith>::value) ||
    std::is_same<typename DifferenceArith<D>::type, A>::value;

bool difference_fits_compute(const Difference& difference, at::ScalarType compute) {
  if (difference.integer) return is_float_type(compute);
  switch (difference.dtype) {
    case at::kFloat:
      return compute == at::kFloat || compute == at::kDouble;
    case at::kDouble:
      return compute == at::kDouble;
    case at::kBFloat16:
    case at::kHalf:
      return compute == difference.dtype || compute == at::kFloat || compute == at::kDouble;
    default:
      return false;
  }
}

}  // namespace

bool has_quantize_kernel(at::ScalarType compute, at::ScalarType input, at::ScalarType dtype) {
  return input_fits_compute(compute, input) && is_quant_type(dtype);
}

void quantize_channels(const at::Tensor& src, const at::Tensor& out, at::ScalarType compute,
                       const at::Tensor& inv_scale, const at::Tensor& zero_point, int64_t entries, int64_t inner,
                       bool add_then_round, int64_t quant_min, int64_t quant_max, int* flag) {
  TORCH_INTERNAL_ASSERT(has_quantize_kernel(compute, src.scalar_type(), out.scalar_type()));
  if (src.numel() == 0) return;
  const at::Tensor inv = inv_scale.contiguous(), zp = zero_point.contiguous();
  const auto stream = at::cuda::getCurrentCUDAStream();
  with_arith(compute, [&](auto arith) {
    using A = decltype(arith);
    using C = typename A::value_type;
    with_float_type(src.scalar_type(), [&](auto input) {
      using F = decltype(input);
      with_quant_type(out.scalar_type(), [&](auto quantized) {
        using Q = decltype(quantized);
        // torch.clamp converts its bounds to the tensor's dtype.
        const C lo = A::rounded(static_cast<C>(static_cast<double>(quant_min)));
        const C hi = A::rounded(static_cast<C>(static_cast<double>(quant_max)));
        const ChannelLayout layout{entries, inner};
        const C* inv_ptr = static_cast<const C*>(inv.data_ptr());
        const C* zp_ptr = static_cast<const C*>(zp.data_ptr());
        if constexpr (kInputFitsArith<A, F>) {
          if (add_then_round) {
            ChannelQuantize<true, A, F, Q> element{inv_ptr, zp_ptr, layout, lo, hi, quant_min, quant_max, flag, false};
            launch_map<typename Floating<F>::raw, Q>(src.data_ptr(), out.data_ptr(), src.numel(), element, stream);
          } else {
            ChannelQuantize<false, A, F, Q> element{inv_ptr, zp_ptr, layout, lo, hi, quant_min, quant_max, flag, false};
            launch_map<typename Floating<F>::raw, Q>(src.data_ptr(), out.data_ptr(), src.numel(), element, stream);
          }
        }
      });
    });
  });
}

c10::optional<Difference> difference_of(at::ScalarType input, at::ScalarType difference_dtype) {
  if (is_float_type(difference_dtype)) return Difference{false, difference_dtype};
  if (integer_difference_is_exact(input, difference_dtype)) return Difference{true, difference_dtype};
  return c10::nullopt;
}

at::ScalarType zero_point_loop_dtype(const Difference& difference) {
  if (difference.integer) return at::kInt;
  return difference.dtype == at::kDouble ? at::kDouble : at::kFloat;
}

bool has_dequantize_kernel(const c10::optional<Difference>& difference, at::ScalarType compute, at::ScalarType input,
                           at::ScalarType out_dtype) {
  return difference.has_value() && difference_fits_compute(*difference, compute) && is_quant_type(input) &&
         is_float_type(out_dtype);
}

namespace {

template <typename D, typename A, typename Q, typename F>
void launch_dequantize(const at::Tensor& src, const at::Tensor& out, const at::Tensor& scale,
                       const at::Tensor& zero_point, const ChannelLayout& layout) {
  using Element = ChannelDequantize<D, A, Q, F>;
  const Element element{static_cast<const typename A::value_type*>(scale.data_ptr()),
                        static_cast<const typename D::zero_point_type*>(zero_point.data_ptr()), layout};
  launch_map<Q, typename Floating<F>::raw>(src.data_ptr(), out.data_ptr(), src.numel(), element,
                                           at::cuda::getCurrentCUDAStream());
}

// The difference policy for `difference`, and the arithmetics it pairs with.
template <typename Q, typename Fn>
void with_difference(const Difference& difference, const Fn& fn) {
  if (difference.integer) {
    fn(IntegerDifference<Q>());
    return;
  }
  switch (difference.dtype) {
    case at::kFloat:
      fn(FloatingDifference<nm::Float32Arith>());
      return;
    case at::kDouble:
      fn(FloatingDifference<nm::Float64Arith>());
      return;
    case at::kBFloat16:
      fn(FloatingDifference<nm::BFloat16Arith>());
      return;
    case at::kHalf:
      fn(FloatingDifference<nm::Float16Arith>());
      return;
    default:
      TORCH_INTERNAL_ASSERT(false, "no difference policy for ", difference.dtype);
  }
}

}  // namespace

void dequantize_channels(const at::Tensor& src, const at::Tensor& out, at::ScalarType compute,
                         const at::Tensor& scale, const Difference& difference, const at::Tensor& zero_point,
                         int64_t entries, int64_t inner) {
  TORCH_INTERNAL_ASSERT(has_dequantize_kernel(difference, compute, src.scalar_type(), out.scalar_type()) &&
                        zero_point.scalar_type() == zero_point_loop_dtype(difference));
  if (src.numel() == 0) return;
  const at::Tensor s = scale.contiguous(), zp = zero_point.contiguous();
  const ChannelLayout layout{entries, inner};
  with_arith(compute, [&](auto arith) {
    using A = decltype(arith);
    with_quant_type(src.scalar_type(), [&](auto quantized) {
      using Q = decltype(quantized);
      with_float_type(out.scalar_type(), [&](auto output) {
        using F = decltype(output);
        with_difference<Q>(difference, [&](auto policy) {
          using D = decltype(policy);
          if constexpr (kDifferenceFitsArith<D, A>) launch_dequantize<D, A, Q, F>(src, out, s, zp, layout);
        });
      });
    });
  });
}

}  // namespace cuda
}  // namespace kernels
}  // namespace torch_pt2e
