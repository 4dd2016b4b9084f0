// The arithmetic contract of the quantized_decomposed ops, written once.
//
// Every CPU loop (compiled once per instruction set) and every CUDA kernel
// computes a quantized or dequantized element through these helpers, so all
// of them agree bit for bit with each other and with upstream's Python ops
// (torch/ao/quantization/fx/_decomposed.py), whose tensor arithmetic they
// reproduce step by step: the same operations, in the same order, in the same
// precision, with one rounding per step.
//
// Rules the callers rely on:
//  * No fused multiply-add: each `mul_rn`/`add_rn` rounds on its own. Host code
//    is compiled with -ffp-contract=off; device code uses the _rn intrinsics.
//  * round() is round-half-to-even (torch.round), under the default rounding
//    mode, i.e. nearbyint.
//  * Defined behaviour where upstream's is undefined (documented in
//    docs/numerics.md): NaN quantizes to the zero point; values beyond the
//    range of int32 saturate instead of wrapping to INT32_MIN.
//
// All functions have internal linkage (`static`): each instruction-set variant
// of the CPU loops gets its own copy, so the linker can never pick an AVX-512
// copy for code that runs on a machine without it.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#define PT2E_HD __host__ __device__ __forceinline__
#else
#define PT2E_HD inline
#endif

namespace torch_pt2e {
namespace numerics {

// ---- rounding-exact primitives ---------------------------------------------

static PT2E_HD float mul_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}
static PT2E_HD double mul_rn(double a, double b) {
#if defined(__CUDA_ARCH__)
  return __dmul_rn(a, b);
#else
  return a * b;
#endif
}
static PT2E_HD float add_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fadd_rn(a, b);
#else
  return a + b;
#endif
}
static PT2E_HD double add_rn(double a, double b) {
#if defined(__CUDA_ARCH__)
  return __dadd_rn(a, b);
#else
  return a + b;
#endif
}
static PT2E_HD float sub_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fsub_rn(a, b);
#else
  return a - b;
#endif
}
static PT2E_HD double sub_rn(double a, double b) {
#if defined(__CUDA_ARCH__)
  return __dsub_rn(a, b);
#else
  return a - b;
#endif
}

// torch.round: half to even.
static PT2E_HD float round_half_even(float v) {
#if defined(__CUDA_ARCH__)
  return rintf(v);
#else
  return __builtin_nearbyintf(v);
#endif
}
static PT2E_HD double round_half_even(double v) {
#if defined(__CUDA_ARCH__)
  return rint(v);
#else
  return __builtin_nearbyint(v);
#endif
}

// torch.clamp(v, lo, hi) keeps NaN; the NaN policy is applied by the callers.
template <typename T>
static PT2E_HD T clamp(T v, T lo, T hi) {
  v = v < lo ? lo : v;
  return v > hi ? hi : v;
}

// ---- scale conversions ------------------------------------------------------

// quantize_per_tensor: `inv_scale = 1.0 / scale` is a Python double, and an
// fp32 tensor times a Python float multiplies in fp32.
static PT2E_HD float per_tensor_inv_scale(double scale) {
  return static_cast<float>(1.0 / scale);
}
// quantize_per_channel / per_token / per_channel_group: `1.0 / scales` is a
// tensor reciprocal in the scales' own dtype.
static PT2E_HD float tensor_reciprocal(float scale) { return 1.0f / scale; }
static PT2E_HD double tensor_reciprocal(double scale) { return 1.0 / scale; }

// ---- quantize ---------------------------------------------------------------

// Per-tensor and per-channel order: round(x * inv) + zp, then clamp.
// Returns an integral value in [qmin, qmax] in the compute type T.
template <typename T>
static PT2E_HD T quantize_round_then_add(T x, T inv_scale, T zero_point, T qmin, T qmax) {
  T r = add_rn(round_half_even(mul_rn(x, inv_scale)), zero_point);
  r = r != r ? zero_point : r;  // NaN input -> the code of 0.0
  return clamp(r, qmin, qmax);
}

// Per-token and per-channel-group order: round(x * inv + zp), then clamp.
// The zero point is added before rounding, so ties can round differently.
template <typename T>
static PT2E_HD T quantize_add_then_round(T x, T inv_scale, T zero_point, T qmin, T qmax) {
  T r = round_half_even(add_rn(mul_rn(x, inv_scale), zero_point));
  r = r != r ? round_half_even(zero_point) : r;
  return clamp(r, qmin, qmax);
}

// Converts an integral value already clamped to [qmin, qmax] to the storage
// type. Only int32 can see values (2^31 after float rounding of INT32_MAX)
// that do not fit; those saturate and are clamped again in the integer domain.
template <typename Q, typename T>
static PT2E_HD Q to_quantized(T v, int64_t qmin, int64_t qmax) {
  if (sizeof(Q) < 4) {
    return static_cast<Q>(static_cast<int32_t>(v));
  }
  int64_t i = v >= static_cast<T>(2147483648.0) ? int64_t(2147483647)
              : v < static_cast<T>(-2147483648.0) ? -int64_t(2147483647) - 1
                                                  : static_cast<int64_t>(static_cast<int32_t>(v));
  i = i < qmin ? qmin : i;
  i = i > qmax ? qmax : i;
  return static_cast<Q>(i);
}

// ---- reduced-precision floats (bit-exact with c10::Half / c10::BFloat16) ----

