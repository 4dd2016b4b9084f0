// CPU kernels of quantize_per_token / dequantize_per_token.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include <ATen/ATen.h>

#include "tests/common/kernel_test_utils.h"
#include "torch_pt2e_plugin/ops/per_token.h"

namespace ops = torch_pt2e::ops;
using torch_pt2e::testing::error_of;
using torch_pt2e::testing::values;

namespace {

at::Tensor floats(std::vector<float> v) { return at::tensor(v, at::kFloat); }

TEST(QuantizePerToken, AddsTheZeroPointBeforeRounding) {
  const at::Tensor x = floats({0.5f, 2.5f, -0.5f, 1000.0f}).reshape({1, 4});
  const auto q = ops::quantize_per_token(x, floats({1.0f}).reshape({1, 1}), at::ones({1, 1}, at::kLong), -128, 127,
                                         at::kChar);
  // 0.5+1 = 1.5 -> 2 (even); 2.5+1 = 3.5 -> 4; -0.5+1 = 0.5 -> 0; 1001 -> clamped to 127
  EXPECT_EQ(values<int8_t>(q), (std::vector<int8_t>{2, 4, 0, 127}));
}

TEST(QuantizePerToken, WorkedExamplesWithChooseQparamsOutputs) {
  // Symmetric per-token qparams are float32 scales and float32 zero zero points.
  const at::Tensor x = floats({1.0f, -2.54f, 0.25f, 0.5f}).reshape({2, 2});
  const auto q = ops::quantize_per_token(x, floats({0.02f, 0.25f}).reshape({2, 1}), at::zeros({2, 1}), -128, 127,
                                         at::kChar);
  // 1.0f / 0.02f = 50: 1 * 50 = 50; -2.54 * 50 = -126.99999 -> -127; 0.25 * 4 = 1; 0.5 * 4 = 2
  EXPECT_EQ(values<int8_t>(q), (std::vector<int8_t>{50, -127, 1, 2}));
  // Asymmetric ones are float64 scales and int64 zero points: 2.5 * 1 - 3 = -0.5 -> -0 (even) = 0
  // (rounding first would give 2 - 3 = -1).
  const auto q64 = ops::quantize_per_token(floats({2.5f}).reshape({1, 1}), at::ones({1, 1}, at::kDouble),
                                           at::full({1, 1}, -3, at::kLong), -128, 127, at::kChar);
  EXPECT_EQ(values<int8_t>(q64), (std::vector<int8_t>{0}));
}

TEST(QuantizePerToken, BFloat16ChainsRoundEveryOp) {
  // bfloat16 input, scales and zero points: every op rounds to bfloat16.
  const at::Tensor x = at::full({1, 1}, 101.0, at::kBFloat16);
  const at::Tensor one = at::ones({1, 1}, at::kBFloat16);
  const at::Tensor scale = at::full({1, 1}, 1.0 / 3.0, at::kBFloat16);  // 0.333984375
  const auto q = ops::quantize_per_token(x, scale, one, -32768, 32767, at::kShort);
  // 1 / 0.333984375 = 2.99415 -> bf16 3; 101 * 3 = 303 -> bf16 304 (tie to even);
  // 304 + 1 = 305 -> bf16 304 (tie to even); round -> 304
  EXPECT_EQ(values<int16_t>(q), (std::vector<int16_t>{304}));
  // The same values with float32 scales and zero points compute in float32:
  // 101 * 2.9941521 = 302.41, + 1 = 303.41 -> 303
  const auto q32 = ops::quantize_per_token(x, scale.to(at::kFloat), one.to(at::kFloat), -32768, 32767, at::kShort);
  EXPECT_EQ(values<int16_t>(q32), (std::vector<int16_t>{303}));
}

TEST(QuantizePerToken, ReducedChainsSaturateWhereTheBoundIsNotRepresentable) {
  // bfloat16(32767) = 32768: the bfloat16 clamp lets 32768 through; the plugin saturates to 32767.
  at::Tensor x = at::full({1, 2}, 40000.0, at::kBFloat16);
  x.index_put_({0, 1}, -40000.0);
  const at::Tensor one = at::ones({1, 1}, at::kBFloat16);
  const auto q = ops::quantize_per_token(x, one, at::zeros({1, 1}, at::kBFloat16), -32768, 32767, at::kShort);
  EXPECT_EQ(values<int16_t>(q), (std::vector<int16_t>{32767, -32768}));
}

TEST(QuantizePerToken, ShapesAndLayouts) {
  at::manual_seed(0);
  const at::Tensor x = at::randn({2, 3, 37}) * 10;
  const at::Tensor scales = at::rand({2, 3, 1}) * 0.2 + 0.05;
  const at::Tensor zps = at::randint(-5, 5, {2, 3, 1}, at::kLong);
  const auto q = ops::quantize_per_token(x, scales, zps, -128, 127, at::kChar);
  const at::Tensor expected = at::clamp(at::round(x * at::reciprocal(scales) + zps), -128, 127).to(at::kChar);
  EXPECT_TRUE(at::equal(q, expected));
  EXPECT_TRUE(at::equal(ops::quantize_per_token(x.transpose(0, 1).contiguous().transpose(0, 1), scales, zps, -128,
                                                127, at::kChar),
                        expected));
  // Scales may drop leading 1s: [3, 1] for a [1, 3, 37] input.
  EXPECT_TRUE(at::equal(ops::quantize_per_token(x.narrow(0, 0, 1), scales[0], zps[0], -128, 127, at::kChar),
                        expected.narrow(0, 0, 1)));
  // 0-d: one token of one element. 3 / 0.5 + 1 = 7
  EXPECT_EQ(ops::quantize_per_token(at::scalar_tensor(3.0), at::scalar_tensor(0.5), at::scalar_tensor(1, at::kLong),
                                    -128, 127, at::kChar)
                .item<int8_t>(),
            7);
  EXPECT_EQ(ops::quantize_per_token(at::empty({0, 4}), at::empty({0, 1}), at::empty({0, 1}), -128, 127, at::kChar)
                .sizes(),
            at::IntArrayRef({0, 4}));
}

TEST(QuantizePerToken, MoreThan2To24Elements) {
  at::manual_seed(1);
  const at::Tensor x = at::randn({4099, 4099}) * 10;
  const at::Tensor scales = at::rand({4099, 1}) * 0.1 + 0.05;
  const at::Tensor zps = at::zeros({4099, 1});
  const at::Tensor expected = at::clamp(at::round(x * at::reciprocal(scales) + zps), -128, 127).to(at::kChar);
  EXPECT_TRUE(at::equal(ops::quantize_per_token(x, scales, zps, -128, 127, at::kChar), expected));
}

TEST(DequantizePerToken, WorkedExamples) {
  const at::Tensor q = at::tensor(std::vector<int8_t>{-128, 127, 3}, at::kChar).reshape({1, 3});
  // int64 zero points and float64 scales: (-128 + 128) * 0.5 = 0; (127 + 128) * 0.5 = 127.5; (3 + 128) * 0.5 = 65.5
  const auto x = ops::dequantize_per_token(q, at::full({1, 1}, 0.5, at::kDouble), at::full({1, 1}, -128, at::kLong),
                                           -128, 127, at::kChar, at::kFloat);
  EXPECT_EQ(values<float>(x), (std::vector<float>{0.0f, 127.5f, 65.5f}));
  // bfloat16 zero points and scales (choose_qparams_per_token on bfloat16): q - zp and the product round to bfloat16.
  const auto xb = ops::dequantize_per_token(q, at::full({1, 1}, 0.1, at::kBFloat16),
                                            at::full({1, 1}, 1.5, at::kBFloat16), -128, 127, at::kChar, at::kFloat);
  // -128 - 1.5 = -129.5 -> bf16 -130 (tie to even), * 0.10009765625 = -13.0127 -> bf16 -13
  // 127 - 1.5 = 125.5, * 0.10009765625 = 12.5623 -> bf16 12.5625
  // 3 - 1.5 = 1.5, * 0.10009765625 = 0.150146 -> bf16 0.150390625
  EXPECT_EQ(values<float>(xb), (std::vector<float>{-13.0f, 12.5625f, 0.150390625f}));
}

TEST(QuantizePerToken, RejectsBadArgumentsWithTheValue) {
  const at::Tensor x = at::ones({2, 3, 4});
  const at::Tensor s = at::ones({2, 3, 1});
  EXPECT_NE(error_of([&] { ops::quantize_per_token(x, at::ones({6}), s, -128, 127, at::kChar); })
                .find("scales must hold one entry per token (6 tokens), shaped input.shape[:-1] + [1] = [2, 3, 1]"),
            std::string::npos);
  EXPECT_NE(error_of([&] { ops::quantize_per_token(x, s, at::ones({3, 2, 1}), -128, 127, at::kChar); })
                .find("zero_points must hold one entry per token"),
            std::string::npos);
  EXPECT_NE(error_of([&] { ops::quantize_per_token(x, s * 0, s, -128, 127, at::kChar); })
                .find("scales must be finite numbers > 0, got scales[0] = 0"),
            std::string::npos);
  EXPECT_NE(error_of([&] { ops::quantize_per_token(x, s, (s * 128).to(at::kLong), -128, 127, at::kChar); })
                .find("zero_points must lie in [quant_min, quant_max] = [-128, 127], got zero_points[0] = 128"),
            std::string::npos);
  EXPECT_NE(error_of([&] { ops::quantize_per_token(x.to(at::kInt), s, s, -128, 127, at::kChar); })
                .find("input must be a floating-point tensor"),
            std::string::npos);
  EXPECT_NE(error_of([&] { ops::quantize_per_token(x, s, s, 0, 300, at::kByte); })
                .find("quant_max must be <= 255 for dtype Byte, got 300"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              ops::dequantize_per_token(x.to(at::kChar), s, s, -128, 127, at::kChar, at::kLong);
            }).find("out_dtype must be a floating-point dtype, got Long"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              ops::dequantize_per_token(x.to(at::kByte), s, s, -128, 127, at::kChar, at::kFloat);
            }).find("input must have the dtype given by the dtype argument (Char), got Byte"),
            std::string::npos);
}

}  // namespace
