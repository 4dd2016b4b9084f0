// Scale and zero point from statistics (torch_pt2e_plugin/observers/qparams.h),
// worked examples; parity with upstream is tests/observers/test_observers.py.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <ATen/ATen.h>

#include "kernels/cpu/cpu_capability.h"
#include "kernels/cpu/histogram_error.h"
#include "torch_pt2e_plugin/observers/qparams.h"

namespace cpu = torch_pt2e::kernels::cpu;
namespace obs = torch_pt2e::observers;

namespace {

const at::Tensor kEps = at::full({1}, 1.1920928955078125e-07, at::kFloat);

at::Tensor scalar(float v) { return at::scalar_tensor(v, at::kFloat); }

// Same dtype, shape and bytes (NaN payloads and zero signs included).
::testing::AssertionResult same_tensor(const at::Tensor& got, const at::Tensor& want) {
  if (got.scalar_type() != want.scalar_type() || got.sizes() != want.sizes()) {
    return ::testing::AssertionFailure() << got.scalar_type() << got.sizes() << " vs " << want.scalar_type()
                                         << want.sizes();
  }
  const at::Tensor a = got.contiguous(), b = want.contiguous();
  if (std::memcmp(a.data_ptr(), b.data_ptr(), a.nbytes()) != 0) {
    return ::testing::AssertionFailure() << a << " vs " << b;
  }
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult same_qparams(const std::tuple<at::Tensor, at::Tensor>& got,
                                        const std::tuple<at::Tensor, at::Tensor>& want) {
  auto scale = same_tensor(std::get<0>(got), std::get<0>(want));
  if (!scale) return ::testing::AssertionFailure() << "scale: " << scale.message();
  auto zero_point = same_tensor(std::get<1>(got), std::get<1>(want));
  if (!zero_point) return ::testing::AssertionFailure() << "zero point: " << zero_point.message();
  return ::testing::AssertionSuccess();
}

obs::QParamsSpec spec(int64_t qmin, int64_t qmax, at::ScalarType dtype, c10::QScheme qscheme,
                      bool customized = false) {
  return {qmin, qmax, dtype, qscheme, customized};
}

TEST(QParamsFromMinMax, AffineQuint8) {
  const auto qp = obs::qparams_from_min_max(scalar(-1.0f), scalar(3.0f), kEps,
                                            spec(0, 255, at::kQUInt8, c10::kPerTensorAffine));
  const at::Tensor& scale = std::get<0>(qp);
  const at::Tensor& zero_point = std::get<1>(qp);
  // scale = (3 - -1) / 255 in float32; zero point = 0 - round(-1 / scale) = 0 - round(-63.75) = 64
  EXPECT_EQ(scale.scalar_type(), at::kFloat);
  EXPECT_EQ(scale.sizes(), at::IntArrayRef({1}));
  EXPECT_EQ(scale.item<float>(), 4.0f / 255.0f);
  EXPECT_EQ(zero_point.scalar_type(), at::kInt);
  EXPECT_EQ(zero_point.sizes(), at::IntArrayRef({1}));
  EXPECT_EQ(zero_point.item<int>(), 64);
}

TEST(QParamsFromMinMax, SymmetricZeroPoints) {
  // max(|-2|, 1) = 2; scale = 2 / ((127 - -128) / 2) = 2 / 127.5
  auto qp = obs::qparams_from_min_max(scalar(-2.0f), scalar(1.0f), kEps,
                                      spec(-128, 127, at::kQInt8, c10::kPerTensorSymmetric));
  EXPECT_EQ(std::get<0>(qp).item<float>(), 2.0f / 127.5f);
  EXPECT_EQ(std::get<1>(qp).scalar_type(), at::kLong);  // symmetric zero points stay int64
  EXPECT_EQ(std::get<1>(qp).item<int64_t>(), 0);
  qp = obs::qparams_from_min_max(scalar(-2.0f), scalar(1.0f), kEps,
                                 spec(0, 255, at::kQUInt8, c10::kPerTensorSymmetric));
  EXPECT_EQ(std::get<1>(qp).item<int64_t>(), 128);
  // A customized quint8 range uses its rounded-down midpoint: (0 + 15) // 2 = 7.
  qp = obs::qparams_from_min_max(scalar(-2.0f), scalar(1.0f), kEps,
                                 spec(0, 15, at::kQUInt8, c10::kPerTensorSymmetric, /*customized=*/true));
  EXPECT_EQ(std::get<1>(qp).item<int64_t>(), 7);
  EXPECT_EQ(std::get<0>(qp).item<float>(), 2.0f / 7.5f);
}

TEST(QParamsFromMinMax, AllZerosGiveEps) {
  // scale = max(0 / 255, eps) = eps; zero point = 0 - round(0 / eps) = 0
  const auto qp =
      obs::qparams_from_min_max(scalar(0.0f), scalar(0.0f), kEps, spec(0, 255, at::kQUInt8, c10::kPerTensorAffine));
  EXPECT_EQ(std::get<0>(qp).item<float>(), 1.1920928955078125e-07f);
  EXPECT_EQ(std::get<1>(qp).item<int>(), 0);
}

TEST(QParamsFromMinMax, PerChannelFloatQParams) {
  const at::Tensor min_val = at::tensor({-1.0f, 2.0f}), max_val = at::tensor({1.0f, 2.0f});
  const auto qp =
      obs::qparams_from_min_max(min_val, max_val, kEps, spec(0, 255, at::kQUInt8, c10::kPerChannelAffineFloatQParams));
  // scale = [2/255, 0 -> 1 (not > eps)]; zero point = -min/scale = [1 / (2/255), -2 / 1]
  const float s0 = 2.0f / 255.0f;
  EXPECT_TRUE(at::equal(std::get<0>(qp), at::tensor({s0, 1.0f})));
  EXPECT_EQ(std::get<1>(qp).scalar_type(), at::kFloat);
  EXPECT_TRUE(at::equal(std::get<1>(qp), at::tensor({1.0f / s0, -2.0f})));
}

TEST(QParamsFromMinMax, PerChannelAffineClampsZeroPoint) {
  // Channel 0: [0, 2] -> scale 2/255, zp 0. Channel 1: [-4, -1] -> max_pos 0, scale 4/255, zp 0 - round(-255) = 255.
  const auto qp = obs::qparams_from_min_max(at::tensor({0.0f, -4.0f}), at::tensor({2.0f, -1.0f}), kEps,
                                            spec(0, 255, at::kQUInt8, c10::kPerChannelAffine));
  EXPECT_TRUE(at::equal(std::get<0>(qp), at::tensor({2.0f / 255.0f, 4.0f / 255.0f})));
  EXPECT_TRUE(at::equal(std::get<1>(qp), at::tensor({0, 255}, at::kInt)));
}

TEST(QParamsFromMinMax, UnobservedDefaultsAndNaN) {
  const float inf = std::numeric_limits<float>::infinity();
  for (const auto& qp : {obs::qparams_from_min_max(scalar(inf), scalar(-inf), kEps,
                                                   spec(0, 255, at::kQUInt8, c10::kPerTensorAffine)),
                         obs::qparams_from_min_max(at::empty({0}), at::empty({0}), kEps,
                                                   spec(0, 255, at::kQUInt8, c10::kPerChannelAffine))}) {
    EXPECT_TRUE(at::equal(std::get<0>(qp), at::tensor({1.0f})));
    EXPECT_TRUE(at::equal(std::get<1>(qp), at::tensor({int64_t(0)})));
  }
  const float nan = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THROW(
      obs::qparams_from_min_max(scalar(nan), scalar(nan), kEps, spec(0, 255, at::kQUInt8, c10::kPerTensorAffine)),
      c10::Error);
  EXPECT_THROW(obs::qparams_from_min_max(scalar(2.0f), scalar(1.0f), kEps,
                                         spec(0, 255, at::kQUInt8, c10::kPerTensorAffine)),
               c10::Error);
}

TEST(QParamsFromHistogram, RangeIsWholeBinsInsideTheRecordedRange) {
  at::manual_seed(3);
  const at::Tensor data = at::randn({10000});
  const int64_t bins = 64;
  const at::Tensor min_val = data.min(), max_val = data.max();
  const at::Tensor histogram = at::histc(data, bins, min_val.item(), max_val.item());
  const auto range = obs::histogram_search_range(histogram, min_val, max_val, bins, at::kQUInt8);
  const double lo = std::get<0>(range).item<double>(), hi = std::get<1>(range).item<double>();
  EXPECT_GE(lo, min_val.item<double>());
  EXPECT_LE(hi, max_val.item<double>() * (1 + 1e-6));
  EXPECT_LT(lo, hi);
  const double width = (max_val.item<double>() - min_val.item<double>()) / bins;
  const double start = (lo - min_val.item<double>()) / width;
  EXPECT_NEAR(start, std::round(start), 1e-3);
}

// The search with every per-bin error variant this CPU runs finds the same
// range, bit for bit, as with the scalar default.
void expect_variants_agree(const at::Tensor& histogram, float min_val, float max_val, at::ScalarType dtype,
                           const std::string& what) {
  std::vector<const cpu::HistogramErrorLoops*> variants;
  if (cpu::detected_cpu_capability() >= cpu::CpuCapability::kAVX2) variants.push_back(&cpu::histogram_error_loops_avx2());
  if (cpu::detected_cpu_capability() >= cpu::CpuCapability::kAVX512) {
    variants.push_back(&cpu::histogram_error_loops_avx512());
  }
  const int64_t bins = histogram.size(0);
  const auto want = obs::histogram_search_range(histogram, scalar(min_val), scalar(max_val), bins, dtype,
                                                cpu::histogram_error_loops_default());
  for (const auto* loops : variants) {
    const auto got = obs::histogram_search_range(histogram, scalar(min_val), scalar(max_val), bins, dtype, *loops);
    EXPECT_TRUE(at::equal(std::get<0>(got), std::get<0>(want)))
        << loops->isa_name << ", " << what << ": min " << std::get<0>(got).item<float>() << " vs "
        << std::get<0>(want).item<float>();
    EXPECT_TRUE(at::equal(std::get<1>(got), std::get<1>(want)))
        << loops->isa_name << ", " << what << ": max " << std::get<1>(got).item<float>() << " vs "
        << std::get<1>(want).item<float>();
  }
}

TEST(QParamsFromHistogram, SearchIsTheSameWithEveryErrorLoopVariant) {
  at::manual_seed(7);
  const at::ScalarType dtypes[] = {at::kQUInt8, at::kQInt8, at::kShort, at::kQInt32};
  int case_index = 0;
  for (int64_t bins : {2048, 256, 33, 2}) {
    for (at::ScalarType dtype : dtypes) {
      // Gaussian, heavy-tailed (outliers far out), a one-sided skew and
      // sparse data with many empty bins; negative and positive minima.
      const at::Tensor samples[] = {
          at::randn({20000}),
          at::randn({20000}) * at::exp(at::randn({20000}) * 2),
          at::rand({20000}).pow(6) * 50 + 3,
          at::randint(-40, 40, {300}).to(at::kFloat) * 0.25,
      };
      for (const at::Tensor& data : samples) {
        const float lo = data.min().item<float>(), hi = data.max().item<float>();
        expect_variants_agree(at::histc(data, bins, lo, hi), lo, hi, dtype, "case " + std::to_string(case_index++));
      }
    }
  }
}

TEST(QParamsFromHistogram, SearchVariantsAgreeOnEdgeHistograms) {
  for (at::ScalarType dtype : {at::kQUInt8, at::kShort}) {
    at::Tensor single = at::zeros({2048});
    single[1500] = 7.0f;
    expect_variants_agree(single, -3.0f, 5.0f, dtype, "one occupied bin");
    at::Tensor ends = at::zeros({2048});
    ends[0] = 1.0f;
    ends[2047] = 1.0f;
    expect_variants_agree(ends, -1e-30f, 1e-30f, dtype, "two end bins, narrow range");
    expect_variants_agree(at::ones({2048}), -3e36f, 3e36f, dtype, "uniform, wide range");
    expect_variants_agree(at::ones({2048}), 1e6f, 1e6f + 0.125f, dtype, "far from zero");
    expect_variants_agree(at::zeros({16}), -1.0f, 1.0f, dtype, "empty histogram");
  }
}

TEST(QParamsFromHistogram, UnobservedAndBinMismatch) {
  const float inf = std::numeric_limits<float>::infinity();
  const auto s = spec(0, 255, at::kQUInt8, c10::kPerTensorAffine);
  const auto qp = obs::qparams_from_histogram(at::zeros({8}), scalar(inf), scalar(-inf), kEps, 8, s);
  EXPECT_TRUE(at::equal(std::get<0>(qp), at::tensor({1.0f})));
  EXPECT_TRUE(at::equal(std::get<1>(qp), at::tensor({int64_t(0)})));
  EXPECT_THROW(obs::qparams_from_histogram(at::ones({8}), scalar(0.0f), scalar(1.0f), kEps, 16, s), c10::Error);
}


// ---- the CPU path on floats against the tensor path ---------------------------

// An observer's dtype, scheme and range (customized: quant_min/quant_max given).
struct QParamsSpec {
  at::ScalarType dtype;
  c10::QScheme qscheme;
  int64_t qmin, qmax;
  bool customized;
};

// qparams_from_min_max computes float32 statistics on the CPU element by
// element; every result must be qparams_with_aten's, bit for bit, or the
// same error.
TEST(QParamsFromMinMax, CpuPathMatchesTheTensorPath) {
  const QParamsSpec specs[] = {
      {at::kQUInt8, c10::kPerTensorAffine, 0, 255, false},
      {at::kQInt8, c10::kPerTensorAffine, -128, 127, false},
      {at::kQInt8, c10::kPerTensorSymmetric, -128, 127, false},
      {at::kQUInt8, c10::kPerTensorSymmetric, 0, 255, false},
      {at::kChar, c10::kPerTensorAffine, -128, 127, true},
      {at::kByte, c10::kPerTensorSymmetric, 0, 255, true},
      {at::kQUInt8, c10::kPerTensorSymmetric, 0, 15, true},
      {at::kQInt8, c10::kPerTensorAffine, -8, 7, true},
      {at::kQInt32, c10::kPerTensorAffine, -2147483648LL, 2147483647LL, false},
      {at::kQInt32, c10::kPerTensorSymmetric, -2147483648LL, 2147483647LL, false},
      {at::kQInt8, c10::kPerChannelSymmetric, -128, 127, false},
      {at::kQUInt8, c10::kPerChannelAffine, 0, 255, false},
      {at::kQUInt8, c10::kPerChannelAffineFloatQParams, 0, 255, false},
      {at::kQInt8, c10::kPerTensorAffine, -(1 << 20), 1 << 20, true},
  };
  const double eps_values[] = {1.1920928955078125e-07, 0.000244140625, 1e-3, 0.0, 1e-30};
  const double magnitudes[] = {1e-30, 1e-8, 1e-3, 1.0, 1e3, 1e12, 1e24, 1e37};
  std::mt19937 gen(21);
  int compared = 0, failed = 0;
  for (int trial = 0; trial < 6000; ++trial) {
    const int64_t channels[] = {0, 0, 1, 3, 33};  // 0: a 0-d statistic
    const int64_t n = channels[trial % 5];
    const std::vector<int64_t> shape = n == 0 ? std::vector<int64_t>{} : std::vector<int64_t>{n};
    const double magnitude = magnitudes[gen() % 8];
    at::Tensor a = at::randn(shape) * magnitude, b = at::randn(shape) * magnitude;
    at::Tensor lo = at::minimum(a, b), hi = at::maximum(a, b);
    switch (trial % 11) {
      case 1:  // zeros of both signs
        lo = at::zeros(shape) * (gen() % 2 ? -1.0 : 1.0);
        hi = at::zeros(shape);
        break;
      case 2:  // one-sided
        lo = hi.abs();
        hi = lo * 2;
        break;
      case 3:  // the ends of float32
        lo = at::full(shape, -3e38);
        hi = at::full(shape, 3e38);
        break;
      case 4:  // ties for the rounding of the zero point
        lo = at::randint(-300, 300, shape).to(at::kFloat) * 0.5;
        hi = lo + 127.5;
        break;
      case 5:  // infinite and unobserved statistics
        hi = at::full(shape, std::numeric_limits<float>::infinity());
        if (n == 0) lo = scalar(std::numeric_limits<float>::infinity());
        if (n == 0) hi = scalar(-std::numeric_limits<float>::infinity());
        break;
      case 6:  // min > max and NaN
        std::swap(lo, hi);
        if (n == 0 && gen() % 2) lo = hi = scalar(std::numeric_limits<float>::quiet_NaN());
        break;
      default:
        break;
    }
    const auto& s = specs[gen() % (sizeof(specs) / sizeof(specs[0]))];
    const at::Tensor eps = at::full({1}, eps_values[trial % 5], at::kFloat);
    const obs::QParamsSpec qspec = spec(s.qmin, s.qmax, s.dtype, s.qscheme, s.customized);
    std::tuple<at::Tensor, at::Tensor> want, got;
    bool want_throws = false, got_throws = false;
    try {
      want = obs::qparams_with_aten(lo, hi, eps, qspec);
    } catch (const c10::Error&) {
      want_throws = true;
    }
    try {
      got = obs::qparams_from_min_max(lo, hi, eps, qspec);
    } catch (const c10::Error&) {
      got_throws = true;
    }
    ASSERT_EQ(got_throws, want_throws) << "trial " << trial << ": " << lo << hi;
    failed += want_throws;
    if (want_throws) continue;
    ASSERT_TRUE(same_qparams(got, want)) << "trial " << trial << ", qscheme " << static_cast<int>(s.qscheme)
                                         << ", range [" << s.qmin << ", " << s.qmax << "]: " << lo << hi;
    ++compared;
  }
  EXPECT_GT(compared, 5000);
  EXPECT_GT(failed, 100);
}

// ---- the histogram search against upstream's expressions ----------------------

// Upstream's _compute_quantization_error (torch/ao/quantization/observer.py)
// on CPU tensors, expression by expression.
double upstream_error(const at::Tensor& histogram, double min_val, double max_val, int64_t dst_nbins,
                      int64_t next_start_bin, int64_t next_end_bin) {
  const int64_t bins = histogram.size(0);
  const double bin_width = (max_val - min_val) / static_cast<double>(bins);
  const double dst_bin_width =
      bin_width * static_cast<double>(next_end_bin - next_start_bin + 1) / static_cast<double>(dst_nbins);
  if (dst_bin_width == 0.0) return 0.0;
  const at::Tensor src_bin = at::arange(bins);
  const at::Tensor src_bin_begin = (src_bin - next_start_bin) * bin_width;
  const at::Tensor src_bin_end = src_bin_begin + bin_width;
  const c10::optional<c10::string_view> floor(c10::string_view("floor"));
  const c10::optional<at::Scalar> lowest(int64_t(0)), highest(dst_nbins - 1);
  const at::Tensor dst_bin_of_begin = at::clamp(at::div(src_bin_begin, dst_bin_width, floor), lowest, highest);
  const at::Tensor dst_bin_of_begin_center = (dst_bin_of_begin + 0.5) * dst_bin_width;
  const at::Tensor dst_bin_of_end = at::clamp(at::div(src_bin_end, dst_bin_width, floor), lowest, highest);
  const at::Tensor density = histogram / bin_width;
  auto get_norm = [](const at::Tensor& delta_begin, const at::Tensor& delta_end, const at::Tensor& d) {
    return d * ((delta_end * delta_end * delta_end - delta_begin * delta_begin * delta_begin) / 3);
  };
  at::Tensor norm = at::zeros({bins});
  norm += get_norm(src_bin_begin - dst_bin_of_begin_center, at::ones({bins}) * (dst_bin_width / 2), density);
  norm += (dst_bin_of_end - dst_bin_of_begin - 1) *
          get_norm(at::scalar_tensor(-dst_bin_width / 2), at::scalar_tensor(dst_bin_width / 2), density);
  const at::Tensor dst_bin_of_end_center = dst_bin_of_end * dst_bin_width + dst_bin_width / 2;
  norm += get_norm(at::scalar_tensor(-dst_bin_width / 2), src_bin_end - dst_bin_of_end_center, density);
  return norm.sum().item<double>();
}

std::vector<const cpu::HistogramErrorLoops*> every_variant() {
  std::vector<const cpu::HistogramErrorLoops*> variants = {&cpu::histogram_error_loops_default()};
  if (cpu::detected_cpu_capability() >= cpu::CpuCapability::kAVX2) variants.push_back(&cpu::histogram_error_loops_avx2());
  if (cpu::detected_cpu_capability() >= cpu::CpuCapability::kAVX512) {
    variants.push_back(&cpu::histogram_error_loops_avx512());
  }
  return variants;
}

// A histogram of `values` (1-20 random values, dense data, a relu's output,
// one bin, none) over their own range, scaled to about `magnitude`.
struct RandomHistogram {
  at::Tensor counts;
  float min_val, max_val;
};

RandomHistogram random_histogram(int64_t bins, int kind, double magnitude, std::mt19937& gen) {
  at::Tensor values;
  switch (kind % 5) {
    case 0:
      values = at::randn({1 + static_cast<int64_t>(gen() % 20)});
      break;
    case 1:
      values = at::randn({5000}) * at::exp(at::randn({5000}));
      break;
    case 2:
      values = at::relu(at::randn({16}));
      break;
    case 3:
      values = at::full({3}, 0.75);
      break;
    default:
      values = at::randn({2});
      break;
  }
  values = values * magnitude;
  const float lo = values.min().item<float>(), hi = values.max().item<float>();
  at::Tensor counts = lo < hi ? at::histc(values, bins, lo, hi) : at::zeros({bins});
  if (lo == hi) counts[0] = static_cast<float>(values.numel());
  if (kind % 5 == 4) counts.zero_();
  if (kind % 7 == 3) counts = counts * 0.37;  // as combined histograms, not whole counts
  return {counts, lo, lo < hi ? hi : lo + 1.0f};
}

// Each candidate's error as the search computes it (shortcuts for empty bins
// that give +0, for NaN anywhere, for sums of at most two terms; one buffer
// for all candidates) is upstream's: NaN where it is NaN, else equal. Ranges
// run from 1e-3 to 1e30: below about 1e12 empty bins give +0, above it their
// cubes may overflow (NaN), past about 1e15 the whole-bin cubes do too.
TEST(HistogramCandidateErrors, MatchUpstreamInEveryRegime) {
  std::mt19937 gen(31);
  std::uniform_real_distribution<double> exponent(-3.0, 30.0);
  const int64_t dst_nbins_of[] = {256, 65536, int64_t(1) << 32};
  int64_t nan_errors = 0, large_finite_errors = 0, compared = 0;
  for (int trial = 0; trial < 160; ++trial) {
    const int64_t bins = trial % 4 == 3 ? 37 : 2048;
    const int64_t dst_nbins = dst_nbins_of[trial % 7 == 0 ? 1 + trial % 2 : 0];
    const double magnitude = std::pow(10.0, exponent(gen));
    const RandomHistogram h = random_histogram(bins, trial, magnitude, gen);
    double min_val = h.min_val, max_val = h.max_val;
    if (trial % 40 == 39) min_val = -std::numeric_limits<double>::infinity();
    std::vector<std::pair<int64_t, int64_t>> candidates = {{0, bins - 1}, {1, bins - 1}, {0, bins - 2},
                                                           {bins / 2, bins / 2}, {bins - 1, bins - 1}};
    for (int k = 0; k < 10; ++k) {
      const int64_t a = static_cast<int64_t>(gen() % bins), b = static_cast<int64_t>(gen() % bins);
      candidates.emplace_back(std::min(a, b), std::max(a, b));
    }
    std::shuffle(candidates.begin(), candidates.end(), gen);
    std::vector<double> want;
    for (const auto& c : candidates) want.push_back(upstream_error(h.counts, min_val, max_val, dst_nbins, c.first, c.second));
    for (const auto* loops : every_variant()) {
      const auto got = obs::histogram_candidate_errors(h.counts, min_val, max_val, dst_nbins, candidates, *loops);
      for (size_t k = 0; k < candidates.size(); ++k) {
        const bool same = std::isnan(got[k]) ? std::isnan(want[k]) : got[k] == want[k];
        ASSERT_TRUE(same) << loops->isa_name << ", trial " << trial << ", range [" << min_val << ", " << max_val
                          << "], candidate [" << candidates[k].first << ", " << candidates[k].second << "] of "
                          << bins << " bins, " << dst_nbins << " destination bins: " << got[k] << " vs upstream "
                          << want[k];
        ++compared;
      }
    }
    for (size_t k = 0; k < candidates.size(); ++k) {
      nan_errors += std::isnan(want[k]);
      large_finite_errors += !std::isnan(want[k]) && max_val - min_val > 1e12;
    }
  }
  // Every regime was reached.
  EXPECT_GT(nan_errors, 200);
  EXPECT_GT(large_finite_errors, 40);
  EXPECT_GT(compared, 2000);
}

// Upstream's _non_linear_param_search, line by line, with upstream_error:
// the range [new_min, new_max] as 0-d float32 tensors.
std::pair<at::Tensor, at::Tensor> upstream_search(const at::Tensor& histogram, const at::Tensor& min_val,
                                                  const at::Tensor& max_val, int64_t dst_nbins) {
  const int64_t bins = histogram.size(0);
  const at::Tensor bin_width = (max_val - min_val) / bins;
  const double total = at::sum(histogram).item<double>();
  const at::Tensor c_sum = at::cumsum(histogram, 0);
  const float* cumulative = c_sum.data_ptr<float>();
  double alpha = 0.0, beta = 1.0, norm_min = std::numeric_limits<double>::infinity();
  int64_t start_bin = 0, end_bin = bins - 1;
  while (alpha < beta) {
    const double next_alpha = alpha + 1e-5, next_beta = beta - 1e-5;
    int64_t l = start_bin, r = end_bin;
    // A float32 element against a Python float: ATen compares in float32.
    while (l < end_bin && cumulative[l] < static_cast<float>(next_alpha * total)) ++l;
    while (r > start_bin && cumulative[r] > static_cast<float>(next_beta * total)) --r;
    int64_t next_start_bin = start_bin, next_end_bin = end_bin;
    if ((l - start_bin) > (end_bin - r)) {
      next_start_bin = l;
      alpha = next_alpha;
    } else {
      next_end_bin = r;
      beta = next_beta;
    }
    if (next_start_bin == start_bin && next_end_bin == end_bin) continue;
    const double norm = upstream_error(histogram, min_val.item<double>(), max_val.item<double>(), dst_nbins,
                                       next_start_bin, next_end_bin);
    if (norm > norm_min) break;
    norm_min = norm;
    start_bin = next_start_bin;
    end_bin = next_end_bin;
  }
  return {min_val + bin_width * start_bin, min_val + bin_width * (end_bin + 1)};
}

// The whole search (exact sums of whole counts, bisected scans, the error
// shortcuts, the range's bounds on floats) and the scale and zero point
// from it, against upstream's loop and qparams_with_aten, in every regime.
TEST(QParamsFromHistogram, MatchesUpstreamSearchInEveryRegime) {
  std::mt19937 gen(41);
  std::uniform_real_distribution<double> exponent(-3.0, 30.0);
  const QParamsSpec specs[] = {
      {at::kQUInt8, c10::kPerTensorAffine, 0, 255, false},
      {at::kChar, c10::kPerTensorAffine, -128, 127, true},
      {at::kQInt8, c10::kPerTensorSymmetric, -128, 127, false},
      {at::kShort, c10::kPerTensorAffine, -32768, 32767, true},
  };
  const at::Tensor eps = at::full({1}, 0.000244140625, at::kFloat);
  for (int trial = 0; trial < 48; ++trial) {
    const int64_t bins = trial % 3 == 0 ? 24 : 96;
    const RandomHistogram h = random_histogram(bins, trial, std::pow(10.0, exponent(gen)), gen);
    const auto& s = specs[trial % 4];
    const at::Tensor min_val = scalar(h.min_val), max_val = scalar(h.max_val);
    const int64_t dst_nbins = s.dtype == at::kShort ? 65536 : 256;
    const auto want = upstream_search(h.counts, min_val, max_val, dst_nbins);
    const auto got = obs::histogram_search_range(h.counts, min_val, max_val, bins, s.dtype);
    ASSERT_TRUE(same_tensor(std::get<0>(got), want.first)) << "trial " << trial << ": new_min";
    ASSERT_TRUE(same_tensor(std::get<1>(got), want.second)) << "trial " << trial << ": new_max";
    const obs::QParamsSpec qspec = spec(s.qmin, s.qmax, s.dtype, s.qscheme, s.customized);
    ASSERT_TRUE(same_qparams(obs::qparams_from_histogram(h.counts, min_val, max_val, eps, bins, qspec),
                             obs::qparams_with_aten(want.first, want.second, eps, qspec)))
        << "trial " << trial;
  }
}

// min_val and max_val of shape [1] take ATen's tensor expressions for the
// range's bounds; 0-d ones the same float32 operations on floats.
TEST(QParamsFromHistogram, BoundsOnFloatsMatchTheTensorExpressions) {
  std::mt19937 gen(43);
  std::uniform_real_distribution<double> exponent(-20.0, 30.0);
  for (int trial = 0; trial < 200; ++trial) {
    const int64_t bins = trial % 2 ? 2048 : 33;
    const RandomHistogram h = random_histogram(bins, trial, std::pow(10.0, exponent(gen)), gen);
    const auto on_floats = obs::histogram_search_range(h.counts, scalar(h.min_val), scalar(h.max_val), bins, at::kQInt8);
    const auto on_tensors = obs::histogram_search_range(h.counts, at::full({1}, h.min_val, at::kFloat),
                                                        at::full({1}, h.max_val, at::kFloat), bins, at::kQInt8);
    ASSERT_TRUE(same_tensor(std::get<0>(on_floats), std::get<0>(on_tensors).reshape({}))) << "trial " << trial;
    ASSERT_TRUE(same_tensor(std::get<1>(on_floats), std::get<1>(on_tensors).reshape({}))) << "trial " << trial;
  }
}

}  // namespace
