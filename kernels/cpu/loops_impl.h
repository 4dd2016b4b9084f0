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
#include <type_traits>

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

// ---- storage types -----------------------------------------------------------

template <FloatType F>
struct FloatStorage;
template <> struct FloatStorage<FloatType::kFloat> { using type = float; };
template <> struct FloatStorage<FloatType::kDouble> { using type = double; };
template <> struct FloatStorage<FloatType::kHalf> { using type = uint16_t; };
template <> struct FloatStorage<FloatType::kBFloat16> { using type = uint16_t; };

// The arithmetic of each compute / difference dtype (kernels/numerics.h).
template <ComputeType C>
struct ArithOf;
template <> struct ArithOf<ComputeType::kFloat> { using type = nm::Float32Arith; };
template <> struct ArithOf<ComputeType::kDouble> { using type = nm::Float64Arith; };
template <> struct ArithOf<ComputeType::kBFloat16> { using type = nm::BFloat16Arith; };
template <> struct ArithOf<ComputeType::kHalf> { using type = nm::Float16Arith; };

template <FloatType F>
static inline float to_float(typename FloatStorage<F>::type v) {
  if constexpr (F == FloatType::kHalf) {
    return nm::half_to_float(v);
  } else if constexpr (F == FloatType::kBFloat16) {
    return nm::bf16_to_float(v);
  } else {
    return static_cast<float>(v);
  }
}

// Exact widening of n inputs to the compute type (an input never has more
// precision than the type it promotes to).
template <FloatType F, typename C>
static void widen(const typename FloatStorage<F>::type* __restrict in, C* __restrict out, int64_t n) {
  if constexpr (F == FloatType::kHalf && sizeof(C) == 4) {
    widen_half(in, out, n);
  } else if constexpr (F == FloatType::kBFloat16 && sizeof(C) == 4) {
    widen_bf16(in, out, n);
  } else if constexpr (F == FloatType::kHalf || F == FloatType::kBFloat16) {
    for (int64_t i = 0; i < n; ++i) out[i] = static_cast<C>(to_float<F>(in[i]));
  } else {
    for (int64_t i = 0; i < n; ++i) out[i] = static_cast<C>(in[i]);
  }
}

// Calls fn(const C* values, int64_t offset, int64_t m) over [0, n) of `in`,
// widened to C chunk by chunk (or in place when the storage already is C).
template <FloatType F, typename C, typename Fn>
static void for_each_widened(const typename FloatStorage<F>::type* in, int64_t n, Fn&& fn) {
  if constexpr (std::is_same<typename FloatStorage<F>::type, C>::value) {
    fn(in, int64_t{0}, n);
  } else {
    C buffer[kChunk];
    for (int64_t base = 0; base < n; base += kChunk) {
      const int64_t m = min_i64(kChunk, n - base);
      widen<F, C>(in + base, buffer, m);
      fn(static_cast<const C*>(buffer), base, m);
    }
  }
}

// Conversion of a computed value to the output's storage; float16/bfloat16
// go through float, as c10::Half/c10::BFloat16 are built from a float.
template <FloatType F, typename C>
static inline typename FloatStorage<F>::type narrow(C v) {
  if constexpr (F == FloatType::kHalf) {
    return nm::float_to_half(static_cast<float>(v));
  } else if constexpr (F == FloatType::kBFloat16) {
    return nm::float_to_bf16(static_cast<float>(v));
  } else {
    return static_cast<typename FloatStorage<F>::type>(v);
  }
}

// Splits [begin, end) into segments with one parameter entry (run(offset, n,
// entry)) or, for inner == 1, into stretches of one period walked in step with
// the parameter arrays (stride(offset, n, first_entry)).
template <typename RunFn, typename StrideFn>
static void for_each_segment(int64_t begin, int64_t end, const ParamLayout& layout, RunFn&& run,
                             StrideFn&& stride) {
  int64_t o = begin;
  if (layout.inner == 1) {
    while (o < end) {
      const int64_t phase = o % layout.entries;
      const int64_t n = min_i64(end - o, layout.entries - phase);
      stride(o, n, phase);
      o += n;
    }
  } else {
    while (o < end) {
      const int64_t entry = (o / layout.inner) % layout.entries;
      const int64_t n = min_i64(end - o, layout.inner - o % layout.inner);
      run(o, n, entry);
      o += n;
    }
  }
}

