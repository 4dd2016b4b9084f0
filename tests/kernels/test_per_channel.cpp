// CPU kernels of quantize_per_channel / dequantize_per_channel, and the
// per-channel loops of every instruction-set variant.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

#include <ATen/ATen.h>
#include <torch/version.h>

#include "kernels/cpu/loops.h"
#include "tests/common/kernel_test_utils.h"
#include "torch_pt2e_plugin/ops/per_channel.h"

namespace ops = torch_pt2e::ops;
namespace cpu = torch_pt2e::kernels::cpu;
using torch_pt2e::testing::error_of;
using torch_pt2e::testing::runnable_loop_tables;
using torch_pt2e::testing::values;

namespace {

const float kInf = std::numeric_limits<float>::infinity();

at::Tensor floats(std::vector<float> v) { return at::tensor(v, at::kFloat); }
at::Tensor longs(std::vector<int64_t> v) { return at::tensor(v, at::kLong); }

TEST(QuantizePerChannel, WorkedExamplesInt8) {
  const at::Tensor x = floats({4.0f, 0.375f, 3.0f, -1.0f, 0.125f, 1000.0f}).reshape({2, 3});
  const at::Tensor scales = floats({0.5f, 0.25f, 2.0f});
  const auto q = ops::quantize_per_channel(x, scales, longs({108, -3, 0}), 1, -128, 127, at::kChar);
  // channel 0: 4 * (1/0.5) = 8, + 108 = 116;        -1 * 2 = -2, + 108 = 106
  // channel 1: 0.375 * 4 = 1.5 -> 2 (even), -3 = -1; 0.125 * 4 = 0.5 -> 0 (even), -3 = -3
  // channel 2: 3 * 0.5 = 1.5 -> 2, + 0 = 2;          1000 * 0.5 = 500 -> clamped to 127
  EXPECT_EQ(values<int8_t>(q), (std::vector<int8_t>{116, -1, 2, 106, -3, 127}));
}

TEST(QuantizePerChannel, RoundsBeforeAddingTheZeroPoint) {
  // 0.5 * 1 = 0.5 -> 0 (even), + 1 = 1 (adding first would give round(1.5) = 2)
  const auto q = ops::quantize_per_channel(floats({0.5f}), floats({1.0f}), longs({1}), 0, 0, 255, at::kByte);
  EXPECT_EQ(values<uint8_t>(q), (std::vector<uint8_t>{1}));
}

TEST(QuantizePerChannel, EdgeValuesEveryDtype) {
  const float denormal = std::numeric_limits<float>::denorm_min();
  const at::Tensor x = floats({kInf, -kInf, std::nanf(""), denormal, -0.0f, 2.5f}).reshape({1, 6});
  struct Case {
    at::ScalarType dtype;
    int64_t qmin, qmax, zp;
  };
  std::vector<Case> cases = {{at::kByte, 0, 255, 3},
                             {at::kChar, -128, 127, -3},
                             {at::kShort, -32768, 32767, 7},
                             {at::kInt, -2147483648LL, 2147483647LL, -5}};
#if (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 3) || TORCH_VERSION_MAJOR > 2
  cases.push_back({at::ScalarType::UInt16, 0, 65535, 9});
#endif
  for (const auto& c : cases) {
    SCOPED_TRACE(c.dtype);
    const auto q = ops::quantize_per_channel(x, floats({1.0f}), longs({c.zp}), 0, c.qmin, c.qmax, c.dtype);
    const auto wide = values<int64_t>(q.to(at::kLong));
    // inf -> qmax; -inf -> qmin; NaN -> the zero point; denormal rounds to 0 -> zp;
    // -0 -> zp; 2.5 rounds to 2 (even) -> zp + 2
    EXPECT_EQ(wide, (std::vector<int64_t>{c.qmax, c.qmin, c.zp, c.zp, c.zp, c.zp + 2}));
  }
}

TEST(QuantizePerChannel, Int32SaturatesAtTheRange) {
  // 3e9 and -3e9 lie beyond int32: clamped in float to 2^31 (float(INT32_MAX)), then saturated.
  const auto q = ops::quantize_per_channel(floats({3e9f, -3e9f}).reshape({1, 2}), floats({1.0f, 1.0f}),
                                           longs({0, 0}), 1, -2147483648LL, 2147483647LL, at::kInt);
  EXPECT_EQ(values<int32_t>(q), (std::vector<int32_t>{2147483647, -2147483647 - 1}));
}

TEST(QuantizePerChannel, ScaleDtypeSetsTheArithmetic) {
  at::manual_seed(3);
  const at::Tensor x = at::randn({5, 1001}) * 30;
  const at::Tensor scales64 = at::rand({5}, at::kDouble) * 0.3 + 0.01;
  // float64 scales: the whole expression is float64 (upstream's promotion).
  const at::Tensor expected64 =
      at::clamp(at::round(x.to(at::kDouble) * at::reciprocal(scales64).unsqueeze(1)) + 2, -128, 127).to(at::kChar);
  EXPECT_TRUE(at::equal(ops::quantize_per_channel(x, scales64, longs({2, 2, 2, 2, 2}), 0, -128, 127, at::kChar),
                        expected64));
  // float32 scales: 1.0f / s in float32, then float32 arithmetic.
  const at::Tensor scales32 = scales64.to(at::kFloat);
  const at::Tensor expected32 =
      at::clamp(at::round(x * at::reciprocal(scales32).unsqueeze(1)) + 2, -128, 127).to(at::kChar);
  EXPECT_TRUE(at::equal(ops::quantize_per_channel(x, scales32, longs({2, 2, 2, 2, 2}), 0, -128, 127, at::kChar),
                        expected32));
}

TEST(QuantizePerChannel, FloatZeroPointsTruncateAndAreNotRangeChecked) {
  // round(1 * 2) + 0.75 = 2.75 -> 2 (cast truncates); round(-1 * 2) - 300.5 = -302.5 -> clamped to 0
  const auto q = ops::quantize_per_channel(floats({1.0f, -1.0f}), floats({0.5f, 0.5f}), floats({0.75f, -300.5f}), 0,
                                           0, 255, at::kByte);
  EXPECT_EQ(values<uint8_t>(q), (std::vector<uint8_t>{2, 0}));
}

TEST(QuantizePerChannel, LayoutsAndSizes) {
  at::manual_seed(1);
  const at::Tensor x = at::randn({2, 5, 3, 7}) * 20;
  const at::Tensor scales = at::rand({5}) * 0.2 + 0.05;
  const at::Tensor zps = at::randint(-10, 10, {5}, at::kLong);
  const auto expected = ops::quantize_per_channel(x, scales, zps, 1, -128, 127, at::kChar);
  const at::Tensor channels_last = x.contiguous(at::MemoryFormat::ChannelsLast);
  const auto q = ops::quantize_per_channel(channels_last, scales, zps, 1, -128, 127, at::kChar);
  EXPECT_EQ(q.strides(), channels_last.strides());
  EXPECT_TRUE(at::equal(q, expected));
  EXPECT_TRUE(at::equal(ops::quantize_per_channel(x.transpose(0, 2).contiguous().transpose(0, 2), scales, zps, 1,
                                                  -128, 127, at::kChar),
                        expected));
  // Negative axis, and a 1-D input whose channels are its elements.
  EXPECT_TRUE(at::equal(ops::quantize_per_channel(x, scales, zps, -3, -128, 127, at::kChar), expected));
  const auto one_d = ops::quantize_per_channel(floats({1.0f, 2.0f}), floats({0.5f, 0.25f}), longs({1, -1}), 0, -128,
                                               127, at::kChar);
  EXPECT_EQ(values<int8_t>(one_d), (std::vector<int8_t>{3, 7}));  // 1/0.5+1 = 3; 2/0.25-1 = 7
  EXPECT_EQ(ops::quantize_per_channel(at::empty({0, 5}), scales, zps, 1, -128, 127, at::kChar).sizes(),
            at::IntArrayRef({0, 5}));
}

TEST(QuantizePerChannel, MoreThan2To24Elements) {
  at::manual_seed(2);
  const at::Tensor x = at::randn({2, (1 << 23) + 5}) * 10;
  const at::Tensor scales = floats({0.1f, 0.02f});
  const auto q = ops::quantize_per_channel(x, scales, longs({0, 5}), 0, -128, 127, at::kChar);
  const at::Tensor expected =
      at::clamp(at::round(x * at::reciprocal(scales).unsqueeze(1)) + longs({0, 5}).unsqueeze(1), -128, 127)
          .to(at::kChar);
  EXPECT_TRUE(at::equal(q, expected));
}

TEST(QuantizePerChannel, RejectsBadArgumentsWithTheValue) {
  const at::Tensor x = at::ones({2, 3});
  auto quantize = [&](at::Tensor s, at::Tensor z, int64_t axis) {
    return error_of([&] { ops::quantize_per_channel(x, s, z, axis, -128, 127, at::kChar); });
  };
  EXPECT_NE(quantize(at::ones({2}), longs({0, 0, 0}), 1)
                .find("scales must be 1-D with one entry per channel (input.size(1) = 3), got shape [2]"),
            std::string::npos);
  EXPECT_NE(quantize(at::ones({3}), longs({0, 0}), 1).find("zero_points must be 1-D"), std::string::npos);
  EXPECT_NE(quantize(floats({1, 0, 1}), longs({0, 0, 0}), 1).find("scales must be finite numbers > 0, got scales[1] = 0"),
            std::string::npos);
  EXPECT_NE(quantize(floats({1, 1, -kInf}), longs({0, 0, 0}), 1).find("got scales[2] = -inf"), std::string::npos);
  EXPECT_NE(quantize(floats({std::nanf(""), 1, 1}), longs({0, 0, 0}), 1).find("got scales[0] = nan"),
            std::string::npos);
  EXPECT_NE(quantize(at::ones({3}), longs({0, -129, 0}), 1)
                .find("zero_points must lie in [quant_min, quant_max] = [-128, 127], got zero_points[1] = -129"),
            std::string::npos);
  EXPECT_NE(quantize(at::ones({3}), floats({0, kInf, 0}), 1).find("zero_points must be finite, got zero_points[1] = inf"),
            std::string::npos);
  EXPECT_NE(quantize(at::ones({3}), longs({0, 0, 0}), 2).find("axis must be in [-2, 2) for a 2-d input, got 2"),
            std::string::npos);
  EXPECT_NE(quantize(at::ones({3}, at::kInt), longs({0, 0, 0}), 1).find("scales must be a floating-point tensor"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              ops::quantize_per_channel(x.to(at::kDouble), at::ones({3}), longs({0, 0, 0}), 1, -128, 127, at::kChar);
            }).find("input must be float32, float16 or bfloat16, got Double"),
            std::string::npos);
  EXPECT_NE(error_of([&] { ops::quantize_per_channel(x, at::ones({3}), longs({0, 0, 0}), 1, 5, 1, at::kChar); })
                .find("quant_min must be <= quant_max, got quant_min=5 and quant_max=1"),
            std::string::npos);
}

