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

static PT2E_HD float div_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fdiv_rn(a, b);
#else
  return a / b;
#endif
}
static PT2E_HD double div_rn(double a, double b) {
#if defined(__CUDA_ARCH__)
  return __ddiv_rn(a, b);
#else
  return a / b;
#endif
}
// Integer differences (q - zero_point) are exact; these overloads let the
// dequantize helpers be written once for integer and floating zero points.
static PT2E_HD int32_t sub_rn(int32_t a, int32_t b) { return a - b; }
static PT2E_HD int64_t sub_rn(int64_t a, int64_t b) { return a - b; }

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
// (On CUDA, computed on the device when the scale is a GPU tensor.)
static PT2E_HD float per_tensor_inv_scale(double scale) {
  return static_cast<float>(div_rn(1.0, scale));
}
// quantize_per_channel / per_token / per_channel_group: `1.0 / scales` is a
// tensor reciprocal in the scales' own dtype.
static PT2E_HD float tensor_reciprocal(float scale) { return div_rn(1.0f, scale); }
static PT2E_HD double tensor_reciprocal(double scale) { return div_rn(1.0, scale); }

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

// ---- fake_quant_per_channel --------------------------------------------------

// t = round(x * (1 / s)) + zp, the value before clamping (the gradient mask
// is qmin <= t <= qmax).
static PT2E_HD float fake_quantize_unclamped(float x, float inv_scale, float zero_point) {
  return add_rn(round_half_even(mul_rn(x, inv_scale)), zero_point);
}
// (clamp(t, qmin, qmax) - zp) * s; NaN stays NaN, as upstream's.
static PT2E_HD float fake_quantize_output(float t, float zero_point, float scale, float qmin, float qmax) {
  return mul_rn(sub_rn(clamp(t, qmin, qmax), zero_point), scale);
}

// ---- tensor arithmetic in a storage type ------------------------------------
//
// choose_qparams* compute with 0-d or per-row tensors of the input's dtype.
// ATen evaluates each float16/bfloat16 op in float and rounds the result to
// the storage type; these policies let one template replay such a chain of
// tensor ops for every dtype. `rounded(v)` is the value the tensor holds.
// `kReduced`: the storage type is narrower than value_type.
struct Float32Arith {
  using value_type = float;
  static constexpr bool kReduced = false;
  static PT2E_HD float rounded(float v) { return v; }
};
struct Float64Arith {
  using value_type = double;
  static constexpr bool kReduced = false;
  static PT2E_HD double rounded(double v) { return v; }
};
struct BFloat16Arith {
  using value_type = float;
  static constexpr bool kReduced = true;
  static PT2E_HD float rounded(float v) { return bf16_to_float(float_to_bf16(v)); }
};
struct Float16Arith {
  using value_type = float;
  static constexpr bool kReduced = true;
  static PT2E_HD float rounded(float v) { return half_to_float(float_to_half(v)); }
};

// ---- per-channel / per-token / per-group chains in any compute dtype --------
//
// Upstream evaluates these ops as tensor expressions whose dtype follows
// torch's promotion of the input, scales and zero points (float32, float64,
// or bfloat16/float16 when those are all reduced); A is that arithmetic.

// quantize_per_channel: round(x * inv) + zp, clamped (bounds already in A).
template <typename A>
static PT2E_HD typename A::value_type quantize_round_then_add_in(
    typename A::value_type x, typename A::value_type inv_scale, typename A::value_type zero_point,
    typename A::value_type qmin, typename A::value_type qmax) {
  typename A::value_type r = A::rounded(add_rn(round_half_even(A::rounded(mul_rn(x, inv_scale))), zero_point));
  r = r != r ? zero_point : r;  // NaN input -> the code of 0.0
  return clamp(r, qmin, qmax);
}

// quantize_per_token / per_channel_group: round(x * inv + zp), clamped.
template <typename A>
static PT2E_HD typename A::value_type quantize_add_then_round_in(
    typename A::value_type x, typename A::value_type inv_scale, typename A::value_type zero_point,
    typename A::value_type qmin, typename A::value_type qmax) {
  typename A::value_type r = round_half_even(A::rounded(add_rn(A::rounded(mul_rn(x, inv_scale)), zero_point)));
  r = r != r ? round_half_even(zero_point) : r;
  return clamp(r, qmin, qmax);
}

// Dequantize's `q - zp` with floating zero points: q converted to the
// difference's dtype (D), then subtracted in it. Integer zero points use the
// exact integer sub_rn instead.
template <typename D, typename Q>
static PT2E_HD typename D::value_type quantized_minus_zero_point(Q q, typename D::value_type zero_point) {
  using T = typename D::value_type;
  return D::rounded(sub_rn(D::rounded(static_cast<T>(q)), zero_point));
}

// Dequantize's `difference * scales` in the product's arithmetic C (the
// difference, integer or floating, converted to C first).
template <typename C, typename Difference>
static PT2E_HD typename C::value_type times_scale(Difference difference, typename C::value_type scale) {
  using T = typename C::value_type;
  return C::rounded(mul_rn(C::rounded(static_cast<T>(difference)), scale));
}

// to_quantized for chains whose clamp bounds were rounded to a reduced dtype
// (bfloat16(32767) = 32768): saturate in the integer domain as well.
template <typename Q, typename T>
static PT2E_HD Q to_quantized_saturating(T v, int64_t qmin, int64_t qmax) {
  int64_t i = v >= static_cast<T>(2147483648.0) ? int64_t(2147483647)
              : v < static_cast<T>(-2147483648.0) ? -int64_t(2147483647) - 1
                                                  : static_cast<int64_t>(static_cast<int32_t>(v));
  i = i < qmin ? qmin : i;
  i = i > qmax ? qmax : i;
  return static_cast<Q>(i);
}