// ---- per-channel / per-token / per-group quantize ---------------------------

template <RoundingOrder Order, typename A>
static inline typename A::value_type quantize_value(typename A::value_type x, typename A::value_type inv_scale,
                                                    typename A::value_type zero_point, typename A::value_type lo,
                                                    typename A::value_type hi) {
  if constexpr (Order == RoundingOrder::kRoundThenAdd) {
    return nm::quantize_round_then_add_in<A>(x, inv_scale, zero_point, lo, hi);
  } else {
    return nm::quantize_add_then_round_in<A>(x, inv_scale, zero_point, lo, hi);
  }
}

template <ComputeType Compute, typename Q, typename T>
static inline Q store_quantized(T v, int64_t lo_i, int64_t hi_i) {
  return nm::to_quantized_in<typename ArithOf<Compute>::type, Q>(v, lo_i, hi_i);
}

template <RoundingOrder Order, ComputeType Compute, typename Q>
static void quantize_run(const typename ArithOf<Compute>::type::value_type* __restrict in, Q* __restrict out,
                         int64_t n, typename ArithOf<Compute>::type::value_type inv_scale,
                         typename ArithOf<Compute>::type::value_type zero_point,
                         typename ArithOf<Compute>::type::value_type lo, typename ArithOf<Compute>::type::value_type hi,
                         int64_t lo_i, int64_t hi_i) {
  using A = typename ArithOf<Compute>::type;
  for (int64_t i = 0; i < n; ++i) {
    out[i] = store_quantized<Compute, Q>(quantize_value<Order, A>(in[i], inv_scale, zero_point, lo, hi), lo_i, hi_i);
  }
}

template <RoundingOrder Order, ComputeType Compute, typename Q>
static void quantize_stride(const typename ArithOf<Compute>::type::value_type* __restrict in, Q* __restrict out,
                            int64_t n, const typename ArithOf<Compute>::type::value_type* __restrict inv_scale,
                            const typename ArithOf<Compute>::type::value_type* __restrict zero_point,
                            typename ArithOf<Compute>::type::value_type lo,
                            typename ArithOf<Compute>::type::value_type hi, int64_t lo_i, int64_t hi_i) {
  using A = typename ArithOf<Compute>::type;
  for (int64_t i = 0; i < n; ++i) {
    out[i] = store_quantized<Compute, Q>(quantize_value<Order, A>(in[i], inv_scale[i], zero_point[i], lo, hi), lo_i,
                                         hi_i);
  }
}

template <RoundingOrder Order, ComputeType Compute, FloatType F, typename Q>
static void quantize_channels(const void* in, void* out, int64_t begin, int64_t end, const ChannelQuantParams& p) {
  using A = typename ArithOf<Compute>::type;
  using C = typename A::value_type;
  const auto* src = static_cast<const typename FloatStorage<F>::type*>(in);
  Q* dst = static_cast<Q*>(out);
  const C* inv = static_cast<const C*>(p.inv_scale);
  const C* zp = static_cast<const C*>(p.zero_point);
  // torch.clamp converts its bounds to the tensor's dtype.
  const C lo = A::rounded(static_cast<C>(p.quant_min)), hi = A::rounded(static_cast<C>(p.quant_max));
  const int64_t lo_i = p.quant_min_int, hi_i = p.quant_max_int;
  for_each_segment(
      begin, end, p.layout,
      [&](int64_t o, int64_t n, int64_t entry) {
        for_each_widened<F, C>(src + o, n, [&](const C* x, int64_t at, int64_t m) {
          quantize_run<Order, Compute>(x, dst + o + at, m, inv[entry], zp[entry], lo, hi, lo_i, hi_i);
        });
      },
      [&](int64_t o, int64_t n, int64_t phase) {
        for_each_widened<F, C>(src + o, n, [&](const C* x, int64_t at, int64_t m) {
          quantize_stride<Order, Compute>(x, dst + o + at, m, inv + phase + at, zp + phase + at, lo, hi, lo_i, hi_i);
        });
      });
}