TEST(DequantizePerChannel, WorkedExamples) {
  const at::Tensor q = at::tensor(std::vector<int8_t>{116, -1, 2, 106, -128, 127}, at::kChar).reshape({2, 3});
  const at::Tensor scales = floats({0.5f, 0.25f, 2.0f});
  const auto x = ops::dequantize_per_channel(q, scales, longs({108, -3, 0}), 1, -128, 127, at::kChar);
  // (116-108)*0.5 = 4; (-1+3)*0.25 = 0.5; (2-0)*2 = 4; (106-108)*0.5 = -1; (-128+3)*0.25 = -31.25; 127*2 = 254
  EXPECT_EQ(values<float>(x), (std::vector<float>{4.0f, 0.5f, 4.0f, -1.0f, -31.25f, 254.0f}));
  // No zero points: input * scales.
  const auto no_zp = ops::dequantize_per_channel(q, scales, c10::nullopt, 1, -128, 127, at::kChar, at::kDouble);
  EXPECT_EQ(values<double>(no_zp), (std::vector<double>{58.0, -0.25, 4.0, 53.0, -32.0, 254.0}));
  // Float zero points subtract in float: (116 - 107.5) * 0.5 = 4.25
  const auto float_zp = ops::dequantize_per_channel(q, scales, floats({107.5f, 0.0f, 0.0f}), 1, -128, 127, at::kChar);
  EXPECT_EQ(values<float>(float_zp)[0], 4.25f);
}

