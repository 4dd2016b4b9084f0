// CUDA kernels of quantize_per_tensor / dequantize_per_tensor (all overloads).
//
// The .tensor/.tensor2 overloads with parameters on the GPU read them on the
// GPU: a one-thread kernel validates them and derives the loop parameters
// (as the CPU derives them from `.item()` values), and the element kernel
// reads those; the host waits only for the validation (cuda_kernel_utils.h).
#include <ATen/ATen.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include "kernels/checks.h"
#include "kernels/cuda/cuda_kernel_utils.h"
#include "kernels/cuda/dtype_dispatch.cuh"
#include "kernels/cuda/loops.cuh"
#include "kernels/expressions.h"
#include "kernels/kernel_utils.h"
#include "kernels/numerics.h"

namespace torch_pt2e {
namespace kernels {
namespace cuda {
namespace {

// The CPU's AffineQuantParams / AffineDequantParams (kernels/cpu/loops.h).
struct QuantParams {
  float inv_scale;
  float zero_point;
  float quant_min;
  float quant_max;
  int64_t quant_min_int;
  int64_t quant_max_int;
};

struct DequantParams {
  float scale;
  float zero_point;
  double scale_double;
  double zero_point_double;
};

__host__ __device__ QuantParams quant_params(double scale, int64_t zero_point, int64_t quant_min, int64_t quant_max) {
  return {nm::per_tensor_inv_scale(scale), static_cast<float>(zero_point), static_cast<float>(quant_min),
          static_cast<float>(quant_max), quant_min, quant_max};
}

__host__ __device__ DequantParams dequant_params(double scale, int64_t zero_point) {
  return {static_cast<float>(scale), static_cast<float>(zero_point), scale, static_cast<double>(zero_point)};
}

// ---- element kernels ---------------------------------------------------------------

// `device_params`, when set, replaces `params` (GPU-resident parameters).
template <typename F, typename Q>
struct QuantizeElement {
  using In = typename Floating<F>::raw;
  QuantParams params;
  const QuantParams* device_params;

  __device__ void prepare() {
    if (device_params != nullptr) params = *device_params;
  }
  template <int kVec>
  __device__ void apply(int64_t, const In (&x)[kVec], Q (&y)[kVec]) const {
#pragma unroll
    for (int k = 0; k < kVec; ++k) {
      const float r = nm::quantize_round_then_add(Floating<F>::template widen<float>(x[k]), params.inv_scale,
                                                  params.zero_point, params.quant_min, params.quant_max);
      y[k] = nm::to_quantized<Q>(r, params.quant_min_int, params.quant_max_int);
    }
  }
  __device__ void finish() {}
};

template <typename Q, typename F>
struct DequantizeElement {
  using Out = typename Floating<F>::raw;
  DequantParams params;
  const DequantParams* device_params;