// ---- per-channel / per-token / per-group dequantize --------------------------

// `q - zp`: exact in int32 for narrow inputs with in-range zero points, int64
// for int32 inputs; floating zero points subtract in their own dtype.
template <DifferenceType Dt, typename Q>
struct Difference {
  using type = typename std::conditional<(sizeof(Q) < 4), int32_t, int64_t>::type;
  using zero_point_type = int32_t;
  static inline type of(Q q, zero_point_type zp) { return nm::sub_rn(static_cast<type>(q), static_cast<type>(zp)); }
};
template <typename A, typename Q>
struct FloatingDifference {
  using type = typename A::value_type;
  using zero_point_type = typename A::value_type;
  static inline type of(Q q, zero_point_type zp) { return nm::quantized_minus_zero_point<A>(q, zp); }
};
template <typename Q>
struct Difference<DifferenceType::kFloat, Q> : FloatingDifference<nm::Float32Arith, Q> {};
template <typename Q>
struct Difference<DifferenceType::kDouble, Q> : FloatingDifference<nm::Float64Arith, Q> {};
template <typename Q>
struct Difference<DifferenceType::kBFloat16, Q> : FloatingDifference<nm::BFloat16Arith, Q> {};
template <typename Q>
struct Difference<DifferenceType::kHalf, Q> : FloatingDifference<nm::Float16Arith, Q> {};

template <DifferenceType Dt, ComputeType Compute, typename Q, FloatType F>
static void dequantize_channels(const void* in, void* out, int64_t begin, int64_t end,
                                const ChannelDequantParams& p) {
  using D = Difference<Dt, Q>;
  using A = typename ArithOf<Compute>::type;
  using C = typename A::value_type;
  using Zp = typename D::zero_point_type;
  using Out = typename FloatStorage<F>::type;
  const Q* src = static_cast<const Q*>(in);
  Out* dst = static_cast<Out*>(out);
  const C* scale = static_cast<const C*>(p.scale);
  const Zp* zp = static_cast<const Zp*>(p.zero_point);
  for_each_segment(
      begin, end, p.layout,
      [&](int64_t o, int64_t n, int64_t entry) {
        const C s = scale[entry];
        const Zp z = zp[entry];
        const Q* __restrict q = src + o;
        Out* __restrict y = dst + o;
        for (int64_t i = 0; i < n; ++i) y[i] = narrow<F>(nm::times_scale<A>(D::of(q[i], z), s));
      },
      [&](int64_t o, int64_t n, int64_t phase) {
        const C* __restrict s = scale + phase;
        const Zp* __restrict z = zp + phase;
        const Q* __restrict q = src + o;
        Out* __restrict y = dst + o;
        for (int64_t i = 0; i < n; ++i) y[i] = narrow<F>(nm::times_scale<A>(D::of(q[i], z[i]), s[i]));
      });
}

// ---- fake_quant_per_channel ---------------------------------------------------

// The mask is stored as bytes computed without short-circuit (`&`), which
// the compiler vectorizes along with the values.
static void fake_quantize_run(const float* __restrict x, float* __restrict y, bool* __restrict in_range, int64_t n,
                              float inv, float zp, float s, float lo, float hi) {
  if (in_range == nullptr) {
    for (int64_t i = 0; i < n; ++i) {
      y[i] = nm::fake_quantize_output(nm::fake_quantize_unclamped(x[i], inv, zp), zp, s, lo, hi);
    }
    return;
  }
  for (int64_t i = 0; i < n; ++i) {
    const float t = nm::fake_quantize_unclamped(x[i], inv, zp);
    y[i] = nm::fake_quantize_output(t, zp, s, lo, hi);
    in_range[i] = (t >= lo) & (t <= hi);
  }
}