TEST(DequantizePerChannel, SubtractsExactlyBeforeConverting) {
  // 16777217 - 1 = 16777216 in int64, then to float32 (exact); per-tensor
  // converts first: float(16777217) = 16777216, minus 1 = 16777215.
  const at::Tensor q = at::tensor(std::vector<int32_t>{16777217}, at::kInt);
  for (auto zp_dtype : {at::kLong, at::kInt}) {
    const auto x = ops::dequantize_per_channel(q, floats({1.0f}), longs({1}).to(zp_dtype), 0, -2147483648LL,
                                               2147483647LL, at::kInt);
    EXPECT_EQ(values<float>(x), (std::vector<float>{16777216.0f}));
  }
}

TEST(DequantizePerChannel, ReducedOutputsRoundOnce) {
  // (300 - 0) * 0.1f = 30 in float32 (30.00000045 rounds to it), then bfloat16: 30
  const at::Tensor q = at::tensor(std::vector<int16_t>{300, -32768}, at::kShort).reshape({1, 2});
  const auto x = ops::dequantize_per_channel(q, floats({0.1f}), longs({0}), 0, -32768, 32767, at::kShort,
                                             at::kBFloat16);
  EXPECT_EQ(x.scalar_type(), at::kBFloat16);
  // -32768 * 0.1f = -3276.8 -> bfloat16 -3280 (8 significant bits)
  EXPECT_EQ(values<float>(x.to(at::kFloat)), (std::vector<float>{30.0f, -3280.0f}));
}

