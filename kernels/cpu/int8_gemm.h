// Exact integer matrix products for the out_dtype ops: int8, uint8 or int16
// operands, int32 results modulo 2^32 (numerics.h, out_dtype section).
//
// A GEMM is split into tasks (a panel of B columns x a block of A rows) that
// run on ATen's thread pool; each task packs its panel of B (kernels in
// int8_gemm_microkernels.h) and sweeps register tiles down its rows. int8 x
// int8 runs on the u8s8 kernel where the instruction set has one (AVX-512
// VNNI), every other operand pair on the s16 kernel.
//
// 2-D convolution is the same GEMM per image and group: A is the weight
// (output channels x input channels * kh * kw), B the image seen through the
// kernel window. With stride 1 the image is copied once with its zero padding,
// and B's row for tap (c, kh, kw) is that copy shifted by (kh, kw), read
// across padded rows: the columns that fall in the padding are computed and
// dropped. Other strides gather an im2col buffer first.
#pragma once

#include <cstdint>

#include "kernels/cpu/int8_gemm_microkernels.h"

namespace torch_pt2e {
namespace kernels {
namespace cpu {

// Element (i, j) lies at `data` + (i * row_stride + j * col_stride) elements.
struct IntMatrix {
  const void* data;
  IntElem elem;
  int64_t rows;
  int64_t cols;
  int64_t row_stride;
  int64_t col_stride;
};

// c[m * ldc + n] = sum_k a[m, k] * b[k, n] + row_bias[m] + col_bias[n],
// modulo 2^32, for the M x N result of a (M x K) and b (K x N). Either bias
// may be null. Runs on the instruction set `isa` (int8_gemm_isa_supported).
void int8_gemm(const Int8GemmIsa& isa, const IntMatrix& a, const IntMatrix& b, const int32_t* row_bias,
               const int32_t* col_bias, int32_t* c, int64_t ldc);

struct IntConv2dShape {
  int64_t batch, in_channels, in_h, in_w;
  int64_t out_channels, kernel_h, kernel_w;
  int64_t stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w;
  int64_t groups;
  int64_t out_h() const { return (in_h + 2 * pad_h - dilation_h * (kernel_h - 1) - 1) / stride_h + 1; }
  int64_t out_w() const { return (in_w + 2 * pad_w - dilation_w * (kernel_w - 1) - 1) / stride_w + 1; }
};

// Cross-correlation as torch.nn.functional.conv2d, modulo 2^32: `input` is
// contiguous NCHW, `weight` contiguous (out_channels, in_channels / groups,
// kernel_h, kernel_w), `bias` null or one value per output channel, `out`
// contiguous NCHW. Sizes must be valid (checked by the caller). Images are
// processed in chunks whose padded copies / im2col buffers stay within
// scratch_limit_bytes (one image at least).
constexpr int64_t kDefaultConvScratchBytes = int64_t{64} << 20;
void int8_conv2d(const Int8GemmIsa& isa, const IntConv2dShape& shape, const void* input, IntElem input_elem,
                 const void* weight, IntElem weight_elem, const int32_t* bias, int32_t* out,
                 int64_t scratch_limit_bytes = kDefaultConvScratchBytes);

// The table for this CPU, lowered by TORCH_PT2E_CPU_CAPABILITY (cpu_capability.h):
// avx512vnni, avx2 or default.
const Int8GemmIsa& int8_gemm_isa();

// Whether this CPU can run `isa` (whatever TORCH_PT2E_CPU_CAPABILITY says).
bool int8_gemm_isa_supported(const Int8GemmIsa& isa);

}  // namespace cpu
}  // namespace kernels
}  // namespace torch_pt2e
