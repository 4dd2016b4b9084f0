// Body of one instruction-set variant of the CPU loops (see loops.h).
//
// Included by loops_<isa>.cpp after defining TORCH_PT2E_CPU_ISA (the namespace
// name), TORCH_PT2E_CPU_ISA_NAME (a string) and TORCH_PT2E_CPU_TABLE (the
// accessor's name). Everything here lives
// in that namespace or has internal linkage, so the variants never share a
// symbol. Only raw-pointer C++ and <immintrin.h>: no ATen/c10 headers, whose
// inline functions would otherwise be compiled with this file's ISA flags.
#include <cstdint>
#include <cstring>

#if defined(__F16C__) || defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "kernels/cpu/loops.h"
#include "kernels/numerics.h"

#if !defined(TORCH_PT2E_CPU_ISA) || !defined(TORCH_PT2E_CPU_ISA_NAME) || !defined(TORCH_PT2E_CPU_TABLE)
#error "define TORCH_PT2E_CPU_ISA and TORCH_PT2E_CPU_TABLE before including loops_impl.h"
#endif

namespace torch_pt2e {
namespace kernels {
namespace cpu {
namespace TORCH_PT2E_CPU_ISA {

namespace nm = ::torch_pt2e::numerics;

// Reduced-precision inputs are widened chunk by chunk into a stack buffer,
// then run through the fp32 loop (the widening is exact, as upstream's
// `input.to(torch.float32)`).
constexpr int64_t kChunk = 512;

template <typename Q>
struct QuantStorage;
template <> struct QuantStorage<uint8_t> { static constexpr QuantType kType = QuantType::kUInt8; };
template <> struct QuantStorage<int8_t> { static constexpr QuantType kType = QuantType::kInt8; };
template <> struct QuantStorage<uint16_t> { static constexpr QuantType kType = QuantType::kUInt16; };
template <> struct QuantStorage<int16_t> { static constexpr QuantType kType = QuantType::kInt16; };
template <> struct QuantStorage<int32_t> { static constexpr QuantType kType = QuantType::kInt32; };

static inline int64_t min_i64(int64_t a, int64_t b) { return a < b ? a : b; }

static void widen_half(const uint16_t* __restrict in, float* __restrict out, int64_t n) {
  int64_t i = 0;
#if defined(__AVX512F__)
  for (; i + 16 <= n; i += 16) {
    _mm512_storeu_ps(out + i, _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(in + i))));
  }
#elif defined(__F16C__)
  for (; i + 8 <= n; i += 8) {
    _mm256_storeu_ps(out + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(in + i))));
  }
#endif
  for (; i < n; ++i) out[i] = nm::half_to_float(in[i]);
}

static void widen_bf16(const uint16_t* __restrict in, float* __restrict out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = nm::bf16_to_float(in[i]);
}

// ---- quantize ---------------------------------------------------------------

template <typename Q>
static void quantize_f32(const float* __restrict in, Q* __restrict out, int64_t n, const AffineQuantParams& p) {
  const float inv = p.inv_scale, zp = p.zero_point, lo = p.quant_min, hi = p.quant_max;
  const int64_t lo_i = p.quant_min_int, hi_i = p.quant_max_int;
  for (int64_t i = 0; i < n; ++i) {
    out[i] = nm::to_quantized<Q>(nm::quantize_round_then_add(in[i], inv, zp, lo, hi), lo_i, hi_i);
  }
}

template <typename Q>
static void quantize_per_tensor_float(const void* in, void* out, int64_t n, const AffineQuantParams& p) {
  quantize_f32(static_cast<const float*>(in), static_cast<Q*>(out), n, p);
}