TEST(DequantizePerChannel, RejectsBadArguments) {
  const at::Tensor q = at::zeros({2, 3}, at::kChar);
  EXPECT_NE(error_of([&] { ops::dequantize_per_channel(q, at::ones({3}), c10::nullopt, 1, 0, 255, at::kByte); })
                .find("input must have the dtype given by the dtype argument (Byte), got Char"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              ops::dequantize_per_channel(q, at::ones({3}), c10::nullopt, 1, -128, 127, at::kChar, at::kInt);
            }).find("out_dtype must be a floating-point dtype, got Int"),
            std::string::npos);
  EXPECT_NE(error_of([&] { ops::dequantize_per_channel(q, at::ones({4}), c10::nullopt, 1, -128, 127, at::kChar); })
                .find("scales must be 1-D with one entry per channel (input.size(1) = 3), got shape [4]"),
            std::string::npos);
  EXPECT_NE(error_of([&] { ops::dequantize_per_channel(q, at::ones({3}), longs({0, 0}), 1, -128, 127, at::kChar); })
                .find("zero_points must be 1-D"),
            std::string::npos);
  EXPECT_NE(error_of([&] { ops::dequantize_per_channel(q, -at::ones({3}), c10::nullopt, 1, -128, 127, at::kChar); })
                .find("got scales[0] = -1"),
            std::string::npos);
}

