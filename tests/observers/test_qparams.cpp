// Scale and zero point from statistics (torch_pt2e_plugin/observers/qparams.h),
// worked examples; parity with upstream is tests/observers/test_observers.py.
#include <gtest/gtest.h>

#include <limits>
#include <string>
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

}  // namespace