static void fake_quantize_stride(const float* __restrict x, float* __restrict y, bool* __restrict in_range,
                                 int64_t n, const float* __restrict inv, const float* __restrict zp,
                                 const float* __restrict s, float lo, float hi) {
  if (in_range == nullptr) {
    for (int64_t i = 0; i < n; ++i) {
      y[i] = nm::fake_quantize_output(nm::fake_quantize_unclamped(x[i], inv[i], zp[i]), zp[i], s[i], lo, hi);
    }
    return;
  }
  for (int64_t i = 0; i < n; ++i) {
    const float t = nm::fake_quantize_unclamped(x[i], inv[i], zp[i]);
    y[i] = nm::fake_quantize_output(t, zp[i], s[i], lo, hi);
    in_range[i] = (t >= lo) & (t <= hi);
  }
}

static void fake_quantize_channels(const float* in, float* out, bool* mask, int64_t begin, int64_t end,
                                   const FakeQuantParams& p) {
  const float lo = p.quant_min, hi = p.quant_max;
  for_each_segment(
      begin, end, p.layout,
      [&](int64_t o, int64_t n, int64_t entry) {
        fake_quantize_run(in + o, out + o, mask != nullptr ? mask + o : nullptr, n, p.inv_scale[entry],
                          p.zero_point[entry], p.scale[entry], lo, hi);
      },
      [&](int64_t o, int64_t n, int64_t phase) {
        fake_quantize_stride(in + o, out + o, mask != nullptr ? mask + o : nullptr, n, p.inv_scale + phase,
                             p.zero_point + phase, p.scale + phase, lo, hi);
      });
}

// ---- reductions -----------------------------------------------------------------

// The reductions keep one accumulator per lane of a 64-byte GCC vector (the
// compiler lowers it to the instruction set at hand: 4 SSE, 2 AVX2 or 1
// AVX-512 register). Lane-wise `v < lo ? v : lo` is exact, so no float
// reassociation is needed; NaNs never win a comparison and are flagged apart.
typedef float FloatLanes __attribute__((vector_size(64)));
typedef int32_t FloatLaneMask __attribute__((vector_size(64)));
typedef double DoubleLanes __attribute__((vector_size(64)));
typedef int64_t DoubleLaneMask __attribute__((vector_size(64)));

template <typename T>
struct Lanes;
template <>
struct Lanes<float> {
  static constexpr int kCount = 16;
  using Value = FloatLanes;
  using Mask = FloatLaneMask;
};
template <>
struct Lanes<double> {
  static constexpr int kCount = 8;
  using Value = DoubleLanes;
  using Mask = DoubleLaneMask;
};

template <typename T>
struct LaneExtremes {
  typename Lanes<T>::Value lo, hi;
  typename Lanes<T>::Mask nan;
};

// (Vectors are passed by reference: the baseline variant has no 64-byte
// registers, and by-value vector arguments would change its calling convention.)
template <typename T>
static inline void load_lanes(const T* in, typename Lanes<T>::Value& v) {
  std::memcpy(&v, in, sizeof(v));
}

template <typename T>
static void initialize(LaneExtremes<T>& acc, T lo, T hi) {
  for (int j = 0; j < Lanes<T>::kCount; ++j) {
    acc.lo[j] = lo;
    acc.hi[j] = hi;
    acc.nan[j] = 0;
  }
}

template <typename T>
static void min_max_block(const T* in, int64_t n, LaneExtremes<T>& acc) {
  constexpr int kCount = Lanes<T>::kCount;
  auto lo = acc.lo, hi = acc.hi;
  auto nan = acc.nan;
  int64_t i = 0;
  for (; i + kCount <= n; i += kCount) {
    typename Lanes<T>::Value v;
    load_lanes(in + i, v);
    lo = v < lo ? v : lo;
    hi = v > hi ? v : hi;
    nan |= v != v;
  }
  for (int j = 0; i < n; ++i, ++j) {
    const T v = in[i];
    lo[j] = v < lo[j] ? v : lo[j];
    hi[j] = v > hi[j] ? v : hi[j];
    nan[j] |= v != v;
  }
  acc.lo = lo;
  acc.hi = hi;
  acc.nan = nan;
}

