// Body of one instruction-set variant of the histogram error loops (see
// histogram_error.h). Included by histogram_error_<isa>.cpp after defining
// TORCH_PT2E_HISTOGRAM_ERROR_ISA (namespace), TORCH_PT2E_HISTOGRAM_ERROR_ISA_NAME
// (string), TORCH_PT2E_HISTOGRAM_ERROR_TABLE (accessor) and
// TORCH_PT2E_HISTOGRAM_ERROR_VECTOR (0: the scalar reference, 1: the chunked
// loops the compiler vectorizes). Raw-pointer C++ only, no ATen/c10 headers
// (see loops_impl.h for why).
#include <cmath>
#include <cstdint>

#include "kernels/cpu/histogram_error.h"

#if !defined(TORCH_PT2E_HISTOGRAM_ERROR_ISA) || !defined(TORCH_PT2E_HISTOGRAM_ERROR_ISA_NAME) || \
    !defined(TORCH_PT2E_HISTOGRAM_ERROR_TABLE) || !defined(TORCH_PT2E_HISTOGRAM_ERROR_VECTOR)
#error "define the TORCH_PT2E_HISTOGRAM_ERROR_* macros first"
#endif

namespace torch_pt2e {
namespace kernels {
namespace cpu {
namespace TORCH_PT2E_HISTOGRAM_ERROR_ISA {

// Python's floor division of float32 values, as ATen's div(rounding_mode=
// "floor") computes it: fmod, then a correction so that the quotient is the
// nearest integer at or below a / b.
static float floor_divide_reference(float a, float b) {
  if (b == 0.0f) return a / b;
  const float remainder = std::fmod(a, b);
  float quotient = (a - remainder) / b;
  if (remainder != 0.0f && (b < 0.0f) != (remainder < 0.0f)) quotient -= 1.0f;
  if (quotient == 0.0f) return std::copysign(0.0f, a / b);
  float floored = std::floor(quotient);
  if (quotient - floored > 0.5f) floored += 1.0f;
  return floored;
}

// HistogramObserver._get_norm for one bin: density * (end^3 - begin^3) / 3.
static inline float norm_of(float delta_begin, float delta_end, float density) {
  const float cubes = delta_end * delta_end * delta_end - delta_begin * delta_begin * delta_begin;
  return density * (cubes / 3.0f);
}

// Upstream's dst_bin_of_begin/end: clamp(floor_divide(...), 0, dst_nbins - 1),
// with std::max/std::min's comparisons (a NaN passes through).
static inline float clamp_to_dst(float v, float highest) {
  v = v < 0.0f ? 0.0f : v;
  return highest < v ? highest : v;
}

// The error of one source bin given its two floor divisions; every
// expression as in _compute_quantization_error (elementwise float32).
static inline float bin_error_from(const HistogramErrorArgs& p, float begin, float end, float begin_quotient,
                                   float end_quotient, float density) {
  const float dst_of_begin = clamp_to_dst(begin_quotient, p.highest);
  const float dst_of_begin_center = (dst_of_begin + 0.5f) * p.dst_width;
  const float dst_of_end = clamp_to_dst(end_quotient, p.highest);
  const float dst_of_end_center = dst_of_end * p.dst_width + p.half_dst_width;
  float value = 0.0f;
  value += norm_of(begin - dst_of_begin_center, p.half_dst_width, density);
  value += (dst_of_end - dst_of_begin - 1.0f) * (density * p.whole_bin_cubes);
  value += norm_of(p.minus_half_dst_width, end - dst_of_end_center, density);
  return value;
}

static void bin_errors_reference(const HistogramErrorArgs& p, int64_t first, int64_t last, float* norm) {
  for (int64_t i = first; i < last; ++i) {
    const float begin = static_cast<float>(i - p.next_start_bin) * p.src_width;
    const float end = begin + p.src_width;
    norm[i] = bin_error_from(p, begin, end, floor_divide_reference(begin, p.dst_width),
                             floor_divide_reference(end, p.dst_width), p.density[i]);
  }
}

#if TORCH_PT2E_HISTOGRAM_ERROR_VECTOR

// The remainder r = fmod(a, b) = a - trunc(a / b) * b is computed in double
// precision, where it is exact whenever |a / b| < 2^28 (b finite, nonzero):
//  * write a = A 2^ea, b = B 2^eb with integers |A|, |B| < 2^24 (subnormals
//    too). If Q = a / b is not an integer n, |Q - n| = |a - n b| / |b| and
//    a - n b is a nonzero multiple of 2^min(ea, eb), so
//    |Q - n| >= 2^min(ea, eb) / |b|. The double quotient is off by at most
//    |Q| 2^-53 = |a| 2^-53 / |b|, which is below that bound: for ea <= eb
//    because |a| < 2^(ea + 24), for ea > eb because |Q| < 2^28 < 2^53 / |B|.
//    So the rounded quotient lies strictly between the same integers as Q
//    and its trunc is trunc(Q); an integer Q < 2^28 is divided exactly.
//  * t = trunc(Q) has at most 28 bits and b 24, so t * b is exact in double.
//  * a - t * b is fmod(a, b), which is a float (|r| < |b| with eb's quantum
//    when eb <= ea; |r| <= |a| with ea's quantum otherwise), so the double
//    subtraction and the conversion back to float are exact.
//  * fmod's result has a's sign, zero included: copysign(r, a).
// A double quotient below 2^28 implies the exact one is (rounding is
// monotonic and 2^28 is a double); larger quotients, inf and NaN (the test
// fails for them) are redone by the reference, lane by lane.
constexpr double kExactQuotientLimit = 268435456.0;  // 2^28

// Values are handled a chunk at a time in local arrays: each loop below is
// branch-free and vectorizes for the variant's instruction set.
constexpr int64_t kChunk = 64;

static inline bool exact_remainder_applies(float a, double b) {
  return std::fabs(static_cast<double>(a) / b) < kExactQuotientLimit;
}

static inline float exact_remainder(float a, double b) {
  const double a_d = a;
  const double truncated = std::trunc(a_d / b);
  return std::copysign(static_cast<float>(a_d - truncated * b), a);
}

// Quotients below this in magnitude take floor_divide_fast_chunk.
constexpr float kFastQuotientLimit = 2097152.0f;  // 2^21

// floor_divide_reference(a[j], b) for j < m without a division, where b > 0
// (finite) and every |a[j] / b| < 2^21; false (and `out` unspecified) where
// some a[j] is outside that range, NaN or infinite.
// There the reference is exactly the floor of the real quotient a / b
// (CandidateErrors::empty_distances_stay_finite in observers/qparams.cpp
// shows why), -0 for a = -0 and +0 for other a in [0, b).
// - In double, y = a * (1 / b) is within |a / b| 2^-51 < 2^-30 of a / b,
//   with its sign. An a / b that is not an integer is at least 2^-25 from
//   every nonzero integer n (with a = A 2^ea, b = B 2^eb as in the remainder
//   comment above, a - n b is a nonzero multiple of 2^min(ea, eb), and |a|
//   near |n b| needs ea >= eb - 1), so y lies strictly between the same
//   integers, and truncating it gives trunc(a / b): floor(a / b), or one
//   more for a negative quotient. For an integer a / b the truncation is
//   that integer or one off.
// - The products q * b and (q + 1) * b are exact (|q| <= 2^21 and b's
//   24-bit significand make at most 45 bits), so two exact comparisons with
//   a put q right.
// - The int32 truncation drops zero's sign; the reference's zero has a's.
// A negative divisor, or a chunk with one larger quotient, goes to
// floor_divide_chunk's general path.
static bool floor_divide_fast_chunk(const float* __restrict a, float b, int64_t m, float* __restrict out) {
  // 2^21 * b is exact unless it overflows to inf, and then every finite a
  // qualifies, rightly; NaN fails the comparison.
  const float limit = kFastQuotientLimit * b;
  int outside = 0;
  for (int64_t j = 0; j < m; ++j) outside |= std::fabs(a[j]) < limit ? 0 : 1;
  if (outside != 0) return false;
  const double b_d = b;
  const double inverse = 1.0 / b_d;
  // In loops of their own: GCC 12 vectorizes no loop that mixes float
  // loads with double arithmetic. (It vectorizes the middle loop only in the
  // avx512 variant; for avx2 and the default it reports "control flow in
  // loop" and leaves it scalar, which still has no division.)
  double x[kChunk], q[kChunk];
  for (int64_t j = 0; j < m; ++j) x[j] = a[j];
  for (int64_t j = 0; j < m; ++j) {
    double v = static_cast<double>(static_cast<int32_t>(x[j] * inverse));
    v = v * b_d > x[j] ? v - 1.0 : v;
    q[j] = (v + 1.0) * b_d <= x[j] ? v + 1.0 : v;
  }
  for (int64_t j = 0; j < m; ++j) {
    const float r = static_cast<float>(q[j]);
    const float zero = std::copysign(0.0f, a[j]);
    out[j] = r == 0.0f ? zero : r;
  }
  return true;
}

// floor_divide_reference(a[j], b) for j < m; b finite and nonzero.
static void floor_divide_chunk(const float* __restrict a, float b, int64_t m, float* __restrict out) {
  if (b > 0.0f && floor_divide_fast_chunk(a, b, m, out)) return;
  const double b_d = b;
  int inexact = 0;
  for (int64_t j = 0; j < m; ++j) {
    const float x = a[j];
    const float remainder = exact_remainder(x, b_d);
    float quotient = (x - remainder) / b;
    quotient = (remainder != 0.0f && (b < 0.0f) != (remainder < 0.0f)) ? quotient - 1.0f : quotient;
    float floored = std::floor(quotient);
    floored = quotient - floored > 0.5f ? floored + 1.0f : floored;
    // The reference's copysign(0, x / b): a quotient's sign is the xor of
    // the operands' signs (x is not NaN where quotient is 0), without a division.
    out[j] = quotient == 0.0f ? std::copysign(0.0f, b < 0.0f ? -x : x) : floored;
    inexact |= exact_remainder_applies(x, b_d) ? 0 : 1;
  }
  if (inexact == 0) return;
  for (int64_t j = 0; j < m; ++j) {
    if (!exact_remainder_applies(a[j], b_d)) out[j] = floor_divide_reference(a[j], b);
  }
}

static bool usable_divisor(float b) { return b != 0.0f && std::isfinite(b); }

static void floor_divide_run(const float* a, float b, int64_t n, float* out) {
  if (!usable_divisor(b)) {
    for (int64_t i = 0; i < n; ++i) out[i] = floor_divide_reference(a[i], b);
    return;
  }
  for (int64_t base = 0; base < n; base += kChunk) {
    const int64_t m = n - base < kChunk ? n - base : kChunk;
    floor_divide_chunk(a + base, b, m, out + base);
  }
}

static void fmod_run(const float* __restrict a, const float* __restrict b, int64_t n, float* __restrict out) {
  for (int64_t base = 0; base < n; base += kChunk) {
    const int64_t m = n - base < kChunk ? n - base : kChunk;
    int inexact = 0;
    for (int64_t j = 0; j < m; ++j) {
      const float divisor = b[base + j];
      // A zero or infinite divisor gives NaN or a non-integer truncated
      // quotient; std::fmod redoes those lanes below.
      out[base + j] = exact_remainder(a[base + j], divisor);
      inexact |= (exact_remainder_applies(a[base + j], divisor) && divisor - divisor == 0.0f) ? 0 : 1;
    }
    if (inexact == 0) continue;
    for (int64_t j = 0; j < m; ++j) {
      const float divisor = b[base + j];
      if (!(exact_remainder_applies(a[base + j], divisor) && divisor - divisor == 0.0f)) {
        out[base + j] = std::fmod(a[base + j], divisor);
      }
    }
  }
}

static void bin_errors(const HistogramErrorArgs& p, int64_t first, int64_t last, float* norm) {
  // Bin offsets are converted from int32 (a vector conversion on every
  // variant); the float values are the same as from int64.
  const int64_t int32_limit = int64_t(1) << 30;
  if (!usable_divisor(p.dst_width) || first - p.next_start_bin <= -int32_limit ||
      last - p.next_start_bin >= int32_limit) {
    bin_errors_reference(p, first, last, norm);
    return;
  }
  float begin[kChunk], end[kChunk], begin_quotient[kChunk], end_quotient[kChunk];
  for (int64_t base = first; base < last; base += kChunk) {
    const int64_t m = last - base < kChunk ? last - base : kChunk;
    const int32_t offset = static_cast<int32_t>(base - p.next_start_bin);
    for (int32_t j = 0; j < static_cast<int32_t>(m); ++j) {
      begin[j] = static_cast<float>(offset + j) * p.src_width;
      end[j] = begin[j] + p.src_width;
    }
    floor_divide_chunk(begin, p.dst_width, m, begin_quotient);
    floor_divide_chunk(end, p.dst_width, m, end_quotient);
    const float* __restrict density = p.density + base;
    float* __restrict out = norm + base;
    for (int64_t j = 0; j < m; ++j) {
      out[j] = bin_error_from(p, begin[j], end[j], begin_quotient[j], end_quotient[j], density[j]);
    }
  }
}

#else

static void floor_divide_run(const float* a, float b, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = floor_divide_reference(a[i], b);
}

static void fmod_run(const float* a, const float* b, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = std::fmod(a[i], b[i]);
}

static void bin_errors(const HistogramErrorArgs& p, int64_t first, int64_t last, float* norm) {
  bin_errors_reference(p, first, last, norm);
}

#endif

// One IEEE division per element, vectorized or not: the same quotients.
static void divide_run(const float* __restrict a, float b, int64_t n, float* __restrict out) {
  for (int64_t i = 0; i < n; ++i) out[i] = a[i] / b;
}

}  // namespace TORCH_PT2E_HISTOGRAM_ERROR_ISA

const HistogramErrorLoops& TORCH_PT2E_HISTOGRAM_ERROR_TABLE() {
  // Constant-initialized: reading it runs no code of this instruction set.
  static constexpr HistogramErrorLoops table = {
      TORCH_PT2E_HISTOGRAM_ERROR_ISA_NAME, TORCH_PT2E_HISTOGRAM_ERROR_ISA::bin_errors,
      TORCH_PT2E_HISTOGRAM_ERROR_ISA::floor_divide_run, TORCH_PT2E_HISTOGRAM_ERROR_ISA::fmod_run,
      TORCH_PT2E_HISTOGRAM_ERROR_ISA::divide_run};
  return table;
}

}  // namespace cpu
}  // namespace kernels
}  // namespace torch_pt2e
