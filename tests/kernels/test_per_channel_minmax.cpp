// torch_pt2e::per_channel_aminmax: the CPU kernel (every ISA variant of its
// loops) against ATen's amin/amax, over layouts and axes.
#include <gtest/gtest.h>

#include <algorithm>
#include <limits>
#include <vector>

#include <ATen/ATen.h>

#include "kernels/cpu/cpu_capability.h"
#include "kernels/cpu/observer_loops.h"
#include "kernels/per_channel_minmax.h"
#include "torch_pt2e_plugin/observers/observer_ops.h"

namespace cpu = torch_pt2e::kernels::cpu;

namespace {

// Compares as bits, so NaN must be NaN in the same places.
void expect_same(const at::Tensor& got, const at::Tensor& expected, const std::string& what) {
  ASSERT_EQ(got.scalar_type(), at::kFloat) << what;
  ASSERT_EQ(got.sizes(), expected.sizes()) << what;
  EXPECT_TRUE(at::equal(at::isnan(got), at::isnan(expected))) << what;
  const at::Tensor finite = ~at::isnan(expected);
  EXPECT_TRUE(at::equal(got.masked_select(finite), expected.masked_select(finite))) << what;
}

void check_all_axes(const at::Tensor& x, const std::string& name) {
  for (int64_t axis = -x.dim(); axis < x.dim(); ++axis) {
    at::Tensor lo, hi;
    std::tie(lo, hi) = torch_pt2e::observers::per_channel_aminmax(x, axis);
    const at::Tensor rows = x.movedim(axis, 0).reshape({x.size(axis), -1}).to(at::kFloat);
    expect_same(lo, rows.amin(1), name + " min, axis " + std::to_string(axis));
    expect_same(hi, rows.amax(1), name + " max, axis " + std::to_string(axis));
  }
}

TEST(PerChannelAminmax, MatchesAtenOverLayouts) {
  at::manual_seed(0);
  check_all_axes(at::randn({4, 6, 5, 7}), "contiguous");
  check_all_axes(at::randn({8, 16, 33, 35}).contiguous(at::MemoryFormat::ChannelsLast), "channels_last");
  check_all_axes(at::randn({9, 3, 11}).transpose(0, 2), "transposed (dense, permuted)");
  check_all_axes(at::randn({6, 20, 9}).slice(1, 0, 20, 3), "sliced (not dense)");
  check_all_axes(at::randn({2, 70000}), "wide rows, many pieces");
  check_all_axes(at::randn({70000, 3}), "narrow rows");
  check_all_axes(at::randn({5, 1, 30000}), "single channel");
  check_all_axes(at::randn({100003, 3}), "rows of 3, grouped, with leftover rows");
  check_all_axes(at::randn({9999, 5, 3}), "short runs read as rows");
  check_all_axes(at::randn({3, 40, 600}), "runs just above the short-run limit");
  check_all_axes(at::randn({4, 6, 5}, at::kDouble), "float64 (reference path)");
  check_all_axes(at::randn({4, 6, 5}).to(at::kHalf), "float16 (reference path)");
}

TEST(PerChannelAminmax, NaNAndInfinity) {
  at::Tensor x = at::randn({6, 9, 3000});
  x.index_put_({2, 4, 2999}, std::numeric_limits<float>::quiet_NaN());
  x.index_put_({3, 1, 0}, std::numeric_limits<float>::infinity());
  x.index_put_({0, 0, 1500}, -std::numeric_limits<float>::infinity());
  check_all_axes(x, "nan/inf");
}

TEST(PerChannelAminmax, Errors) {
  EXPECT_THROW(torch_pt2e::observers::per_channel_aminmax(at::randn({5}), 0), c10::Error);     // 1-d
  EXPECT_THROW(torch_pt2e::observers::per_channel_aminmax(at::randn({2, 3}), 2), c10::Error);  // axis
  EXPECT_THROW(torch_pt2e::observers::per_channel_aminmax(at::empty({0, 3}), 1), c10::Error);  // empty
  EXPECT_THROW(torch_pt2e::observers::per_channel_aminmax(at::ones({2, 3}, at::kInt), 1), c10::Error);
}

TEST(ObserverLoops, EveryIsaVariantAgrees) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> data(1000);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<float>((i * 37) % 101) - 50.0f;
  std::vector<const cpu::ObserverLoops*> variants = {&cpu::observer_loops_default()};
  // Only the variants this CPU can run.
  if (cpu::detected_cpu_capability() >= cpu::CpuCapability::kAVX2) variants.push_back(&cpu::observer_loops_avx2());
  if (cpu::detected_cpu_capability() >= cpu::CpuCapability::kAVX512) variants.push_back(&cpu::observer_loops_avx512());
  for (const auto* loops : variants) {
    SCOPED_TRACE(loops->isa_name);
    float lo = 10.0f, hi = -10.0f;
    loops->reduce_run(data.data(), 999, &lo, &hi);  // odd length: tail loop too
    EXPECT_EQ(lo, -50.0f);
    EXPECT_EQ(hi, 50.0f);
    std::vector<float> with_nan = data;
    with_nan[998] = nan;  // in the tail
    lo = 0.0f;
    hi = 0.0f;
    loops->reduce_run(with_nan.data(), 999, &lo, &hi);
    EXPECT_TRUE(lo != lo && hi != hi);
    lo = nan;  // NaN already recorded stays
    hi = 0.0f;
    loops->reduce_run(data.data(), 64, &lo, &hi);
    EXPECT_TRUE(lo != lo);
    // rows of 3: column c holds values c, c+3, ...
    std::vector<float> mins(3, 1e9f), maxs(3, -1e9f), nan_counts(3, 0.0f);
    with_nan[4] = nan;  // row 1, column 1 (row 332, column 2 holds the NaN at 998)
    loops->reduce_rows(with_nan.data(), 333, 3, mins.data(), maxs.data(), nan_counts.data());
    EXPECT_EQ(nan_counts, (std::vector<float>{0.0f, 1.0f, 1.0f}));
    for (int c = 0; c < 3; ++c) {
      float expected_min = 1e9f, expected_max = -1e9f;
      for (int r = 0; r < 333; ++r) {
        if (r * 3 + c == 4 || r * 3 + c == 998) continue;  // NaN is counted, not folded
        expected_min = std::min(expected_min, data[r * 3 + c]);
        expected_max = std::max(expected_max, data[r * 3 + c]);
      }
      EXPECT_EQ(mins[c], expected_min);
      EXPECT_EQ(maxs[c], expected_max);
    }
  }
}

}  // namespace