  __device__ void prepare() {
    if (device_params != nullptr) params = *device_params;
  }
  template <int kVec>
  __device__ void apply(int64_t, const Q (&q)[kVec], Out (&y)[kVec]) const {
#pragma unroll
    for (int k = 0; k < kVec; ++k) {
      if constexpr (std::is_same<F, double>::value) {
        y[k] = nm::dequantize_per_tensor_f64(static_cast<double>(q[k]), params.zero_point_double,
                                             params.scale_double);
      } else if constexpr (std::is_same<F, c10::Half>::value) {
        y[k] = nm::dequantize_per_tensor_f16(static_cast<float>(q[k]), params.zero_point, params.scale);
      } else if constexpr (std::is_same<F, c10::BFloat16>::value) {
        y[k] = nm::dequantize_per_tensor_bf16(static_cast<float>(q[k]), params.zero_point, params.scale);
      } else {
        y[k] = nm::dequantize_per_tensor_f32(static_cast<float>(q[k]), params.zero_point, params.scale);
      }
    }
  }
  __device__ void finish() {}
};

// Quantizes `input` (checked) with host or device parameters.
at::Tensor launch_quantize(const at::Tensor& input, at::ScalarType dtype, const QuantParams& params,
                           const QuantParams* device_params) {
  const at::Tensor src = dense(input);
  at::Tensor out = at::empty_like(src, src.options().dtype(dtype));
  const auto stream = at::cuda::getCurrentCUDAStream();
  with_float_type(src.scalar_type(), [&](auto input_type) {
    using F = decltype(input_type);
    if constexpr (!std::is_same<F, double>::value) {  // float64 inputs are rejected by the checks
      with_quant_type(dtype, [&](auto quantized) {
        using Q = decltype(quantized);
        launch_map<typename Floating<F>::raw, Q>(src.data_ptr(), out.data_ptr(), src.numel(),
                                                 QuantizeElement<F, Q>{params, device_params}, stream);
      });
    }
  });
  return out;
}

at::Tensor launch_dequantize(const at::Tensor& input, at::ScalarType out_dtype, const DequantParams& params,
                             const DequantParams* device_params) {
  const at::Tensor src = dense(input);
  at::Tensor out = at::empty_like(src, src.options().dtype(out_dtype));
  const auto stream = at::cuda::getCurrentCUDAStream();
  with_quant_type(src.scalar_type(), [&](auto quantized) {
    using Q = decltype(quantized);
    with_float_type(out_dtype, [&](auto output) {
      using F = decltype(output);
      launch_map<Q, typename Floating<F>::raw>(src.data_ptr(), out.data_ptr(), src.numel(),
                                               DequantizeElement<Q, F>{params, device_params}, stream);
    });
  });
  return out;
}

bool is_loop_float(at::ScalarType dtype) {
  return dtype == at::kFloat || dtype == at::kDouble || dtype == at::kHalf || dtype == at::kBFloat16;
}

// ---- host parameters ----------------------------------------------------------------

at::Tensor quantize(const char* op, const at::Tensor& input, double scale, int64_t zero_point, int64_t quant_min,
                    int64_t quant_max, at::ScalarType dtype) {
  check_quantize_input(op, input);
  check_quant_range(op, quant_min, quant_max, dtype);
  check_scale(op, scale);
  check_zero_point(op, zero_point, quant_min, quant_max);
  check_cuda_input(op, input);
  c10::cuda::CUDAGuard guard(input.device());
  // float8 outputs have no kernel: upstream's expression, exact by construction.
  if (!is_quant_type(dtype)) return quantize_per_tensor_expression(input, scale, zero_point, quant_min, quant_max, dtype);
  return launch_quantize(input, dtype, quant_params(scale, zero_point, quant_min, quant_max), nullptr);
}

at::Tensor dequantize(const char* op, const at::Tensor& input, double scale, int64_t zero_point, int64_t quant_min,
                      int64_t quant_max, at::ScalarType dtype, c10::optional<at::ScalarType> out_dtype) {
  const at::ScalarType out_scalar_type = out_dtype.value_or(at::kFloat);
  check_dequantize_input(op, input, dtype, out_scalar_type);
  check_quant_range(op, quant_min, quant_max, dtype);
  check_scale(op, scale);
  check_zero_point(op, zero_point, quant_min, quant_max);
  check_cuda_input(op, input);
  c10::cuda::CUDAGuard guard(input.device());
  if (!is_quant_type(dtype) || !is_loop_float(out_scalar_type)) {
    return dequantize_per_tensor_expression(input, scale, zero_point, out_scalar_type);
  }
  return launch_dequantize(input, out_scalar_type, dequant_params(scale, zero_point), nullptr);
}

// ---- GPU-resident parameters (.tensor, .tensor2) -----------------------------------

// A one-element parameter tensor as the device reads it; a null `data` means
// "use the host value instead" (quant_min/quant_max of .tensor).
struct DeviceScalar {
  const void* data;
  c10::ScalarType dtype;
};

// The dtypes resolve_kernel reads; others are read on the host.
bool readable_on_device(at::ScalarType dtype) {
  switch (dtype) {
    case at::kFloat:
    case at::kDouble:
    case at::kHalf:
    case at::kBFloat16:
    case at::kByte:
    case at::kChar:
    case at::kShort:
    case at::kInt:
    case at::kLong:
    case at::kBool:
      return true;
    default:
      return false;
  }
}

__device__ double load_double(const DeviceScalar& s) {
  switch (s.dtype) {
    case c10::ScalarType::Float:
      return *static_cast<const float*>(s.data);
    case c10::ScalarType::Double:
      return *static_cast<const double*>(s.data);
    case c10::ScalarType::Half:
      return nm::half_to_float(*static_cast<const uint16_t*>(s.data));
    case c10::ScalarType::BFloat16:
      return nm::bf16_to_float(*static_cast<const uint16_t*>(s.data));
    case c10::ScalarType::Byte:
      return *static_cast<const uint8_t*>(s.data);
    case c10::ScalarType::Char:
      return *static_cast<const int8_t*>(s.data);
    case c10::ScalarType::Short:
      return *static_cast<const int16_t*>(s.data);
    case c10::ScalarType::Int:
      return *static_cast<const int32_t*>(s.data);
    case c10::ScalarType::Long:
      return static_cast<double>(*static_cast<const int64_t*>(s.data));
    case c10::ScalarType::Bool:
      return *static_cast<const bool*>(s.data) ? 1.0 : 0.0;
    default:
      return 0.0;
  }
}

// read_integer (kernel_utils.h): integer tensors as they are, floating ones
// only when they hold an integral value (else `ok` is cleared).
__device__ int64_t load_integer(const DeviceScalar& s, bool& ok) {
  switch (s.dtype) {
    case c10::ScalarType::Float:
    case c10::ScalarType::Double:
    case c10::ScalarType::Half:
    case c10::ScalarType::BFloat16: {
      const double v = load_double(s);
      const bool integral = isfinite(v) && v == rint(v) && fabs(v) < 9.2e18;
      ok = ok && integral;
      return integral ? static_cast<int64_t>(v) : 0;
    }
    case c10::ScalarType::Long:
      return *static_cast<const int64_t*>(s.data);
    default:
      return static_cast<int64_t>(load_double(s));  // exact for the narrower integer types and bool
  }
}

// The checks of the host path (check_quant_range, check_scale,
// check_zero_point), then the loop parameters derived as on the host.
__global__ void resolve_kernel(DeviceScalar scale_in, DeviceScalar zero_point_in, DeviceScalar quant_min_in,
                               DeviceScalar quant_max_in, int64_t quant_min_arg, int64_t quant_max_arg,
                               int64_t bound_min, int64_t bound_max, QuantParams* quant, DequantParams* dequant,
                               int* flag) {
  bool ok = true;
  const double scale = load_double(scale_in);
  const int64_t zero_point = load_integer(zero_point_in, ok);
  const int64_t quant_min = quant_min_in.data != nullptr ? load_integer(quant_min_in, ok) : quant_min_arg;
  const int64_t quant_max = quant_max_in.data != nullptr ? load_integer(quant_max_in, ok) : quant_max_arg;
  ok = ok && quant_min >= bound_min && quant_max <= bound_max && quant_min <= quant_max;
  ok = ok && isfinite(scale) && scale > 0.0;
  ok = ok && zero_point >= quant_min && zero_point <= quant_max;
  if (!ok) *flag = kBadParameter;
  if (quant != nullptr) *quant = quant_params(scale, zero_point, quant_min, quant_max);
  if (dequant != nullptr) *dequant = dequant_params(scale, zero_point);
}

// The parameters of a .tensor/.tensor2 call.
struct TensorParams {
  at::Tensor scale, zero_point, quant_min, quant_max;  // quant_min/max undefined for .tensor
};

bool on_host(const TensorParams& p) {
  const auto cpu = [](const at::Tensor& t) { return !t.defined() || t.device().is_cpu(); };
  return cpu(p.scale) && cpu(p.zero_point) && cpu(p.quant_min) && cpu(p.quant_max);
}

bool device_readable(const TensorParams& p) {
  const auto readable = [](const at::Tensor& t) { return !t.defined() || readable_on_device(t.scalar_type()); };
  return readable(p.scale) && readable(p.zero_point) && readable(p.quant_min) && readable(p.quant_max);
}

// The host path's reads of the parameters, in its order (and with its errors).
struct HostValues {
  double scale;
  int64_t zero_point, quant_min, quant_max;
};
HostValues read_on_host(const char* op, const TensorParams& p, int64_t quant_min, int64_t quant_max) {
  HostValues v{read_scale(op, "scale", p.scale), read_integer(op, "zero_point", p.zero_point), quant_min, quant_max};
  if (p.quant_min.defined()) v.quant_min = read_integer(op, "quant_min", p.quant_min);
  if (p.quant_max.defined()) v.quant_max = read_integer(op, "quant_max", p.quant_max);
  return v;
}

DeviceScalar device_scalar(const char* op, const char* name, const at::Tensor& value, const at::Tensor& input,
                           at::Tensor& keep_alive) {
  if (!value.defined()) return {nullptr, at::kLong};
  check_single_element(op, name, value);
  keep_alive = on_input_device(op, name, value, input).contiguous();
  return {keep_alive.data_ptr(), keep_alive.scalar_type()};
}

template <typename Params>
struct Resolved {
  at::Tensor storage;  // holds the Params on the device
  const Params* params;
};

// Queues resolve_kernel for the parameters; `flag` gets the verdict.
template <typename Params>
Resolved<Params> resolve_on_device(const char* op, const at::Tensor& input, const TensorParams& p, int64_t quant_min,
                                   int64_t quant_max, at::ScalarType dtype, DeviceFlag& flag) {
  at::Tensor scale, zero_point, qmin, qmax;
  const DeviceScalar s = device_scalar(op, "scale", p.scale, input, scale);
  const DeviceScalar z = device_scalar(op, "zero_point", p.zero_point, input, zero_point);
  const DeviceScalar lo = device_scalar(op, "quant_min", p.quant_min, input, qmin);
  const DeviceScalar hi = device_scalar(op, "quant_max", p.quant_max, input, qmax);
  const QuantBounds bounds = *quant_dtype_bounds(dtype);
  at::Tensor storage = at::empty({static_cast<int64_t>(sizeof(Params))}, input.options().dtype(at::kByte));
  auto* params = static_cast<Params*>(storage.data_ptr());
  constexpr bool kQuant = std::is_same<Params, QuantParams>::value;
  resolve_kernel<<<1, 1, 0, at::cuda::getCurrentCUDAStream()>>>(
      s, z, lo, hi, quant_min, quant_max, bounds.min, bounds.max,
      kQuant ? reinterpret_cast<QuantParams*>(params) : nullptr,
      kQuant ? nullptr : reinterpret_cast<DequantParams*>(params), flag.get());
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return {storage, params};
}

at::Tensor quantize_tensor_params(const char* op, const at::Tensor& input, const TensorParams& p, int64_t quant_min,
                                  int64_t quant_max, at::ScalarType dtype) {
  if (on_host(p) || !device_readable(p) || !is_quant_type(dtype)) {
    const HostValues v = read_on_host(op, p, quant_min, quant_max);
    return quantize(op, input, v.scale, v.zero_point, v.quant_min, v.quant_max, dtype);
  }
  check_quantize_input(op, input);
  check_cuda_input(op, input);
  if (!p.quant_min.defined()) check_quant_range(op, quant_min, quant_max, dtype);
  TORCH_CHECK(quant_dtype_bounds(dtype).has_value(), op, ": dtype must be one of ", supported_quant_dtypes(),
              "; got ", dtype);
  c10::cuda::CUDAGuard guard(input.device());
  DeviceFlag flag(op, input);
  const auto resolved = resolve_on_device<QuantParams>(op, input, p, quant_min, quant_max, dtype, flag);
  flag.queue_readback();
  at::Tensor out = launch_quantize(input, dtype, QuantParams{}, resolved.params);
  raise_if_failed(flag, op, [&] {
    const HostValues v = read_on_host(op, p, quant_min, quant_max);
    check_quant_range(op, v.quant_min, v.quant_max, dtype);
    check_scale(op, v.scale);
    check_zero_point(op, v.zero_point, v.quant_min, v.quant_max);
  });
  return out;
}

at::Tensor dequantize_tensor_params(const char* op, const at::Tensor& input, const TensorParams& p,
                                    int64_t quant_min, int64_t quant_max, at::ScalarType dtype,
                                    c10::optional<at::ScalarType> out_dtype) {
  const at::ScalarType out_scalar_type = out_dtype.value_or(at::kFloat);
  if (on_host(p) || !device_readable(p) || !is_quant_type(dtype) || !is_loop_float(out_scalar_type)) {
    const HostValues v = read_on_host(op, p, quant_min, quant_max);
    return dequantize(op, input, v.scale, v.zero_point, v.quant_min, v.quant_max, dtype, out_dtype);
  }
  check_dequantize_input(op, input, dtype, out_scalar_type);
  check_cuda_input(op, input);
  if (!p.quant_min.defined()) check_quant_range(op, quant_min, quant_max, dtype);
  c10::cuda::CUDAGuard guard(input.device());
  DeviceFlag flag(op, input);
  const auto resolved = resolve_on_device<DequantParams>(op, input, p, quant_min, quant_max, dtype, flag);
  flag.queue_readback();
  at::Tensor out = launch_dequantize(input, out_scalar_type, DequantParams{}, resolved.params);
  raise_if_failed(flag, op, [&] {
    const HostValues v = read_on_host(op, p, quant_min, quant_max);
    check_quant_range(op, v.quant_min, v.quant_max, dtype);
    check_scale(op, v.scale);
    check_zero_point(op, v.zero_point, v.quant_min, v.quant_max);
  });
  return out;
}

// ---- registered kernels --------------------------------------------------------------

at::Tensor quantize_per_tensor(const at::Tensor& input, double scale, int64_t zero_point, int64_t quant_min,
                               int64_t quant_max, at::ScalarType dtype) {
  return quantize("quantized_decomposed::quantize_per_tensor", input, scale, zero_point, quant_min, quant_max,
                  dtype);
}

at::Tensor quantize_per_tensor_tensor(const at::Tensor& input, const at::Tensor& scale,
                                      const at::Tensor& zero_point, int64_t quant_min, int64_t quant_max,
                                      at::ScalarType dtype) {
  return quantize_tensor_params("quantized_decomposed::quantize_per_tensor.tensor", input,
                                {scale, zero_point, at::Tensor(), at::Tensor()}, quant_min, quant_max, dtype);
}

at::Tensor quantize_per_tensor_tensor2(const at::Tensor& input, const at::Tensor& scale,
                                       const at::Tensor& zero_point, const at::Tensor& quant_min,
                                       const at::Tensor& quant_max, at::ScalarType dtype) {
  return quantize_tensor_params("quantized_decomposed::quantize_per_tensor.tensor2", input,
                                {scale, zero_point, quant_min, quant_max}, 0, 0, dtype);
}

at::Tensor dequantize_per_tensor(const at::Tensor& input, double scale, int64_t zero_point, int64_t quant_min,
                                 int64_t quant_max, at::ScalarType dtype, c10::optional<at::ScalarType> out_dtype) {
  return dequantize("quantized_decomposed::dequantize_per_tensor", input, scale, zero_point, quant_min, quant_max,
                    dtype, out_dtype);
}

at::Tensor dequantize_per_tensor_tensor(const at::Tensor& input, const at::Tensor& scale,
                                        const at::Tensor& zero_point, int64_t quant_min, int64_t quant_max,
                                        at::ScalarType dtype, c10::optional<at::ScalarType> out_dtype) {
  return dequantize_tensor_params("quantized_decomposed::dequantize_per_tensor.tensor", input,
                                  {scale, zero_point, at::Tensor(), at::Tensor()}, quant_min, quant_max, dtype,
                                  out_dtype);
}

at::Tensor dequantize_per_tensor_tensor2(const at::Tensor& input, const at::Tensor& scale,
                                         const at::Tensor& zero_point, const at::Tensor& quant_min,
                                         const at::Tensor& quant_max, at::ScalarType dtype,
                                         c10::optional<at::ScalarType> out_dtype) {
  return dequantize_tensor_params("quantized_decomposed::dequantize_per_tensor.tensor2", input,
                                  {scale, zero_point, quant_min, quant_max}, 0, 0, dtype, out_dtype);
}

}  // namespace

TORCH_LIBRARY_IMPL(quantized_decomposed, CUDA, m) {
  m.impl("quantize_per_tensor", TORCH_FN(quantize_per_tensor));
  m.impl("quantize_per_tensor.tensor", TORCH_FN(quantize_per_tensor_tensor));
  m.impl("quantize_per_tensor.tensor2", TORCH_FN(quantize_per_tensor_tensor2));
  m.impl("dequantize_per_tensor", TORCH_FN(dequantize_per_tensor));
  m.impl("dequantize_per_tensor.tensor", TORCH_FN(dequantize_per_tensor_tensor));
  m.impl("dequantize_per_tensor.tensor2", TORCH_FN(dequantize_per_tensor_tensor2));
}

}  // namespace cuda
}  // namespace kernels
}  // namespace torch_pt2e