template <FloatType F>
static MinMax min_max(const void* in, int64_t n) {
  using C = typename std::conditional<F == FloatType::kDouble, double, float>::type;
  LaneExtremes<C> acc;
  initialize<C>(acc, __builtin_inf(), -__builtin_inf());
  for_each_widened<F, C>(static_cast<const typename FloatStorage<F>::type*>(in), n,
                         [&](const C* x, int64_t, int64_t m) { min_max_block(x, m, acc); });
  MinMax result{static_cast<double>(acc.lo[0]), static_cast<double>(acc.hi[0]), acc.nan[0] != 0};
  for (int j = 1; j < Lanes<C>::kCount; ++j) {
    result.min = acc.lo[j] < result.min ? acc.lo[j] : result.min;
    result.max = acc.hi[j] > result.max ? acc.hi[j] : result.max;
    result.has_nan = result.has_nan || acc.nan[j] != 0;
  }
  return result;
}

template <typename T>
static void abs_max_block(const T* in, int64_t n, LaneExtremes<T>& acc) {
  constexpr int kCount = Lanes<T>::kCount;
  auto hi = acc.hi;
  auto nan = acc.nan;
  const typename Lanes<T>::Value zero = {};
  int64_t i = 0;
  for (; i + kCount <= n; i += kCount) {
    typename Lanes<T>::Value v;
    load_lanes(in + i, v);
    const typename Lanes<T>::Value a = v < zero ? -v : v;
    hi = a > hi ? a : hi;
    nan |= v != v;
  }
  for (int j = 0; i < n; ++i, ++j) {
    const T v = in[i];
    const T a = v < 0 ? -v : v;
    hi[j] = a > hi[j] ? a : hi[j];
    nan[j] |= v != v;
  }
  acc.hi = hi;
  acc.nan = nan;
}

template <FloatType F>
static AbsMax abs_max(const void* in, int64_t n) {
  using C = typename std::conditional<F == FloatType::kDouble, double, float>::type;
  LaneExtremes<C> acc;
  initialize<C>(acc, 0, 0);
  for_each_widened<F, C>(static_cast<const typename FloatStorage<F>::type*>(in), n,
                         [&](const C* x, int64_t, int64_t m) { abs_max_block(x, m, acc); });
  AbsMax result{static_cast<double>(acc.hi[0]), acc.nan[0] != 0};
  for (int j = 1; j < Lanes<C>::kCount; ++j) {
    result.max = acc.hi[j] > result.max ? acc.hi[j] : result.max;
    result.has_nan = result.has_nan || acc.nan[j] != 0;
  }
  return result;
}

// ---- table ------------------------------------------------------------------

template <RoundingOrder Order, ComputeType Compute, FloatType F, typename Q>
static constexpr void fill_quantize_channels(Loops& t) {
  t.quantize_channels[static_cast<int>(Order)][static_cast<int>(Compute)][static_cast<int>(F)]
                     [static_cast<int>(QuantStorage<Q>::kType)] = quantize_channels<Order, Compute, F, Q>;
}

template <RoundingOrder Order, typename Q>
static constexpr void fill_quantize_orders(Loops& t) {
  fill_quantize_channels<Order, ComputeType::kFloat, FloatType::kFloat, Q>(t);
  fill_quantize_channels<Order, ComputeType::kFloat, FloatType::kHalf, Q>(t);
  fill_quantize_channels<Order, ComputeType::kFloat, FloatType::kBFloat16, Q>(t);
  fill_quantize_channels<Order, ComputeType::kDouble, FloatType::kFloat, Q>(t);
  fill_quantize_channels<Order, ComputeType::kDouble, FloatType::kHalf, Q>(t);
  fill_quantize_channels<Order, ComputeType::kDouble, FloatType::kBFloat16, Q>(t);
  fill_quantize_channels<Order, ComputeType::kDouble, FloatType::kDouble, Q>(t);
  fill_quantize_channels<Order, ComputeType::kBFloat16, FloatType::kBFloat16, Q>(t);
  fill_quantize_channels<Order, ComputeType::kHalf, FloatType::kHalf, Q>(t);
}

