// Scale and zero point from statistics (torch_pt2e_plugin/observers/qparams.h),
// worked examples; parity with upstream is tests/observers/test_observers.py.
#include <gtest/gtest.h>

#include <limits>

#include <ATen/ATen.h>

#include "torch_pt2e_plugin/observers/qparams.h"

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

TEST(QParamsFromHistogram, UnobservedAndBinMismatch) {
  const float inf = std::numeric_limits<float>::infinity();
  const auto s = spec(0, 255, at::kQUInt8, c10::kPerTensorAffine);
  const auto qp = obs::qparams_from_histogram(at::zeros({8}), scalar(inf), scalar(-inf), kEps, 8, s);
  EXPECT_TRUE(at::equal(std::get<0>(qp), at::tensor({1.0f})));
  EXPECT_TRUE(at::equal(std::get<1>(qp), at::tensor({int64_t(0)})));
  EXPECT_THROW(obs::qparams_from_histogram(at::ones({8}), scalar(0.0f), scalar(1.0f), kEps, 16, s), c10::Error);
}

}  // namespace