TEST(PerChannelLoops, EveryIsaVariantAgrees) {
  at::manual_seed(4);
  const int64_t n = 10007;
  const at::Tensor x32 = at::randn({n}) * 60;
  const int64_t entries = 7, inner = 97;
  for (int order = 0; order < cpu::kRoundingOrders; ++order) {
    for (int compute = 0; compute < cpu::kComputeTypes; ++compute) {
      for (int in = 0; in < cpu::kFloatTypes; ++in) {
        for (int out = 0; out < cpu::kQuantTypes; ++out) {
          const auto fn = cpu::loops_default().quantize_channels[order][compute][in][out];
          if (fn == nullptr) continue;
          const at::ScalarType in_dtype[] = {at::kFloat, at::kHalf, at::kBFloat16, at::kDouble};
          const at::ScalarType loop_dtype = compute == static_cast<int>(cpu::ComputeType::kDouble) ? at::kDouble
                                                                                                      : at::kFloat;
          const at::Tensor x = x32.to(in_dtype[in]);
          const at::Tensor inv = (at::rand({entries}) * 3 + 0.5).to(loop_dtype);
          const at::Tensor zp = at::randint(-3, 4, {entries}).to(loop_dtype);
          cpu::ChannelQuantParams p{inv.data_ptr(), zp.data_ptr(), {entries, inner}, 0.0, 100.0, 0, 100};
          if (out == static_cast<int>(cpu::QuantType::kInt8) || out == static_cast<int>(cpu::QuantType::kInt16) ||
              out == static_cast<int>(cpu::QuantType::kInt32)) {
            p.quant_min = -100.0;
            p.quant_min_int = -100;
          }
          at::Tensor expected = at::empty({n}, at::kInt);  // room for any quantized type
          fn(x.data_ptr(), expected.data_ptr(), 0, n, p);
          for (const auto* table : runnable_loop_tables()) {
            SCOPED_TRACE(std::string(table->isa_name) + " order " + std::to_string(order) + " compute " +
                         std::to_string(compute) + " in " + std::to_string(in) + " out " + std::to_string(out));
            at::Tensor got = at::empty({n}, at::kInt);
            // Split at odd offsets, as the threads do.
            table->quantize_channels[order][compute][in][out](x.data_ptr(), got.data_ptr(), 0, 4999, p);
            table->quantize_channels[order][compute][in][out](x.data_ptr(), got.data_ptr(), 4999, n, p);
            const int64_t bytes = n * (out == static_cast<int>(cpu::QuantType::kInt32)       ? 4
                                       : out >= static_cast<int>(cpu::QuantType::kUInt16) ? 2
                                                                                          : 1);
            EXPECT_EQ(std::memcmp(got.data_ptr(), expected.data_ptr(), bytes), 0);
          }
        }
      }
    }
  }
}

TEST(PerChannelLoops, DequantizeEveryIsaVariantAgrees) {
  at::manual_seed(5);
  const int64_t n = 6007, entries = 5;
  const at::Tensor q32 = at::randint(-100, 100, {n}, at::kInt);
  const at::ScalarType q_dtypes[] = {at::kByte, at::kChar, at::kShort, at::kShort, at::kInt};  // uint16 read as int16
  for (int difference = 0; difference < cpu::kDifferenceTypes; ++difference) {
    for (int compute = 0; compute < cpu::kComputeTypes; ++compute) {
      for (int qt = 0; qt < cpu::kQuantTypes; ++qt) {
        for (int out = 0; out < cpu::kFloatTypes; ++out) {
          const auto fn = cpu::loops_default().dequantize_channels[difference][compute][qt][out];
          if (fn == nullptr) continue;
          const at::Tensor q = (qt == 0 ? q32.abs() : q32).to(q_dtypes[qt]);
          const at::Tensor scale =
              (at::rand({entries}) + 0.1).to(compute == static_cast<int>(cpu::ComputeType::kDouble) ? at::kDouble
                                                                                                     : at::kFloat);
          const at::Tensor zp = difference == 0   ? at::randint(-5, 5, {entries}, at::kInt)
                                : difference == 2 ? at::rand({entries}, at::kDouble) * 3
                                                  : at::rand({entries}) * 3;
          for (int64_t inner : {int64_t{1}, int64_t{77}}) {
            const cpu::ChannelDequantParams p{scale.data_ptr(), zp.data_ptr(), {entries, inner}};
            at::Tensor expected = at::empty({n}, at::kDouble);
            fn(q.data_ptr(), expected.data_ptr(), 0, n, p);
            const int64_t bytes = n * (out == static_cast<int>(cpu::FloatType::kDouble)  ? 8
                                       : out == static_cast<int>(cpu::FloatType::kFloat) ? 4
                                                                                         : 2);
            for (const auto* table : runnable_loop_tables()) {
              SCOPED_TRACE(std::string(table->isa_name) + " difference " + std::to_string(difference) + " compute " +
                           std::to_string(compute) + " q " + std::to_string(qt) + " out " + std::to_string(out));
              at::Tensor got = at::empty({n}, at::kDouble);
              table->dequantize_channels[difference][compute][qt][out](q.data_ptr(), got.data_ptr(), 0, 3001, p);
              table->dequantize_channels[difference][compute][qt][out](q.data_ptr(), got.data_ptr(), 3001, n, p);
              EXPECT_EQ(std::memcmp(got.data_ptr(), expected.data_ptr(), bytes), 0);
            }
          }
        }
      }
    }
  }
}

}  // namespace