static PT2E_HD float bits_to_float(uint32_t bits) {
  float f;
  memcpy(&f, &bits, sizeof(f));
  return f;
}
static PT2E_HD uint32_t float_to_bits(float f) {
  uint32_t bits;
  memcpy(&bits, &f, sizeof(bits));
  return bits;
}

static PT2E_HD float bf16_to_float(uint16_t h) { return bits_to_float(static_cast<uint32_t>(h) << 16); }

// Round to nearest even, NaN to the canonical quiet NaN (as c10::BFloat16).
static PT2E_HD uint16_t float_to_bf16(float f) {
  if (f != f) return 0x7FC0;
  uint32_t u = float_to_bits(f);
  u += ((u >> 16) & 1u) + 0x7FFFu;
  return static_cast<uint16_t>(u >> 16);
}

// IEEE binary16 conversions, exact for every input (denormals included).
static PT2E_HD float half_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exponent = (h >> 10) & 0x1Fu;
  uint32_t mantissa = h & 0x3FFu;
  if (exponent == 0x1F) return bits_to_float(sign | 0x7F800000u | (mantissa << 13));
  if (exponent != 0) return bits_to_float(sign | ((exponent + 112u) << 23) | (mantissa << 13));
  if (mantissa == 0) return bits_to_float(sign);
  // Denormal: value = mantissa * 2^-24, exact in float.
  const float magnitude = static_cast<float>(mantissa) * 5.9604644775390625e-8f;
  return sign ? -magnitude : magnitude;
}

static PT2E_HD uint16_t float_to_half(float f) {
  const uint32_t bits = float_to_bits(f);
  const uint16_t sign = static_cast<uint16_t>((bits >> 16) & 0x8000u);
  const uint32_t abs_bits = bits & 0x7FFFFFFFu;
  if (abs_bits > 0x7F800000u) return sign | 0x7E00u;              // NaN
  if (abs_bits >= 0x477FF000u) return sign | 0x7C00u;             // rounds to inf
  if (abs_bits < 0x38800000u) {                                   // half denormal or zero
    // Adding 0.5 makes the float unit do the round-to-nearest-even at 2^-24.
    const float magnitude = bits_to_float(abs_bits) + 0.5f;
    return sign | static_cast<uint16_t>(float_to_bits(magnitude) - 0x3F000000u);
  }
  uint32_t u = abs_bits + 0xC8000FFFu + ((abs_bits >> 13) & 1u);  // rebias 127->15, round
  return sign | static_cast<uint16_t>(u >> 13);
}

// ---- dequantize -------------------------------------------------------------

// dequantize_per_tensor with fp32 output: (q.to(f32) - zp) * scale, where the
// Python int zp and float scale become fp32 scalars.
static PT2E_HD float dequantize_per_tensor_f32(float q, float zero_point, float scale) {
  return mul_rn(sub_rn(q, zero_point), scale);
}
static PT2E_HD double dequantize_per_tensor_f64(double q, double zero_point, double scale) {
  return mul_rn(sub_rn(q, zero_point), scale);
}

// With a bf16/fp16 out_dtype each tensor op rounds back to that type: the cast
// of q, the subtraction (zp was converted to the reduced type, as a CPU scalar
// operand is), and the multiplication (scale stays fp32, as ATen's
// reduced-float scalar multiply keeps it).
template <uint16_t (*FromFloat)(float), float (*ToFloat)(uint16_t)>
static PT2E_HD uint16_t dequantize_per_tensor_reduced(float q, float zero_point, float scale) {
  const float qr = ToFloat(FromFloat(q));
  const float zr = ToFloat(FromFloat(zero_point));
  const float diff = ToFloat(FromFloat(sub_rn(qr, zr)));
  return FromFloat(mul_rn(diff, scale));
}
static PT2E_HD uint16_t dequantize_per_tensor_bf16(float q, float zero_point, float scale) {
  return dequantize_per_tensor_reduced<float_to_bf16, bf16_to_float>(q, zero_point, scale);
}
static PT2E_HD uint16_t dequantize_per_tensor_f16(float q, float zero_point, float scale) {
  return dequantize_per_tensor_reduced<float_to_half, half_to_float>(q, zero_point, scale);
}

// ---- out_dtype (torch_pt2e::out_dtype_* ops) ---------------------------------

// Integer mm / linear / convolution results are int32 sums modulo 2^32: what
// upstream's int32 matmul gives (it wraps), and exact whenever the true sum
// fits, which for int8 operands holds up to K = 131072. Kernels accumulate in
// any order with wrapping (unsigned or SIMD) adds, so every ISA agrees.

// `tensor.to(torch.int32)` of a float or double on x86 CPUs (cvttss2si /
// cvttps2dq, which ATen's casts compile to): truncation toward zero, and
// NaN, infinities and values outside the int32 range give INT32_MIN (the
// "integer indefinite"), which is what torch returns there. Written without
// the undefined C++ cast so every compiler and device gives the same.
static PT2E_HD int32_t truncate_to_int32(float v) {
  return (v >= -2147483648.0f && v < 2147483648.0f) ? static_cast<int32_t>(v) : INT32_MIN;
}
static PT2E_HD int32_t truncate_to_int32(double v) {
  return (v > -2147483649.0 && v < 2147483648.0) ? static_cast<int32_t>(v) : INT32_MIN;
}

}  // namespace numerics
}  // namespace torch_pt2e
