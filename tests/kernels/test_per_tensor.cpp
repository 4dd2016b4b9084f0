// CPU kernels of quantize_per_tensor / dequantize_per_tensor.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include <ATen/ATen.h>

#include "kernels/cpu/loops.h"
#include "tests/common/kernel_test_utils.h"
#include "torch_pt2e_plugin/ops/per_tensor.h"

namespace ops = torch_pt2e::ops;
namespace cpu = torch_pt2e::kernels::cpu;

namespace {

at::Tensor floats(std::vector<float> values) { return at::tensor(values, at::kFloat); }

template <typename T>
std::vector<T> values(const at::Tensor& t) {
  at::Tensor c = t.contiguous();
  return std::vector<T>(c.data_ptr<T>(), c.data_ptr<T>() + c.numel());
}

TEST(QuantizePerTensor, WorkedExamplesInt8) {
  const auto q = ops::quantize_per_tensor(floats({4.0f, -1.0f, 0.25f, 0.75f, 100.0f, -100.0f}), 0.5, 108, -128, 127,
                                          at::kChar);
  // 4/0.5=8+108=116; -1/0.5=-2+108=106; 0.25/0.5=0.5->0 (even)+108=108;
  // 0.75/0.5=1.5->2+108=110; 100/0.5=200+108=308->127; -100/0.5=-200+108=-92
  EXPECT_EQ(values<int8_t>(q), (std::vector<int8_t>{116, 106, 108, 110, 127, -92}));
}

TEST(QuantizePerTensor, EdgeValuesUint8) {
  const float inf = std::numeric_limits<float>::infinity();
  const auto q = ops::quantize_per_tensor(floats({inf, -inf, std::nanf(""), 1e-45f, -0.0f}), 0.1, 3, 0, 255,
                                          at::kByte);
  // inf->255; -inf->0; NaN->zero point 3; denormal*10 rounds to 0, +3 = 3; -0 -> 3
  EXPECT_EQ(values<uint8_t>(q), (std::vector<uint8_t>{255, 0, 3, 3, 3}));
}

TEST(QuantizePerTensor, NarrowRangeClampsToQuantMinMax) {
  const auto q = ops::quantize_per_tensor(floats({-1000.0f, 1000.0f}), 1.0, 0, -127, 127, at::kChar);
  EXPECT_EQ(values<int8_t>(q), (std::vector<int8_t>{-127, 127}));
}

TEST(QuantizePerTensor, EveryIsaVariantAgrees) {
  at::manual_seed(0);
  const at::Tensor x = at::randn({100003}) * 50;
  for (const auto* table : torch_pt2e::testing::runnable_loop_tables()) {
    SCOPED_TRACE(table->isa_name);
    at::Tensor got = at::empty({x.numel()}, at::kChar);
    cpu::AffineQuantParams p{1.0f / 0.37f, 3.0f, -128.0f, 127.0f, -128, 127};
    p.inv_scale = static_cast<float>(1.0 / 0.37);
    table->quantize_per_tensor[0][static_cast<int>(cpu::QuantType::kInt8)](x.data_ptr(), got.data_ptr(), x.numel(),
                                                                          p);
    const at::Tensor expected =
        at::clamp(at::round(x * static_cast<float>(1.0 / 0.37)) + 3, -128, 127).to(at::kChar);
    EXPECT_TRUE(at::equal(got, expected));
  }
}

TEST(QuantizePerTensor, PreservesChannelsLastAndHandlesNonContiguous) {
  at::manual_seed(1);
  const at::Tensor x = at::randn({2, 3, 5, 7}).contiguous(at::MemoryFormat::ChannelsLast);
  const auto q = ops::quantize_per_tensor(x, 0.02, -4, -128, 127, at::kChar);
  EXPECT_EQ(q.strides(), x.strides());
  const auto q_ref = ops::quantize_per_tensor(x.contiguous(), 0.02, -4, -128, 127, at::kChar);
  EXPECT_TRUE(at::equal(q, q_ref));
  const at::Tensor sliced = x.select(3, 2);  // not dense
  EXPECT_TRUE(at::equal(ops::quantize_per_tensor(sliced, 0.02, -4, -128, 127, at::kChar),
                        ops::quantize_per_tensor(sliced.contiguous(), 0.02, -4, -128, 127, at::kChar)));
}

TEST(QuantizePerTensor, EmptyAndZeroDim) {
  EXPECT_EQ(ops::quantize_per_tensor(at::empty({0, 3}), 1.0, 0, -128, 127, at::kChar).sizes(), at::IntArrayRef({0, 3}));
  const auto q = ops::quantize_per_tensor(at::scalar_tensor(2.0), 1.0, 1, -128, 127, at::kChar);
  EXPECT_EQ(q.dim(), 0);
  EXPECT_EQ(q.item<int8_t>(), 3);  // 2/1 + 1
}

TEST(QuantizePerTensor, TensorOverloadsReadParameters) {
  const at::Tensor x = floats({1.0f, 2.0f});
  const auto q = ops::quantize_per_tensor(x, at::tensor({0.5}), at::tensor({int64_t{1}}), 0, 255, at::kByte);
  EXPECT_EQ(values<uint8_t>(q), (std::vector<uint8_t>{3, 5}));  // 1/0.5+1=3, 2/0.5+1=5
}

TEST(QuantizePerTensor, RejectsBadArgumentsWithTheValue) {
  const at::Tensor x = floats({1.0f});
  auto message = [&](auto&& fn) {
    try {
      fn();
    } catch (const c10::Error& e) {
      return std::string(e.what_without_backtrace());
    }
    return std::string("no error");
  };
  EXPECT_NE(message([&] { ops::quantize_per_tensor(x, 0.0, 0, -128, 127, at::kChar); })
                .find("scale must be a finite number > 0, got 0"),
            std::string::npos);
  EXPECT_NE(message([&] { ops::quantize_per_tensor(x, std::nan(""), 0, -128, 127, at::kChar); }).find("scale must"),
            std::string::npos);
  EXPECT_NE(message([&] { ops::quantize_per_tensor(x, 1.0, 200, -128, 127, at::kChar); })
                .find("zero_point must lie in [quant_min, quant_max] = [-128, 127], got 200"),
            std::string::npos);
  EXPECT_NE(message([&] { ops::quantize_per_tensor(x, 1.0, 0, 10, 5, at::kChar); })
                .find("quant_min must be <= quant_max, got quant_min=10 and quant_max=5"),
            std::string::npos);
  EXPECT_NE(message([&] { ops::quantize_per_tensor(x, 1.0, 0, -129, 127, at::kChar); })
                .find("quant_min must be >= -128"),
            std::string::npos);
  EXPECT_NE(message([&] { ops::quantize_per_tensor(x.to(at::kDouble), 1.0, 0, -128, 127, at::kChar); })
                .find("input must be float32, float16 or bfloat16, got Double"),
            std::string::npos);
  EXPECT_NE(message([&] { ops::quantize_per_tensor(x, 1.0, 0, -128, 127, at::kFloat); }).find("dtype must be one of"),
            std::string::npos);
  EXPECT_NE(message([&] {
              ops::quantize_per_tensor(x, at::tensor({1.0, 2.0}), at::tensor({int64_t{0}}), -128, 127, at::kChar);
            }).find("scale must be a tensor with exactly one element"),
            std::string::npos);
}

TEST(DequantizePerTensor, WorkedExamples) {
  const at::Tensor q = at::tensor(std::vector<int8_t>{116, 106, -128, 127}, at::kChar);
  const auto x = ops::dequantize_per_tensor(q, 0.5, 108, -128, 127, at::kChar);
  // (116-108)*0.5=4; (106-108)*0.5=-1; (-128-108)*0.5=-118; (127-108)*0.5=9.5
  EXPECT_EQ(values<float>(x), (std::vector<float>{4.0f, -1.0f, -118.0f, 9.5f}));
  const auto xd = ops::dequantize_per_tensor(q, 0.5, 108, -128, 127, at::kChar, at::kDouble);
  EXPECT_EQ(xd.scalar_type(), at::kDouble);
  EXPECT_EQ(values<double>(xd), (std::vector<double>{4.0, -1.0, -118.0, 9.5}));
}

TEST(DequantizePerTensor, ReducedOutputsRoundEveryTensorOp) {
  // torch 2.x computes (q.to(out) - zp) * scale as: q rounded to `out`, zp
  // rounded to `out`, the difference rounded to `out`, times the fp32 scale,
  // rounded to `out` (torch 1.13 also rounded the scale, so ATen 1.13 is not
  // the oracle here; tests/ops/test_parity_upstream.py checks torch 2.6).
  at::manual_seed(2);
  const at::Tensor q = at::randint(-32768, 32767, {4099}, at::kShort);
  for (auto out : {at::kHalf, at::kBFloat16}) {
    const auto got = ops::dequantize_per_tensor(q, 0.0123, 301, -32768, 32767, at::kShort, out);
    const at::Tensor diff = (q.to(out).to(at::kFloat) - at::scalar_tensor(301.0).to(out).to(at::kFloat)).to(out);
    const at::Tensor expected = (diff.to(at::kFloat) * at::scalar_tensor(0.0123f, at::kFloat)).to(out);
    EXPECT_TRUE(at::equal(got, expected)) << out;
  }
}

TEST(DequantizePerTensor, RejectsInputDtypeMismatch) {
  const at::Tensor q = at::zeros({2}, at::kByte);
  EXPECT_THROW(ops::dequantize_per_tensor(q, 1.0, 0, -128, 127, at::kChar), c10::Error);
}

}  // namespace
