// CUDA kernels of the torch_pt2e::out_dtype_* ops, with the CPU kernels'
// rules (kernels/cpu/out_dtype_kernel.cpp): the same promotion, checks and
// result sizes (kernels/out_dtype_checks.h), then
//  * int8/uint8/int16 operands computing in int32 into int32 (mm, linear, 2-D
//    convolution): integer kernels here, sums modulo 2^32 like the CPU's GEMM
//    (any order of wrapping adds gives the same bits);
//  * mul/div of an int32 or float32 tensor by one factor, computing in
//    float32 into int32: one element-wise kernel with numerics.h's truncation;
//  * anything else: the ATen op on the promoted tensors, then the cast, as
//    upstream's out_dtype does it (ATen has no CUDA integer matmul, so those
//    raise ATen's error, as upstream does).
#include <algorithm>
#include <cstdint>

#include <ATen/ATen.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/util/accumulate.h>
#include <torch/library.h>

#include "kernels/cuda/cuda_kernel_utils.h"
#include "kernels/cuda/loops.cuh"
#include "kernels/kernel_utils.h"
#include "kernels/numerics.h"
#include "kernels/out_dtype_checks.h"

namespace torch_pt2e {
namespace kernels {
namespace cuda {
namespace {

bool is_gemm_operand(at::ScalarType dtype) { return dtype == at::kChar || dtype == at::kByte || dtype == at::kShort; }

// int8/uint8/int16 CUDA tensors on the first operand's device, int32 compute and result.
bool integer_gemm_applies(at::ScalarType compute, at::ScalarType out_dtype,
                          std::initializer_list<at::Tensor> operands) {
  if (compute != at::kInt || out_dtype != at::kInt) return false;
  const c10::Device device = operands.begin()->device();
  for (const auto& t : operands) {
    if (!t.is_cuda() || t.device() != device || t.layout() != at::kStrided || !is_gemm_operand(t.scalar_type())) {
      return false;
    }
  }
  return true;
}

// A bias the kernels add themselves: one integer of at most 32 bits per output, on the device.
bool int32_bias_applies(const c10::optional<at::Tensor>& bias, int64_t count, const at::Tensor& input) {
  if (!bias.has_value() || !bias->defined()) return true;
  const auto dtype = bias->scalar_type();
  const bool integer = dtype == at::kChar || dtype == at::kByte || dtype == at::kShort || dtype == at::kInt;
  return integer && bias->device() == input.device() && bias->dim() == 1 && bias->size(0) == count;
}

at::Tensor int32_bias(const c10::optional<at::Tensor>& bias) {
  if (!bias.has_value() || !bias->defined()) return at::Tensor();
  return bias->to(at::kInt).contiguous();
}

const int32_t* data_or_null(const at::Tensor& t) { return t.defined() ? t.data_ptr<int32_t>() : nullptr; }

c10::optional<at::Tensor> cast(const c10::optional<at::Tensor>& t, at::ScalarType dtype) {
  if (!t.has_value() || !t->defined()) return t;
  return t->to(dtype);
}

template <typename Fn>
void with_gemm_type(at::ScalarType dtype, const Fn& fn) {
  switch (dtype) {
    case at::kChar:
      fn(int8_t());
      return;
    case at::kByte:
      fn(uint8_t());
      return;
    case at::kShort:
      fn(int16_t());
      return;
    default:
      TORCH_INTERNAL_ASSERT(false, "no integer GEMM for ", dtype);
  }
}

// ---- integer GEMM -------------------------------------------------------------------

constexpr int kTile = 16;

struct Strided {
  int64_t rows, cols, row_stride, col_stride;
};

// c[m * ldc + n] = sum_k a[m, k] * b[k, n] + col_bias[n] (mod 2^32): 16 x 16
// tiles through shared memory; row tiles beyond the grid's y limit loop.
template <typename TA, typename TB>
__global__ void __launch_bounds__(kTile* kTile)
    int_gemm_kernel(const TA* __restrict__ a, Strided a_shape, const TB* __restrict__ b, Strided b_shape,
                    const int32_t* __restrict__ col_bias, int32_t* __restrict__ c, int64_t ldc) {
  __shared__ int32_t a_tile[kTile][kTile + 1];
  __shared__ int32_t b_tile[kTile][kTile + 1];
  const int64_t m_size = a_shape.rows, k_size = a_shape.cols, n_size = b_shape.cols;
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int64_t col = static_cast<int64_t>(blockIdx.x) * kTile + tx;
  const int64_t row_tiles = (m_size + kTile - 1) / kTile;
  for (int64_t row_tile = blockIdx.y; row_tile < row_tiles; row_tile += gridDim.y) {
    const int64_t row = row_tile * kTile + ty;
    uint32_t acc = 0;  // unsigned: wrapping adds are defined
    for (int64_t k0 = 0; k0 < k_size; k0 += kTile) {
      a_tile[ty][tx] = row < m_size && k0 + tx < k_size
                           ? static_cast<int32_t>(a[row * a_shape.row_stride + (k0 + tx) * a_shape.col_stride])
                           : 0;
      b_tile[ty][tx] = k0 + ty < k_size && col < n_size
                           ? static_cast<int32_t>(b[(k0 + ty) * b_shape.row_stride + col * b_shape.col_stride])
                           : 0;
      __syncthreads();
#pragma unroll
      for (int k = 0; k < kTile; ++k) {
        acc += static_cast<uint32_t>(a_tile[ty][k]) * static_cast<uint32_t>(b_tile[k][tx]);
      }
      __syncthreads();
    }
    if (row < m_size && col < n_size) {
      if (col_bias != nullptr) acc += static_cast<uint32_t>(col_bias[col]);
      c[row * ldc + col] = static_cast<int32_t>(acc);
    }
  }
}

Strided strided(const at::Tensor& t) { return {t.size(0), t.size(1), t.stride(0), t.stride(1)}; }

// a: M x K, b: K x N (any strides, elements of a_dtype / b_dtype); c: M x N contiguous int32.
void int_gemm(const void* a, at::ScalarType a_dtype, Strided a_shape, const void* b, at::ScalarType b_dtype,
              Strided b_shape, const int32_t* col_bias, int32_t* c) {
  const int64_t m_size = a_shape.rows, n_size = b_shape.cols;
  if (m_size == 0 || n_size == 0) return;
  const dim3 block(kTile, kTile);
  const dim3 grid(static_cast<unsigned>((n_size + kTile - 1) / kTile),
                  static_cast<unsigned>(std::min<int64_t>((m_size + kTile - 1) / kTile, 65535)));
  TORCH_CHECK((n_size + kTile - 1) / kTile <= INT32_MAX, "torch_pt2e::out_dtype: ", n_size,
              " output columns exceed the CUDA grid");
  with_gemm_type(a_dtype, [&](auto a_type) {
    using TA = decltype(a_type);
    with_gemm_type(b_dtype, [&](auto b_type) {
      using TB = decltype(b_type);
      int_gemm_kernel<TA, TB><<<grid, block, 0, at::cuda::getCurrentCUDAStream()>>>(
          static_cast<const TA*>(a), a_shape, static_cast<const TB*>(b), b_shape, col_bias, c, n_size);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    });
  });
}

// ---- integer 2-D convolution ------------------------------------------------------

struct ConvShape {
  int64_t batch, in_channels, in_h, in_w;
  int64_t out_channels, kernel_h, kernel_w, out_h, out_w;
  int64_t stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w;
  int64_t groups;
};

// One output element per thread and step (cross-correlation as
// torch.nn.functional.conv2d, mod 2^32); x and w contiguous, out NCHW.
template <typename TX, typename TW>
__global__ void __launch_bounds__(kThreads)
    int_conv2d_kernel(const TX* __restrict__ x, const TW* __restrict__ w, const int32_t* __restrict__ bias,
                      int32_t* __restrict__ out, ConvShape s, int64_t total) {
  const int64_t channels_per_group = s.in_channels / s.groups;
  const int64_t outputs_per_group = s.out_channels / s.groups;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t o = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; o < total; o += stride) {
    const int64_t ow = o % s.out_w;
    int64_t rest = o / s.out_w;
    const int64_t oh = rest % s.out_h;
    rest /= s.out_h;
    const int64_t oc = rest % s.out_channels;
    const int64_t n = rest / s.out_channels;
    const int64_t first_channel = (oc / outputs_per_group) * channels_per_group;
    uint32_t acc = bias != nullptr ? static_cast<uint32_t>(bias[oc]) : 0u;
    for (int64_t c = 0; c < channels_per_group; ++c) {
      const TX* plane = x + ((n * s.in_channels + first_channel + c) * s.in_h) * s.in_w;
      const TW* taps = w + (oc * channels_per_group + c) * s.kernel_h * s.kernel_w;
      for (int64_t kh = 0; kh < s.kernel_h; ++kh) {
        const int64_t ih = oh * s.stride_h - s.pad_h + kh * s.dilation_h;
        if (ih < 0 || ih >= s.in_h) continue;
        for (int64_t kw = 0; kw < s.kernel_w; ++kw) {
          const int64_t iw = ow * s.stride_w - s.pad_w + kw * s.dilation_w;
          if (iw < 0 || iw >= s.in_w) continue;
          acc += static_cast<uint32_t>(static_cast<int32_t>(plane[ih * s.in_w + iw])) *
                 static_cast<uint32_t>(static_cast<int32_t>(taps[kh * s.kernel_w + kw]));
        }
      }
    }
    out[o] = static_cast<int32_t>(acc);
  }
}

// ---- mm / linear / convolution ------------------------------------------------

at::Tensor mm(const at::Tensor& self, const at::Tensor& mat2, at::ScalarType out_dtype) {
  constexpr const char* op = "torch_pt2e::out_dtype_mm";
  const auto sizes = out_dtype_mm_sizes(op, self, mat2);
  const auto compute = OutDtypePromotion(op, out_dtype).tensor("self", self).tensor("mat2", mat2).compute_dtype();
  c10::cuda::OptionalCUDAGuard guard(self.device());
  if (!integer_gemm_applies(compute, out_dtype, {self, mat2})) {
    return at::mm(self.to(compute), mat2.to(compute)).to(out_dtype);
  }
  at::Tensor out = at::empty(sizes, self.options().dtype(at::kInt));
  int_gemm(self.data_ptr(), self.scalar_type(), strided(self), mat2.data_ptr(), mat2.scalar_type(), strided(mat2),
           nullptr, out.data_ptr<int32_t>());
  return out;
}

at::Tensor linear(const at::Tensor& input, const at::Tensor& weight, const c10::optional<at::Tensor>& bias,
                  at::ScalarType out_dtype) {
  constexpr const char* op = "torch_pt2e::out_dtype_linear";
  const auto sizes = out_dtype_linear_sizes(op, input, weight, bias);
  const auto compute = OutDtypePromotion(op, out_dtype)
                           .tensor("input", input)
                           .tensor("weight", weight)
                           .tensor("bias", bias)
                           .compute_dtype();
  c10::cuda::OptionalCUDAGuard guard(input.device());
  if (!integer_gemm_applies(compute, out_dtype, {input, weight}) || weight.dim() != 2 ||
      !int32_bias_applies(bias, weight.size(0), input)) {
    return at::linear(input.to(compute), weight.to(compute), cast(bias, compute)).to(out_dtype);
  }
  const int64_t k_size = weight.size(1), n_size = weight.size(0);
  const int64_t m_size = c10::multiply_integers(input.sizes().begin(), input.sizes().end() - 1);
  const at::Tensor rows = input.reshape({m_size, k_size});
  const at::Tensor bias32 = int32_bias(bias);
  at::Tensor out = at::empty({m_size, n_size}, input.options().dtype(at::kInt));
  // B = weight^T: B[k, n] = weight[n, k].
  const Strided b{k_size, n_size, weight.stride(1), weight.stride(0)};
  int_gemm(rows.data_ptr(), rows.scalar_type(), strided(rows), weight.data_ptr(), weight.scalar_type(), b,
           data_or_null(bias32), out.data_ptr<int32_t>());
  return out.view(sizes);
}

at::Tensor convolution(const at::Tensor& input, const at::Tensor& weight, const c10::optional<at::Tensor>& bias,
                       at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation, bool transposed,
                       at::IntArrayRef output_padding, int64_t groups, at::ScalarType out_dtype) {
  constexpr const char* op = "torch_pt2e::out_dtype_convolution";
  const auto sizes = out_dtype_convolution_sizes(op, input, weight, bias, stride, padding, dilation, transposed,
                                                 output_padding, groups);
  const auto compute = OutDtypePromotion(op, out_dtype)
                           .tensor("input", input)
                           .tensor("weight", weight)
                           .tensor("bias", bias)
                           .integer_number()
                           .compute_dtype();
  c10::cuda::OptionalCUDAGuard guard(input.device());
  if (!integer_gemm_applies(compute, out_dtype, {input, weight}) || weight.dim() != 4 || transposed ||
      !int32_bias_applies(bias, sizes[1], input)) {
    return at::convolution(input.to(compute), weight.to(compute), cast(bias, compute), stride, padding, dilation,
                           transposed, output_padding, groups)
        .to(out_dtype);
  }
  const auto strides = expand_conv_param(stride, 2), pads = expand_conv_param(padding, 2),
             dilations = expand_conv_param(dilation, 2);
  const ConvShape shape{input.size(0), input.size(1), input.size(2), input.size(3), weight.size(0), weight.size(2),
                        weight.size(3), sizes[2],      sizes[3],      strides[0],    strides[1],    pads[0],
                        pads[1],        dilations[0],  dilations[1],  groups};
  const at::Tensor x = input.contiguous(), w = weight.contiguous(), bias32 = int32_bias(bias);
  at::Tensor out = at::empty(sizes, input.options().dtype(at::kInt));
  const int64_t total = out.numel();
  if (total > 0) {
    with_gemm_type(x.scalar_type(), [&](auto x_type) {
      using TX = decltype(x_type);
      with_gemm_type(w.scalar_type(), [&](auto w_type) {
        using TW = decltype(w_type);
        int_conv2d_kernel<TX, TW><<<static_cast<unsigned>(grid_size(total)), kThreads, 0,
                                    at::cuda::getCurrentCUDAStream()>>>(
            static_cast<const TX*>(x.data_ptr()), static_cast<const TW*>(w.data_ptr()), data_or_null(bias32),
            out.data_ptr<int32_t>(), shape, total);
        C10_CUDA_KERNEL_LAUNCH_CHECK();
      });
    });
  }
  // As ATen's convolution: a channels-last input gives a channels-last result.
  return out.contiguous(input.suggest_memory_format());
}

// ---- mul / div -------------------------------------------------------------------

// out = truncate_to_int32(float(x) op factor); `device_factor`, when set,
// replaces `factor` (a one-element float32 tensor on the GPU).
template <typename S, bool kDivide>
struct ScaleElement {
  float factor;
  const float* device_factor;

