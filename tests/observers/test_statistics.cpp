// Observer forward statistics (torch_pt2e_plugin/observers/statistics.h),
// worked examples; parity with upstream is tests/observers/test_observers.py.
#include <gtest/gtest.h>

#include <limits>
#include <vector>

#include <ATen/ATen.h>

#include "torch_pt2e_plugin/observers/statistics.h"

namespace obs = torch_pt2e::observers;

namespace {

const float kInf = std::numeric_limits<float>::infinity();

at::Tensor scalar(float v) { return at::scalar_tensor(v, at::kFloat); }

std::vector<float> values(const at::Tensor& t) {
  const at::Tensor c = t.contiguous();
  return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}

TEST(UpdateMinMax, RunningExtremaSkipEmptyInputs) {
  at::Tensor lo = scalar(kInf), hi = scalar(-kInf);
  obs::update_min_max(at::tensor({1.0f, -2.0f, 3.0f}), lo, hi);
  EXPECT_EQ(lo.item<float>(), -2.0f);
  EXPECT_EQ(hi.item<float>(), 3.0f);
  obs::update_min_max(at::empty({0, 4}), lo, hi);
  EXPECT_EQ(lo.item<float>(), -2.0f);
  obs::update_min_max(at::tensor({5.0}, at::kDouble), lo, hi);  // converted to float32
  EXPECT_EQ(hi.item<float>(), 5.0f);
  EXPECT_EQ(lo.dim(), 0);
  EXPECT_THROW(obs::update_min_max(at::ones({2}), at::zeros({2}), hi), c10::Error);  // state must be 0-d
}

TEST(UpdateMovingAverage, FirstInputSetsThenAverages) {
  at::Tensor lo = scalar(kInf), hi = scalar(-kInf);
  obs::update_moving_average_min_max(at::tensor({0.0f, 4.0f}), lo, hi, 0.5);
  EXPECT_EQ(lo.item<float>(), 0.0f);
  EXPECT_EQ(hi.item<float>(), 4.0f);
  obs::update_moving_average_min_max(at::tensor({2.0f, 2.0f}), lo, hi, 0.5);
  // min: 0 + 0.5 * (2 - 0) = 1; max: 4 + 0.5 * (2 - 4) = 3
  EXPECT_EQ(lo.item<float>(), 1.0f);
  EXPECT_EQ(hi.item<float>(), 3.0f);
}

TEST(UpdatePerChannel, AlongEitherAxisAndNegative) {
  const at::Tensor x = at::tensor({1.0f, -1.0f, 3.0f, 5.0f}).view({2, 2});  // [[1, -1], [3, 5]]
  at::Tensor lo = at::empty({0}), hi = at::empty({0});
  obs::update_per_channel_min_max(x, lo, hi, 0);
  EXPECT_EQ(values(lo), (std::vector<float>{-1.0f, 3.0f}));
  EXPECT_EQ(values(hi), (std::vector<float>{1.0f, 5.0f}));
  lo = at::empty({0});
  hi = at::empty({0});
  obs::update_per_channel_min_max(x, lo, hi, -1);
  EXPECT_EQ(values(lo), (std::vector<float>{1.0f, -1.0f}));
  EXPECT_EQ(values(hi), (std::vector<float>{3.0f, 5.0f}));
  obs::update_per_channel_min_max(at::tensor({0.0f, 9.0f}).view({1, 2}), lo, hi, 1);
  EXPECT_EQ(values(lo), (std::vector<float>{0.0f, -1.0f}));
  EXPECT_EQ(values(hi), (std::vector<float>{3.0f, 9.0f}));
  EXPECT_THROW(obs::update_per_channel_min_max(at::ones({2, 3}), lo, hi, 1), c10::Error);  // 3 channels, not 2
}

TEST(UpdateMovingAveragePerChannel, Averages) {
  at::Tensor lo = at::empty({0}), hi = at::empty({0});
  obs::update_moving_average_per_channel_min_max(at::tensor({0.0f, 8.0f, 4.0f, 4.0f}).view({2, 2}), lo, hi, 0, 0.25);
  obs::update_moving_average_per_channel_min_max(at::tensor({4.0f, 4.0f, 0.0f, 0.0f}).view({2, 2}), lo, hi, 0, 0.25);
  // channel 0: min 0 + 0.25 * (4 - 0) = 1, max 8 + 0.25 * (4 - 8) = 7; channel 1: 4 + 0.25 * (0 - 4) = 3
  EXPECT_EQ(values(lo), (std::vector<float>{1.0f, 3.0f}));
  EXPECT_EQ(values(hi), (std::vector<float>{7.0f, 3.0f}));
}

struct HistogramState {
  at::Tensor histogram, min_val = scalar(kInf), max_val = scalar(-kInf);
  int64_t bins, upsample_rate;
  HistogramState(int64_t b, int64_t rate) : histogram(at::zeros({b})), bins(b), upsample_rate(rate) {}
  void observe(const at::Tensor& x) { obs::update_histogram(x, histogram, min_val, max_val, bins, upsample_rate); }
};

TEST(UpdateHistogram, GrowingRangeReBucketsTheOldHistogram) {
  HistogramState s(2, 1);
  s.observe(at::tensor({0.0f, 1.0f}));  // [0, 1] in 2 bins: [1, 1]
  EXPECT_EQ(values(s.histogram), (std::vector<float>{1.0f, 1.0f}));
  s.observe(at::tensor({3.0f}));
  // New range [0, 3]: the new value lands in bin 1 ([1.5, 3]); the old bins'
  // midpoints 0.25 and 0.75 both fall in bin 0 ([0, 1.5)): [2, 1].
  EXPECT_EQ(values(s.histogram), (std::vector<float>{2.0f, 1.0f}));
  EXPECT_EQ(s.min_val.item<float>(), 0.0f);
  EXPECT_EQ(s.max_val.item<float>(), 3.0f);
}

TEST(UpdateHistogram, ConstantFirstInputWeighsByTheNewMassAsUpstream) {
  HistogramState s(2, 16);
  s.observe(at::tensor({2.0f, 2.0f}));  // histc widens [2, 2] to [1, 3]: both in bin 1
  EXPECT_EQ(values(s.histogram), (std::vector<float>{0.0f, 2.0f}));
  s.observe(at::tensor({4.0f}));
  // Range [2, 4]: the new value is in bin 1; upstream moves the old single
  // value 2 into bin 0 with the new histogram's total mass (1), not its own (2).
  EXPECT_EQ(values(s.histogram), (std::vector<float>{1.0f, 1.0f}));
}

TEST(UpdateHistogram, InfDroppedNaNRejected) {
  HistogramState s(4, 16);
  s.observe(at::tensor({kInf, -kInf}));  // nothing left
  EXPECT_EQ(s.min_val.item<float>(), kInf);
  s.observe(at::tensor({0.0f, 1.0f, 2.0f, 3.0f, 3.0f, kInf}));
  EXPECT_EQ(values(s.histogram), (std::vector<float>{1.0f, 1.0f, 1.0f, 2.0f}));
  EXPECT_THROW(s.observe(at::tensor({std::numeric_limits<float>::quiet_NaN()})), c10::Error);
}

}  // namespace
