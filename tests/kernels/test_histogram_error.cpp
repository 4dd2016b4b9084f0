// HistogramObserver's per-bin error loops (kernels/cpu/histogram_error.h):
// every vector variant this CPU runs against the scalar default, bit for bit,
// and the vector remainder against std::fmod on hard cases.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/cpu_capability.h"
#include "kernels/cpu/histogram_error.h"

namespace cpu = torch_pt2e::kernels::cpu;

namespace {

const float kInf = std::numeric_limits<float>::infinity();
const float kNaN = std::numeric_limits<float>::quiet_NaN();

std::vector<const cpu::HistogramErrorLoops*> vector_variants() {
  std::vector<const cpu::HistogramErrorLoops*> variants;
  if (cpu::detected_cpu_capability() >= cpu::CpuCapability::kAVX2) variants.push_back(&cpu::histogram_error_loops_avx2());
  if (cpu::detected_cpu_capability() >= cpu::CpuCapability::kAVX512) {
    variants.push_back(&cpu::histogram_error_loops_avx512());
  }
  return variants;
}

uint32_t bits_of(float v) {
  uint32_t b;
  std::memcpy(&b, &v, sizeof b);
  return b;
}

float float_of(uint32_t b) {
  float v;
  std::memcpy(&v, &b, sizeof v);
  return v;
}

// Equal bit patterns (so +0 differs from -0), any NaN equal to any NaN.
::testing::AssertionResult same_bits(float got, float want) {
  if (bits_of(got) == bits_of(want) || (std::isnan(got) && std::isnan(want))) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << std::hexfloat << got << " != " << want;
}

// Dividends and divisors where a remainder goes wrong first: zeros of both
// signs, subnormals, the largest floats, infinities, NaN, exact multiples and
// their neighbours, quotients around 2^24 and the vector path's 2^28 limit.
std::vector<float> hard_values() {
  std::vector<float> v = {0.0f, -0.0f, 1.0f, -1.0f, 0.5f, 3.0f, -3.0f, 7.0f, 0.1f, -0.1f, 2.5f, 1e-45f, -1e-45f,
                          3e-39f, std::numeric_limits<float>::min(), 1e38f, -1e38f,
                          std::numeric_limits<float>::max(), -std::numeric_limits<float>::max(), kInf, -kInf, kNaN,
                          16777215.0f, 16777216.0f, 16777217.0f, 268435456.0f, 268435440.0f, 536870912.0f};
  const size_t n = v.size();
  for (size_t i = 0; i < n; ++i) {
    if (std::isfinite(v[i]) && v[i] != 0.0f) {
      v.push_back(std::nextafter(v[i], kInf));
      v.push_back(std::nextafter(v[i], -kInf));
    }
  }
  return v;
}

TEST(HistogramErrorLoops, RemainderMatchesStdFmod) {
  std::vector<float> a, b;
  for (float x : hard_values()) {
    for (float y : hard_values()) {
      a.push_back(x);
      b.push_back(y);
    }
  }
  std::mt19937 gen(5);
  std::uniform_int_distribution<uint32_t> any_bits;
  std::uniform_int_distribution<int> exponent(-40, 40), multiple(0, 1 << 29);
  for (int k = 0; k < 100000; ++k) {
    a.push_back(float_of(any_bits(gen)));  // every class of float, any ratio
    b.push_back(float_of(any_bits(gen)));
    // Exact multiples q * d and their neighbours: remainders 0 (signed) and
    // one ulp of the dividend away, with quotients up to 2^29.
    const float d = std::ldexp(1.0f + static_cast<float>(any_bits(gen) % 1024) / 1024.0f, exponent(gen));
    const float x = static_cast<float>(multiple(gen) >> (any_bits(gen) % 30)) * d;
    for (float dividend : {x, -x, std::nextafter(x, 0.0f), std::nextafter(x, kInf)}) {
      a.push_back(dividend);
      b.push_back(any_bits(gen) % 2 ? d : -d);
    }
  }
  std::vector<float> out(a.size());
  for (const auto* loops : vector_variants()) {
    loops->fmod_run(a.data(), b.data(), static_cast<int64_t>(a.size()), out.data());
    for (size_t i = 0; i < a.size(); ++i) {
      ASSERT_TRUE(same_bits(out[i], std::fmod(a[i], b[i])))
          << loops->isa_name << ": fmod(" << std::hexfloat << a[i] << ", " << b[i] << ")";
    }
  }
}

// Every vector variant's floor_divide_run of `a` by `b`, bit for bit against
// the scalar default's.
void expect_floor_divide_matches_default(const std::vector<float>& a, float b) {
  std::vector<float> want(a.size()), got(a.size());
  cpu::histogram_error_loops_default().floor_divide_run(a.data(), b, static_cast<int64_t>(a.size()), want.data());
  for (const auto* loops : vector_variants()) {
    loops->floor_divide_run(a.data(), b, static_cast<int64_t>(a.size()), got.data());
    for (size_t i = 0; i < a.size(); ++i) {
      ASSERT_TRUE(same_bits(got[i], want[i]))
          << loops->isa_name << ": floor_divide(" << std::hexfloat << a[i] << ", " << b << ")";
    }
  }
}

TEST(HistogramErrorLoops, FloorDivideMatchesDefault) {
  std::vector<float> a = hard_values();
  std::vector<float> divisors = hard_values();
  // Random divisors, and dividends at exact multiples of random divisors and
  // one ulp either side (quotients up to 2^29): where a truncated quotient
  // that is off by one rounding lands on the wrong integer.
  std::mt19937 gen(7);
  std::uniform_int_distribution<uint32_t> any_bits;
  std::uniform_int_distribution<int> exponent(-40, 40), multiple(0, 1 << 29);
  for (int k = 0; k < 200; ++k) {
    const float d = std::ldexp(1.0f + static_cast<float>(any_bits(gen) % (1 << 23)) / float(1 << 23), exponent(gen));
    divisors.push_back(any_bits(gen) % 2 ? d : -d);
    divisors.push_back(float_of(any_bits(gen)));
  }
  for (int k = 0; k < 2000; ++k) {
    const float d = std::ldexp(1.0f + static_cast<float>(any_bits(gen) % 1024) / 1024.0f, exponent(gen));
    const float x = static_cast<float>(multiple(gen) >> (any_bits(gen) % 30)) * d;
    for (float dividend : {x, -x, std::nextafter(x, 0.0f), std::nextafter(x, kInf), std::nextafter(-x, -kInf)}) {
      a.push_back(dividend);
    }
    a.push_back(float_of(any_bits(gen)));
  }
  for (float b : divisors) {
    expect_floor_divide_matches_default(a, b);
    if (HasFatalFailure()) return;
  }
}

// Whole runs of dividends whose quotients are below 2^21, which the vector
// variants divide without a division (floor_divide_fast_chunk): exact
// multiples of the divisor and their neighbours, zeros of both signs,
// dividends in (-b, 0) and [0, b), and quotients at the 2^21 limit (one
// just outside it in the last run), for divisors from subnormal to near the
// largest float.
TEST(HistogramErrorLoops, FloorDivideWithoutDivisionMatchesDefault) {
  if (vector_variants().empty()) GTEST_SKIP() << "this CPU has neither AVX2 nor AVX-512: no vector variant to check";
  std::mt19937 gen(13);
  std::uniform_int_distribution<uint32_t> any_bits;
  std::uniform_int_distribution<int> exponent(-149, 100), quotient(-(1 << 21) + 1, (1 << 21) - 1);
  std::uniform_real_distribution<double> unit(-1.0, 1.0);
  std::vector<float> divisors = {1.0f, 0.1f, 3.0f, 1e-45f, 3e-39f, std::numeric_limits<float>::min(), 1e30f,
                                 std::numeric_limits<float>::max()};
  for (int k = 0; k < 300; ++k) {
    divisors.push_back(
        std::ldexp(1.0f + static_cast<float>(any_bits(gen) % (1 << 23)) / float(1 << 23), exponent(gen)));
  }
  int64_t checked = 0;
  for (float b : divisors) {
    ASSERT_TRUE(b > 0.0f && std::isfinite(b)) << std::hexfloat << b;
    std::vector<float> a = {0.0f, -0.0f};
    for (int k = 0; k < 1022; ++k) {
      const float multiple = static_cast<float>(quotient(gen) >> (any_bits(gen) % 22)) * b;
      switch (k % 4) {
        case 0:
          a.push_back(multiple);
          break;
        case 1:
          a.push_back(std::nextafter(multiple, kInf));
          break;
        case 2:
          a.push_back(std::nextafter(multiple, -kInf));
          break;
        default:  // anywhere in range, many in (-b, b)
          a.push_back(static_cast<float>(unit(gen) * std::ldexp(static_cast<double>(b), any_bits(gen) % 22)));
      }
    }
    // Products that overflow or flush to zero would leave the range the
    // fast path takes; keep only dividends with |a / b| < 2^21.
    a.erase(std::remove_if(a.begin(), a.end(),
                           [b](float v) { return !(std::fabs(static_cast<double>(v)) < std::ldexp(double(b), 21)); }),
            a.end());
    // 2^21 b is the first dividend outside: the largest ones inside lead
    // (the first run of 64 stays inside); a run of its own ends with it.
    const float edge = std::ldexp(b, 21);
    std::vector<float> edge_run;
    if (std::isfinite(edge)) {
      a.insert(a.begin(), {std::nextafter(edge, 0.0f), -std::nextafter(edge, 0.0f)});
      edge_run = {std::nextafter(edge, 0.0f), b, -b, edge};
    }
    for (const std::vector<float>* run : {&a, &edge_run}) {
      expect_floor_divide_matches_default(*run, b);
      if (HasFatalFailure()) return;
      checked += static_cast<int64_t>(run->size() * vector_variants().size());
    }
  }
  EXPECT_GT(checked, 300 * 1000);
}

// The arguments histogram_search_range passes for the candidate
// [next_start_bin, next_end_bin] of a histogram over [min_val, max_val].
cpu::HistogramErrorArgs candidate(const std::vector<float>& density, double min_val, double max_val,
                                  int64_t dst_nbins, int64_t next_start_bin, int64_t next_end_bin) {
  const int64_t bins = static_cast<int64_t>(density.size());
  const double bin_width = (max_val - min_val) / static_cast<double>(bins);
  const double dst_bin_width =
      bin_width * static_cast<double>(next_end_bin - next_start_bin + 1) / static_cast<double>(dst_nbins);
  cpu::HistogramErrorArgs args;
  args.density = density.data();
  args.next_start_bin = next_start_bin;
  args.src_width = static_cast<float>(bin_width);
  args.dst_width = static_cast<float>(dst_bin_width);
  args.half_dst_width = static_cast<float>(dst_bin_width / 2);
  args.minus_half_dst_width = static_cast<float>(-dst_bin_width / 2);
  args.highest = static_cast<float>(dst_nbins - 1);
  args.whole_bin_cubes = (args.half_dst_width * args.half_dst_width * args.half_dst_width -
                          args.minus_half_dst_width * args.minus_half_dst_width * args.minus_half_dst_width) /
                         3.0f;
  return args;
}

void expect_bin_errors_match(const cpu::HistogramErrorArgs& args, int64_t bins, const std::string& what) {
  std::vector<float> want(static_cast<size_t>(bins), kNaN), got(static_cast<size_t>(bins));
  cpu::histogram_error_loops_default().bin_errors(args, 0, bins, want.data());
  for (const auto* loops : vector_variants()) {
    std::fill(got.begin(), got.end(), kNaN);
    loops->bin_errors(args, 0, bins, got.data());
    for (int64_t i = 0; i < bins; ++i) {
      ASSERT_TRUE(same_bits(got[i], want[i])) << loops->isa_name << ", " << what << ", bin " << i;
    }
  }
}

TEST(HistogramErrorLoops, BinErrorsMatchDefault) {
  std::mt19937 gen(11);
  std::uniform_real_distribution<float> unit(0.0f, 1.0f);
  std::uniform_int_distribution<int> exponent(-30, 30);
  const int64_t dst_bits[] = {8, 16, 32};  // (u)int8, int16, int32 destinations
  for (int trial = 0; trial < 600; ++trial) {
    const int64_t bins = trial % 3 == 0 ? 2048 : 1 + static_cast<int64_t>(gen() % 200);
    const int64_t dst_nbins = int64_t(1) << dst_bits[trial % 3];
    std::vector<float> density(static_cast<size_t>(bins), 0.0f);
    switch (trial % 4) {
      case 0:  // dense
        for (auto& d : density) d = std::floor(unit(gen) * 1000.0f) / 0.37f;
        break;
      case 1:  // one occupied bin
        density[gen() % bins] = 1234.5f;
        break;
      case 2:  // sparse, many empty bins
        for (auto& d : density) d = gen() % 5 == 0 ? unit(gen) * 1e6f : 0.0f;
        break;
      default:  // all empty
        break;
    }
    // Wide and narrow ranges, negative minima.
    const double width = std::ldexp(1.0 + unit(gen), exponent(gen));
    const double min_val = (unit(gen) - 0.7) * width * (gen() % 4);
    const int64_t next_start_bin = static_cast<int64_t>(gen() % bins);
    const int64_t next_end_bin = next_start_bin + static_cast<int64_t>(gen() % (bins - next_start_bin));
    expect_bin_errors_match(candidate(density, min_val, min_val + width, dst_nbins, next_start_bin, next_end_bin),
                            bins, "trial " + std::to_string(trial));
  }
}

TEST(HistogramErrorLoops, BinErrorsAtTheEdges) {
  std::vector<float> density(2048, 3.0f);
  density[7] = 0.0f;
  // Ranges so wide that the cubes overflow to inf (and inf - inf to NaN),
  // subnormal bin widths, a zero destination width, int32's 2^32 levels
  // (quotients past the vector remainder's limit) and the whole range.
  const struct {
    double min_val, max_val;
    int64_t dst_nbins, next_start_bin, next_end_bin;
  } cases[] = {
      {-3e37, 3e37, 256, 0, 2047},   {-1e-41, 1e-41, 256, 10, 900}, {0.0, 1e-44, 65536, 3, 5},
      {-1.0, 1.0, int64_t(1) << 32, 1000, 1001}, {-1.0, 1.0, 256, 5, 5}, {-5.0, 7.0, 65536, 0, 2047},
      {2.0, 2.0, 256, 0, 2047},
  };
  for (const auto& c : cases) {
    expect_bin_errors_match(candidate(density, c.min_val, c.max_val, c.dst_nbins, c.next_start_bin, c.next_end_bin),
                            2048, "range [" + std::to_string(c.min_val) + ", " + std::to_string(c.max_val) + "]");
  }
}

TEST(HistogramErrorLoops, DivideIsOneDivisionPerElement) {
  const std::vector<float> a = hard_values();
  std::vector<float> got(a.size());
  for (float b : hard_values()) {
    for (const auto* loops : {&cpu::histogram_error_loops_default(), &cpu::histogram_error_loops()}) {
      loops->divide_run(a.data(), b, static_cast<int64_t>(a.size()), got.data());
      for (size_t i = 0; i < a.size(); ++i) {
        ASSERT_TRUE(same_bits(got[i], a[i] / b)) << loops->isa_name << ": " << std::hexfloat << a[i] << " / " << b;
      }
    }
  }
}

TEST(HistogramErrorLoops, PartialRangeWritesOnlyThatRange) {
  const std::vector<float> density(100, 2.0f);
  const auto args = candidate(density, -1.0, 1.0, 256, 10, 80);
  for (const auto* loops : {&cpu::histogram_error_loops_default(), &cpu::histogram_error_loops()}) {
    std::vector<float> norm(100, kNaN);
    loops->bin_errors(args, 20, 70, norm.data());
    for (int64_t i = 0; i < 100; ++i) EXPECT_EQ(std::isnan(norm[i]), i < 20 || i >= 70) << loops->isa_name << " " << i;
  }
}

}  // namespace