  __device__ void prepare() {
    if (device_factor != nullptr) factor = *device_factor;
  }
  template <int kVec>
  __device__ void apply(int64_t, const S (&x)[kVec], int32_t (&y)[kVec]) const {
#pragma unroll
    for (int k = 0; k < kVec; ++k) {
      const float v = static_cast<float>(x[k]);
      y[k] = nm::truncate_to_int32(kDivide ? nm::div_rn(v, factor) : nm::mul_rn(v, factor));
    }
  }
  __device__ void finish() {}
};

template <bool kDivide>
at::Tensor scale_by_factor(const at::Tensor& self, float factor, const float* device_factor) {
  const at::Tensor src = dense(self);
  at::Tensor out = at::empty_like(src, src.options().dtype(at::kInt));
  const auto stream = at::cuda::getCurrentCUDAStream();
  if (src.scalar_type() == at::kFloat) {
    launch_map<float, int32_t>(src.data_ptr(), out.data_ptr(), src.numel(),
                               ScaleElement<float, kDivide>{factor, device_factor}, stream);
  } else {
    launch_map<int32_t, int32_t>(src.data_ptr(), out.data_ptr(), src.numel(),
                                 ScaleElement<int32_t, kDivide>{factor, device_factor}, stream);
  }
  return out;
}

// The reference representation's requantization: an int32 accumulator (or a
// float32 bias) and one factor, computing in float32, into int32.
bool scale_applies(const at::Tensor& self, at::ScalarType compute, at::ScalarType out_dtype) {
  const auto dtype = self.scalar_type();
  return out_dtype == at::kInt && compute == at::kFloat && (dtype == at::kInt || dtype == at::kFloat) &&
         self.is_cuda() && self.layout() == at::kStrided;
}

template <bool kDivide>
at::Tensor scale_tensor(const at::Tensor& self, const at::Tensor& other, at::ScalarType out_dtype) {
  const char* op = kDivide ? "torch_pt2e::out_dtype_div.Tensor" : "torch_pt2e::out_dtype_mul.Tensor";
  out_dtype_broadcast_sizes(op, self, other);
  const auto compute = OutDtypePromotion(op, out_dtype).tensor("self", self).tensor("other", other).compute_dtype();
  c10::cuda::OptionalCUDAGuard guard(self.device());
  // One factor for every element (the result then has self's shape): read
  // on the host when it is there, else by the kernel (no synchronization).
  if (scale_applies(self, compute, out_dtype) && other.numel() == 1 && other.dim() <= self.dim()) {
    if (other.device().is_cpu()) return scale_by_factor<kDivide>(self, other.to(at::kFloat).item<float>(), nullptr);
    if (other.device() == self.device()) {
      const at::Tensor factor = other.to(at::kFloat).contiguous();
      return scale_by_factor<kDivide>(self, 0.0f, factor.data_ptr<float>());
    }
  }
  const at::Tensor a = self.to(compute), b = other.to(compute);
  return (kDivide ? at::div(a, b) : at::mul(a, b)).to(out_dtype);
}

// A Python number in float32, as ATen's wrapped-number cast does it.
float scalar_as_float(const at::Scalar& value) {
  if (value.isFloatingPoint()) return static_cast<float>(value.toDouble());
  if (value.isBoolean()) return value.toBool() ? 1.0f : 0.0f;
  return static_cast<float>(value.toLong());
}

template <bool kDivide>
at::Tensor scale_scalar(const at::Tensor& self, const at::Scalar& other, at::ScalarType out_dtype) {
  const char* op = kDivide ? "torch_pt2e::out_dtype_div.Scalar" : "torch_pt2e::out_dtype_mul.Scalar";
  const auto compute = OutDtypePromotion(op, out_dtype).tensor("self", self).number(other).compute_dtype();
  c10::cuda::OptionalCUDAGuard guard(self.device());
  if (scale_applies(self, compute, out_dtype) && !other.isComplex()) {
    return scale_by_factor<kDivide>(self, scalar_as_float(other), nullptr);
  }
  const at::Tensor a = self.to(compute);
  return (kDivide ? at::div(a, other) : at::mul(a, other)).to(out_dtype);
}

}  // namespace

TORCH_LIBRARY_IMPL(torch_pt2e, CUDA, m) {
  m.impl("out_dtype_mm", TORCH_FN(mm));
  m.impl("out_dtype_linear", TORCH_FN(linear));
  m.impl("out_dtype_convolution", TORCH_FN(convolution));
  m.impl("out_dtype_mul.Tensor", TORCH_FN(scale_tensor<false>));
  m.impl("out_dtype_mul.Scalar", TORCH_FN(scale_scalar<false>));
  m.impl("out_dtype_div.Tensor", TORCH_FN(scale_tensor<true>));
  m.impl("out_dtype_div.Scalar", TORCH_FN(scale_scalar<true>));
}

}  // namespace cuda
}  // namespace kernels
}  // namespace torch_pt2e