template <DifferenceType Dt, ComputeType Compute, typename Q>
static constexpr void fill_dequantize_channels(Loops& t) {
  auto& d = t.dequantize_channels[static_cast<int>(Dt)][static_cast<int>(Compute)]
                                 [static_cast<int>(QuantStorage<Q>::kType)];
  d[static_cast<int>(FloatType::kFloat)] = dequantize_channels<Dt, Compute, Q, FloatType::kFloat>;
  d[static_cast<int>(FloatType::kDouble)] = dequantize_channels<Dt, Compute, Q, FloatType::kDouble>;
  d[static_cast<int>(FloatType::kHalf)] = dequantize_channels<Dt, Compute, Q, FloatType::kHalf>;
  d[static_cast<int>(FloatType::kBFloat16)] = dequantize_channels<Dt, Compute, Q, FloatType::kBFloat16>;
}

template <typename Q>
static constexpr void fill_channels(Loops& t) {
  fill_quantize_orders<RoundingOrder::kRoundThenAdd, Q>(t);
  fill_quantize_orders<RoundingOrder::kAddThenRound, Q>(t);
  // The compute type is the promotion of the difference with the scales' dtype.
  fill_dequantize_channels<DifferenceType::kInteger, ComputeType::kFloat, Q>(t);
  fill_dequantize_channels<DifferenceType::kInteger, ComputeType::kDouble, Q>(t);
  fill_dequantize_channels<DifferenceType::kInteger, ComputeType::kBFloat16, Q>(t);
  fill_dequantize_channels<DifferenceType::kInteger, ComputeType::kHalf, Q>(t);
  fill_dequantize_channels<DifferenceType::kFloat, ComputeType::kFloat, Q>(t);
  fill_dequantize_channels<DifferenceType::kFloat, ComputeType::kDouble, Q>(t);
  fill_dequantize_channels<DifferenceType::kDouble, ComputeType::kDouble, Q>(t);
  fill_dequantize_channels<DifferenceType::kBFloat16, ComputeType::kBFloat16, Q>(t);
  fill_dequantize_channels<DifferenceType::kBFloat16, ComputeType::kFloat, Q>(t);
  fill_dequantize_channels<DifferenceType::kBFloat16, ComputeType::kDouble, Q>(t);
  fill_dequantize_channels<DifferenceType::kHalf, ComputeType::kHalf, Q>(t);
  fill_dequantize_channels<DifferenceType::kHalf, ComputeType::kFloat, Q>(t);
  fill_dequantize_channels<DifferenceType::kHalf, ComputeType::kDouble, Q>(t);
}

template <FloatType F>
static constexpr void fill_reductions(Loops& t) {
  t.min_max[static_cast<int>(F)] = min_max<F>;
  t.abs_max[static_cast<int>(F)] = abs_max<F>;
}

template <typename Q>
static constexpr void fill_quant_type(Loops& t) {
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

static constexpr Loops make_table(const char* name) {
  Loops t{};
  t.isa_name = name;
  fill_quant_type<uint8_t>(t);
  fill_quant_type<int8_t>(t);
  fill_quant_type<uint16_t>(t);
  fill_quant_type<int16_t>(t);
  fill_quant_type<int32_t>(t);
  fill_channels<uint8_t>(t);
  fill_channels<int8_t>(t);
  fill_channels<uint16_t>(t);
  fill_channels<int16_t>(t);
  fill_channels<int32_t>(t);
  t.fake_quantize_channels = fake_quantize_channels;
  fill_reductions<FloatType::kFloat>(t);
  fill_reductions<FloatType::kHalf>(t);
  fill_reductions<FloatType::kBFloat16>(t);
  fill_reductions<FloatType::kDouble>(t);
  return t;
}

}  // namespace TORCH_PT2E_CPU_ISA

const Loops& TORCH_PT2E_CPU_TABLE() {
  // Built by the compiler: reading the table runs no code compiled for this
  // instruction set, so a CPU without it can still look (cpu_capability.h).
  static constexpr Loops table = TORCH_PT2E_CPU_ISA::make_table(TORCH_PT2E_CPU_ISA_NAME);
  return table;
}

}  // namespace cpu
}  // namespace kernels
}  // namespace torch_pt2e