// The code a per-channel / per-token / per-group chain in arithmetic A
// stores: clamp bounds rounded to a reduced dtype can exceed the integer
// range (bfloat16(32767) = 32768), so those chains saturate in the integer
// domain as well.
template <typename A, typename Q>
static PT2E_HD Q to_quantized_in(typename A::value_type v, int64_t qmin, int64_t qmax) {
  return A::kReduced ? to_quantized_saturating<Q>(v, qmin, qmax) : to_quantized<Q>(v, qmin, qmax);
}

struct QParams {
  double scale;
  int64_t zero_point;
};

// choose_qparams.tensor: determine_qparams (torch/ao/quantization/utils.py),
// per_tensor_affine, from the input's min and max. The range and its
// quotient by the Python float (qmax - qmin) are 0-d tensors of the input's
// dtype (A); torch.max(scale, eps) promotes to the fp32 eps tensor; the zero
// point is qmin - round(min_neg / scale), clamped. Returns a non-finite scale
// when the range overflows the input's dtype (callers reject it).
template <typename A>
static PT2E_HD QParams choose_qparams_affine(float min_val, float max_val, int64_t quant_min, int64_t quant_max,
                                             float eps) {
  const float min_neg = min_val < 0.0f ? min_val : 0.0f;
  const float max_pos = max_val > 0.0f ? max_val : 0.0f;
  // A Python float operand of a float tensor op becomes a float (for
  // float16/bfloat16 too: ATen keeps it in the float compute type).
  const float levels = static_cast<float>(static_cast<double>(quant_max - quant_min));
  float scale = A::rounded(div_rn(A::rounded(sub_rn(max_pos, min_neg)), levels));
  scale = scale < eps ? eps : scale;
  const float steps = round_half_even(div_rn(min_neg, scale));
  // int64 instead of upstream's int32 cast, which overflows only for full int32 ranges.
  const int64_t zero_point = quant_min - static_cast<int64_t>(steps);
  return {scale, clamp(zero_point, quant_min, quant_max)};
}

// choose_qparams_symmetric.tensor: determine_qparams, per_tensor_symmetric:
// max(-min_neg, max_pos) / ((qmax - qmin) / 2), at least eps; zero point 0,
// or 128 for uint8 (has_customized_qrange is False for this op).
template <typename A>
static PT2E_HD QParams choose_qparams_symmetric(float min_val, float max_val, int64_t quant_min, int64_t quant_max,
                                                float eps, bool is_uint8) {
  const float min_neg = min_val < 0.0f ? min_val : 0.0f;
  const float max_pos = max_val > 0.0f ? max_val : 0.0f;
  const float amax = -min_neg > max_pos ? -min_neg : max_pos;
  const float half_levels = static_cast<float>(static_cast<double>(quant_max - quant_min) / 2.0);
  float scale = A::rounded(div_rn(amax, half_levels));
  scale = scale < eps ? eps : scale;
  return {scale, is_uint8 ? int64_t(128) : int64_t(0)};
}

// _choose_qparams_per_token_asymmetric_impl for one row (after XNNPACK):
// qmin, qmax = -128, 127 whatever the dtype; every step is a tensor op in the
// input's dtype; the zero point comes from the side with the smaller error,
// is clamped, then rounded.
template <typename A>
static PT2E_HD QParams choose_qparams_per_token_asymmetric(typename A::value_type min_val,
                                                           typename A::value_type max_val) {
  using T = typename A::value_type;
  const T zero = 0, qmin = -128, qmax = 127;
  // torch.finfo(torch.float32).eps = 2^-23, exact in every floating dtype.
  const T eps = static_cast<T>(1.1920928955078125e-07);
  const T min_neg = min_val < zero ? min_val : zero;
  const T max_pos = max_val > zero ? max_val : zero;
  T scale = A::rounded(div_rn(A::rounded(sub_rn(max_pos, min_neg)), static_cast<T>(255)));
  scale = scale < eps ? eps : scale;
  const T descaled_min = A::rounded(div_rn(min_neg, scale));
  const T descaled_max = A::rounded(div_rn(max_pos, scale));
  const T from_min_error = A::rounded(add_rn(qmin, descaled_min));
  const T from_max_error = A::rounded(add_rn(qmax, descaled_max));
  T zero_point = A::rounded(add_rn(from_min_error, from_max_error)) > zero ? A::rounded(sub_rn(qmin, descaled_min))
                                                                           : A::rounded(sub_rn(qmax, descaled_max));
  zero_point = round_half_even(clamp(zero_point, qmin, qmax));
  return {static_cast<double>(scale), static_cast<int64_t>(zero_point)};
}

// choose_qparams_per_token for one row: max|x| clamped to 1e-5 (the bound
// converted to the scales' dtype, as ATen's clamp does), divided by 127.
// A is the scales' arithmetic: the input's, except float16 -> float32.
template <typename A>
static PT2E_HD typename A::value_type choose_scale_per_token_symmetric(typename A::value_type abs_max) {
  using T = typename A::value_type;
  const T lower = A::rounded(static_cast<T>(1e-5));
  const T clamped = abs_max < lower ? lower : abs_max;
  return A::rounded(div_rn(clamped, static_cast<T>(127)));
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
