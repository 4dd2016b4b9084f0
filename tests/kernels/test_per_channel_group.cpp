// CPU kernels of quantize_per_channel_group / dequantize_per_channel_group.
#include <gtest/gtest.h>

#include <cmath>

#include <ATen/ATen.h>

#include "tests/common/kernel_test_utils.h"
#include "torch_pt2e_plugin/ops/per_channel_group.h"

namespace ops = torch_pt2e::ops;
using torch_pt2e::testing::error_of;
using torch_pt2e::testing::values;

namespace {

at::Tensor floats(std::vector<float> v) { return at::tensor(v, at::kFloat); }
at::Tensor ints(std::vector<int32_t> v) { return at::tensor(v, at::kInt); }

TEST(QuantizePerChannelGroup, WorkedExampleInt4) {
  // Two rows of four, groups of two: scales/zero points per group in row-major order.
  const at::Tensor w = floats({0.25f, -0.75f, 1.0f, 10.0f, -0.125f, 0.375f, 0.5f, -3.0f}).reshape({2, 4});
  const at::Tensor scales = floats({0.25f, 0.5f, 0.25f, 1.0f}).reshape({4, 1});
  const auto q = ops::quantize_per_channel_group(w, scales, ints({1, 0, -2, 3}).reshape({4, 1}), -8, 7, at::kChar, 2);
  // group 0: 0.25*4+1 = 2; -0.75*4+1 = -2
  // group 1: 1*2+0 = 2; 10*2 = 20 -> clamped to 7
  // group 2: -0.125*4-2 = -2.5 -> -2 (even); 0.375*4-2 = -0.5 -> -0 = 0
  // group 3: 0.5*1+3 = 3.5 -> 4; -3+3 = 0
  EXPECT_EQ(values<int8_t>(q), (std::vector<int8_t>{2, -2, 2, 7, -2, 0, 4, 0}));
  const auto d = ops::dequantize_per_channel_group(q, scales, ints({1, 0, -2, 3}).reshape({4, 1}), -8, 7, at::kChar,
                                                   2, at::kFloat);
  // (2-1)*0.25 = 0.25; (-2-1)*0.25 = -0.75; 2*0.5 = 1; 7*0.5 = 3.5; (-2+2)*0.25 = 0; (0+2)*0.25 = 0.5; 1*1; -3*1
  EXPECT_EQ(values<float>(d), (std::vector<float>{0.25f, -0.75f, 1.0f, 3.5f, 0.0f, 0.5f, 1.0f, -3.0f}));
  // No zero points: w * scales.
  const auto d0 = ops::dequantize_per_channel_group(q, scales, c10::nullopt, -8, 7, at::kChar, 2, at::kFloat);
  EXPECT_EQ(values<float>(d0), (std::vector<float>{0.5f, -0.5f, 1.0f, 3.5f, -0.5f, 0.0f, 4.0f, 0.0f}));
}

TEST(QuantizePerChannelGroup, GroupSizeBeyondTheRowMeansOneGroupPerRow) {
  // GPTQ's single-column case: scales.shape[-1] == 1 and group_size > columns.
  const at::Tensor w = floats({1.0f, 2.0f, 3.0f, 4.0f}).reshape({2, 2});
  const auto q = ops::quantize_per_channel_group(w, floats({1.0f, 2.0f}).reshape({2, 1}), ints({0, 0}).reshape({2, 1}),
                                                 -8, 7, at::kChar, 128);
  // row 0: 1/1, 2/1; row 1: 3/2 = 1.5 -> 2, 4/2 = 2
  EXPECT_EQ(values<int8_t>(q), (std::vector<int8_t>{1, 2, 2, 2}));
}

TEST(QuantizePerChannelGroup, OneScaleBroadcastsAndDtypesPromote) {
  at::manual_seed(0);
  const at::Tensor w = at::randn({8, 64});
  const at::Tensor scale = floats({0.125f}).reshape({1, 1});
  const auto q = ops::quantize_per_channel_group(w, scale, ints({1}).reshape({1, 1}), -8, 7, at::kChar, 32);
  EXPECT_TRUE(at::equal(q, at::clamp(at::round(w * 8 + 1), -8, 7).to(at::kChar)));
  // float64 scales: float64 arithmetic.
  const at::Tensor scales64 = at::rand({16, 1}, at::kDouble) + 0.05;
  const at::Tensor expected = at::clamp(at::round(w.to(at::kDouble).reshape({-1, 32}) * at::reciprocal(scales64)), -8, 7)
                                  .to(at::kChar)
                                  .reshape({8, 64});
  EXPECT_TRUE(at::equal(ops::quantize_per_channel_group(w, scales64, at::zeros({16, 1}, at::kInt), -8, 7, at::kChar, 32),
                        expected));
}

TEST(DequantizePerChannelGroup, NarrowZeroPointsWrapAsTorchDoes) {
  // int8 - int8 stays int8 in torch: -128 - 1 wraps to 127. The plugin evaluates torch's expression there.
  const at::Tensor q = at::tensor(std::vector<int8_t>{-128, 127}, at::kChar).reshape({1, 2});
  const auto d = ops::dequantize_per_channel_group(q, floats({1.0f}).reshape({1, 1}),
                                                   at::ones({1, 1}, at::kChar), -128, 127, at::kChar, 2, at::kFloat);
  EXPECT_EQ(values<float>(d), (std::vector<float>{127.0f, 126.0f}));
}

TEST(QuantizePerChannelGroup, SizesAndNonContiguous) {
  at::manual_seed(1);
  const at::Tensor w = at::randn({4097, 4100});
  const at::Tensor scales = at::rand({4097 * 4100 / 41, 1}) * 0.3 + 0.05;
  const at::Tensor zps = at::randint(-8, 8, {4097 * 4100 / 41, 1}, at::kInt);
  const at::Tensor expected =
      at::clamp(at::round(w.reshape({-1, 41}) * at::reciprocal(scales) + zps), -8, 7).to(at::kChar).reshape(w.sizes());
  EXPECT_TRUE(at::equal(ops::quantize_per_channel_group(w, scales, zps, -8, 7, at::kChar, 41), expected));
  const at::Tensor t = w.t().contiguous().t();
  EXPECT_TRUE(at::equal(ops::quantize_per_channel_group(t, scales, zps, -8, 7, at::kChar, 41), expected));
  EXPECT_EQ(ops::quantize_per_channel_group(at::empty({0, 64}), at::empty({0, 1}), at::empty({0, 1}), -8, 7,
                                            at::kChar, 32)
                .sizes(),
            at::IntArrayRef({0, 64}));
}

TEST(QuantizePerChannelGroup, RejectsBadArgumentsWithTheValue) {
  const at::Tensor w = at::ones({2, 64});
  const at::Tensor s = at::ones({4, 1});
  auto quantize = [&](const at::Tensor& input, const at::Tensor& scales, const at::Tensor& zps, int64_t group_size) {
    return error_of([&] { ops::quantize_per_channel_group(input, scales, zps, -8, 7, at::kChar, group_size); });
  };
  EXPECT_NE(quantize(w, s, s, 1).find("group_size must be > 1, got 1"), std::string::npos);
  EXPECT_NE(quantize(w, s, s, 24).find("input.shape[-1] (64) must be divisible by group_size (24)"),
            std::string::npos);
  EXPECT_NE(quantize(at::ones({64}), s, s, 32).find("input must be 2-D, got shape [64]"), std::string::npos);
  EXPECT_NE(quantize(w, at::ones({3, 1}), s, 32)
                .find("scales must hold one entry per group (4 groups of 32) or a single one, got shape [3, 1]"),
            std::string::npos);
  EXPECT_NE(quantize(w, s, at::ones({5}), 32).find("zero_points must hold one entry per group"), std::string::npos);
  at::Tensor with_nan = w.clone();
  with_nan.index_put_({1, 3}, std::nanf(""));
  EXPECT_NE(quantize(with_nan, s, s, 32).find("input must not contain NaN (upstream asserts it), got NaN at flat index 67"),
            std::string::npos);
  EXPECT_NE(quantize(w, s * 0, s, 32).find("scales must be finite numbers > 0, got scales[0] = 0"), std::string::npos);
  EXPECT_NE(quantize(w, s, (s * 8).to(at::kInt), 32)
                .find("zero_points must lie in [quant_min, quant_max] = [-8, 7], got zero_points[0] = 8"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              ops::dequantize_per_channel_group(w.to(at::kChar), s, c10::nullopt, -8, 7, at::kChar, 32, at::kInt);
            }).find("out_dtype must be a floating-point dtype, got Int"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              ops::dequantize_per_channel_group(w.to(at::kShort), s, c10::nullopt, -8, 7, at::kChar, 32, at::kFloat);
            }).find("input must have the dtype given by the dtype argument (Char), got Short"),
            std::string::npos);
}

}  // namespace