template <typename Q, void (*Widen)(const uint16_t*, float*, int64_t)>
static void quantize_per_tensor_reduced(const void* in, void* out, int64_t n, const AffineQuantParams& p) {
  const uint16_t* src = static_cast<const uint16_t*>(in);
  Q* dst = static_cast<Q*>(out);
  float buffer[kChunk];
  for (int64_t base = 0; base < n; base += kChunk) {
    const int64_t m = min_i64(kChunk, n - base);
    Widen(src + base, buffer, m);
    quantize_f32(buffer, dst + base, m, p);
  }
}

// ---- dequantize -------------------------------------------------------------

template <typename Q>
static void dequantize_per_tensor_to_float(const void* in, void* out, int64_t n, const AffineDequantParams& p) {
  const Q* __restrict src = static_cast<const Q*>(in);
  float* __restrict dst = static_cast<float*>(out);
  const float zp = p.zero_point, scale = p.scale;
  for (int64_t i = 0; i < n; ++i) dst[i] = nm::dequantize_per_tensor_f32(static_cast<float>(src[i]), zp, scale);
}

template <typename Q>
static void dequantize_per_tensor_to_double(const void* in, void* out, int64_t n, const AffineDequantParams& p) {
  const Q* __restrict src = static_cast<const Q*>(in);
  double* __restrict dst = static_cast<double*>(out);
  const double zp = p.zero_point_double, scale = p.scale_double;
  for (int64_t i = 0; i < n; ++i) dst[i] = nm::dequantize_per_tensor_f64(static_cast<double>(src[i]), zp, scale);
}

template <typename Q, uint16_t (*Convert)(float, float, float)>
static void dequantize_per_tensor_to_reduced(const void* in, void* out, int64_t n, const AffineDequantParams& p) {
  const Q* __restrict src = static_cast<const Q*>(in);
  uint16_t* __restrict dst = static_cast<uint16_t*>(out);
  const float zp = p.zero_point, scale = p.scale;
  for (int64_t i = 0; i < n; ++i) dst[i] = Convert(static_cast<float>(src[i]), zp, scale);
}

// ---- table ------------------------------------------------------------------

template <typename Q>
static void fill_quant_type(Loops& t) {
  const int q = static_cast<int>(QuantStorage<Q>::kType);
  t.quantize_per_tensor[static_cast<int>(FloatType::kFloat)][q] = quantize_per_tensor_float<Q>;
  t.quantize_per_tensor[static_cast<int>(FloatType::kHalf)][q] = quantize_per_tensor_reduced<Q, widen_half>;
  t.quantize_per_tensor[static_cast<int>(FloatType::kBFloat16)][q] = quantize_per_tensor_reduced<Q, widen_bf16>;
  t.dequantize_per_tensor[q][static_cast<int>(FloatType::kFloat)] = dequantize_per_tensor_to_float<Q>;
  t.dequantize_per_tensor[q][static_cast<int>(FloatType::kDouble)] = dequantize_per_tensor_to_double<Q>;
  t.dequantize_per_tensor[q][static_cast<int>(FloatType::kHalf)] =
      dequantize_per_tensor_to_reduced<Q, nm::dequantize_per_tensor_f16>;
  t.dequantize_per_tensor[q][static_cast<int>(FloatType::kBFloat16)] =
      dequantize_per_tensor_to_reduced<Q, nm::dequantize_per_tensor_bf16>;
}

static Loops make_table(const char* name) {
  Loops t;
  std::memset(&t, 0, sizeof(t));
  t.isa_name = name;
  fill_quant_type<uint8_t>(t);
  fill_quant_type<int8_t>(t);
  fill_quant_type<uint16_t>(t);
  fill_quant_type<int16_t>(t);
  fill_quant_type<int32_t>(t);
  return t;
}

}  // namespace TORCH_PT2E_CPU_ISA

const Loops& TORCH_PT2E_CPU_TABLE() {
  static const Loops table = TORCH_PT2E_CPU_ISA::make_table(TORCH_PT2E_CPU_ISA_NAME);
  return table;
}

}  // namespace cpu
}  // namespace kernels
}  // namespace torch_pt2e
