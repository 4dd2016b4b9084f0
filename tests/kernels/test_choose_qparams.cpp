// CPU kernels of choose_qparams.tensor, choose_qparams_symmetric.tensor,
// choose_qparams_per_token and choose_qparams_per_token_asymmetric (+ _impl),
// and the min/max reductions of every instruction-set variant.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>

#include "kernels/cpu/cpu_kernel_utils.h"
#include "kernels/cpu/loops.h"
#include "tests/common/kernel_test_utils.h"
#include "torch_pt2e_plugin/ops/choose_qparams.h"

namespace ops = torch_pt2e::ops;
namespace cpu = torch_pt2e::kernels::cpu;
using torch_pt2e::testing::error_of;
using torch_pt2e::testing::runnable_loop_tables;
using torch_pt2e::testing::values;

namespace {

const float kEps = std::numeric_limits<float>::epsilon();  // 2^-23, torch.finfo(torch.float32).eps
const float kInf = std::numeric_limits<float>::infinity();

at::Tensor floats(std::vector<float> v) { return at::tensor(v, at::kFloat); }

double scale_of(const std::tuple<at::Tensor, at::Tensor>& qparams) { return std::get<0>(qparams).item<double>(); }
int64_t zero_point_of(const std::tuple<at::Tensor, at::Tensor>& qparams) {
  return std::get<1>(qparams).item<int64_t>();
}

TEST(ChooseQparams, AffineWorkedExamples) {
  const auto qp = ops::choose_qparams(floats({-1.0f, 0.5f, 3.0f}), -128, 127, kEps, at::kChar);
  EXPECT_EQ(std::get<0>(qp).scalar_type(), at::kDouble);
  EXPECT_EQ(std::get<1>(qp).scalar_type(), at::kLong);
  EXPECT_EQ(std::get<0>(qp).sizes(), at::IntArrayRef({1}));
  // scale = (3 - -1) / 255 in float32; zp = -128 - round(-1 / scale) = -128 - round(-63.75) = -128 + 64 = -64
  EXPECT_EQ(scale_of(qp), static_cast<double>(4.0f / 255.0f));
  EXPECT_EQ(zero_point_of(qp), -64);
  // Only positive values: min_neg = 0, zp = qmin.
  const auto positive = ops::choose_qparams(floats({2.0f, 4.0f}), -128, 127, kEps, at::kChar);
  EXPECT_EQ(scale_of(positive), static_cast<double>(4.0f / 255.0f));
  EXPECT_EQ(zero_point_of(positive), -128);
  // All zeros: the scale is eps, the zero point qmin - round(0 / eps) = 0 - 0 = 0 for uint8.
  const auto zeros = ops::choose_qparams(at::zeros({5}), 0, 255, kEps, at::kByte);
  EXPECT_EQ(scale_of(zeros), static_cast<double>(kEps));
  EXPECT_EQ(zero_point_of(zeros), 0);
}

TEST(ChooseQparams, ReducedInputsRoundEachTensorOp) {
  // bfloat16 input: (3 - -1) = 4, 4 / 255 = 0.0156863 -> bfloat16 0.0157470703125;
  // zp = -128 - round(-1 / 0.0157470703125) = -128 - round(-63.504) = -64
  const auto qp = ops::choose_qparams(floats({-1.0f, 3.0f}).to(at::kBFloat16), -128, 127, kEps, at::kChar);
  EXPECT_EQ(scale_of(qp), 0.0157470703125);
  EXPECT_EQ(zero_point_of(qp), -64);
  // float16 input: 4 / 255 -> float16 0.015686035
  const auto half = ops::choose_qparams(floats({-1.0f, 3.0f}).to(at::kHalf), -128, 127, kEps, at::kChar);
  EXPECT_EQ(scale_of(half), static_cast<double>(static_cast<float>(c10::Half(4.0f / 255.0f))));
}

TEST(ChooseQparams, SymmetricWorkedExamples) {
  // max(1, 3) / ((255 - 0) / 2) = 3 / 127.5; uint8 -> zero point 128
  const auto u8 = ops::choose_qparams_symmetric(floats({-1.0f, 3.0f}), 0, 255, kEps, at::kByte);
  EXPECT_EQ(scale_of(u8), static_cast<double>(3.0f / 127.5f));
  EXPECT_EQ(zero_point_of(u8), 128);
  // int8: max(5, 3) / 127.5, zero point 0
  const auto i8 = ops::choose_qparams_symmetric(floats({-5.0f, 3.0f}), -128, 127, kEps, at::kChar);
  EXPECT_EQ(scale_of(i8), static_cast<double>(5.0f / 127.5f));
  EXPECT_EQ(zero_point_of(i8), 0);
  // uint8 keeps 128 even for a custom range (has_customized_qrange is False for this op).
  EXPECT_EQ(zero_point_of(ops::choose_qparams_symmetric(floats({1.0f}), 0, 15, kEps, at::kByte)), 128);
}

TEST(ChooseQparams, EveryDtypeRange) {
  struct Case {
    at::ScalarType dtype;
    int64_t qmin, qmax;
    float expected_scale;  // for [-2, 6]: max(8 / (qmax - qmin), eps)
    int64_t expected_zp;   // qmin - round(-2 / scale)
  };
  const std::vector<Case> cases = {
      {at::kByte, 0, 255, 8.0f / 255.0f, 64},                   // 0 - round(-63.75)
      {at::kChar, -128, 127, 8.0f / 255.0f, -64},               // -128 + 64
      {at::kShort, -32768, 32767, 8.0f / 65535.0f, -16384},     // -32768 - round(-16383.75)
      {at::kInt, -2147483648LL, 2147483647LL, kEps, -2130706432},  // 8 / 2^32 < eps; -2^31 - round(-2 / 2^-23)
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.dtype);
    const auto qp = ops::choose_qparams(floats({-2.0f, 6.0f}), c.qmin, c.qmax, kEps, c.dtype);
    EXPECT_EQ(scale_of(qp), static_cast<double>(c.expected_scale));
    EXPECT_EQ(zero_point_of(qp), c.expected_zp);
  }
}

TEST(ChooseQparams, Int32ZeroPointIsComputedInInt64) {
  // round(-3000 / (3500 / 2^32)) = -3681400576 (float32) does not fit int32, where
  // upstream casts it; the plugin computes -2^31 + 3681400576 = 1533916928.
  const auto qp = ops::choose_qparams(floats({-3000.0f, 500.0f}), -2147483648LL, 2147483647LL, kEps, at::kInt);
  EXPECT_EQ(zero_point_of(qp), 1533916928);
}

TEST(ChooseQparams, EmptyAndLargeInputs) {
  const auto empty = ops::choose_qparams(at::empty({0, 3}), -128, 127, kEps, at::kChar);
  EXPECT_EQ(scale_of(empty), 1.0);
  EXPECT_EQ(zero_point_of(empty), 0);
  // Min and max found by every thread's part of a large input.
  at::Tensor big = at::rand({(1 << 25) + 3}) - 0.5;
  big.index_put_({7}, -4.0f);
  big.index_put_({(1 << 25) + 1}, 12.0f);
  const auto qp = ops::choose_qparams(big, -128, 127, kEps, at::kChar);
  EXPECT_EQ(scale_of(qp), static_cast<double>(16.0f / 255.0f));  // (12 - -4) / 255
  EXPECT_EQ(zero_point_of(qp), -64);  // -128 - round(-4 / (16 / 255)) = -128 - round(-63.75) = -128 + 64
}

TEST(ChooseQparams, RejectsBadInputsWithTheValues) {
  EXPECT_NE(error_of([] { ops::choose_qparams(floats({1.0f, std::nanf(""), -2.0f}), -128, 127, kEps, at::kChar); })
                .find("input must hold finite values to choose quantization parameters, found min = -2, max = 1 and NaN"),
            std::string::npos);
  EXPECT_NE(error_of([] { ops::choose_qparams(floats({1.0f, kInf}), -128, 127, kEps, at::kChar); })
                .find("found min = 1, max = inf"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              ops::choose_qparams(floats({-60000.0f, 60000.0f}).to(at::kHalf), -128, 127, kEps, at::kChar);
            }).find("the input's range [-60000, 60000] overflows Half in the scale computation"),
            std::string::npos);
  EXPECT_NE(error_of([] { ops::choose_qparams(floats({1.0f}), 1, 255, kEps, at::kByte); })
                .find("the range [quant_min, quant_max] must include 0, got [1, 255]"),
            std::string::npos);
  EXPECT_NE(error_of([] { ops::choose_qparams(floats({1.0f}), 0, 0, kEps, at::kByte); })
                .find("quant_min must be < quant_max, got quant_min=0 and quant_max=0"),
            std::string::npos);
  EXPECT_NE(error_of([] { ops::choose_qparams(floats({1.0f}), -128, 127, -1.0, at::kChar); })
                .find("eps must be a finite number > 0 (as a float32), got -1"),
            std::string::npos);
  EXPECT_NE(error_of([] { ops::choose_qparams_symmetric(floats({1.0f}).to(at::kDouble), -128, 127, kEps, at::kChar); })
                .find("input must be float32, float16 or bfloat16, got Double"),
            std::string::npos);
  EXPECT_NE(error_of([] { ops::choose_qparams(floats({1.0f}), -128, 127, kEps, at::kFloat); })
                .find("dtype must be one of"),
            std::string::npos);
}

TEST(ChooseQparamsPerToken, SymmetricWorkedExamples) {
  const auto qp = ops::choose_qparams_per_token(floats({1.0f, -2.54f, 0.0f, 0.0f}).reshape({2, 2}), at::kChar);
  const at::Tensor scales = std::get<0>(qp), zps = std::get<1>(qp);
  EXPECT_EQ(scales.sizes(), at::IntArrayRef({2, 1}));
  EXPECT_EQ(scales.scalar_type(), at::kFloat);
  EXPECT_EQ(zps.scalar_type(), at::kFloat);
  // max|x| / 127 = 2.54 / 127; a zero row is floored at 1e-5: 1e-5 / 127
  EXPECT_EQ(values<float>(scales), (std::vector<float>{2.54f / 127.0f, static_cast<float>(1e-5) / 127.0f}));
  EXPECT_EQ(values<float>(zps), (std::vector<float>{0.0f, 0.0f}));
  // bfloat16: -2.54 -> -2.546875; 2.546875 / 127 = 0.0200541 -> bfloat16 0.02001953125
  const auto bf = ops::choose_qparams_per_token(floats({1.0f, -2.54f}).reshape({1, 2}).to(at::kBFloat16), at::kChar);
  EXPECT_EQ(std::get<0>(bf).scalar_type(), at::kBFloat16);
  EXPECT_EQ(std::get<0>(bf).item<float>(), 0.02001953125f);
  // float16 input -> float32 scales: -2.54 -> float16 -2.5390625, / 127 in float32
  const auto half = ops::choose_qparams_per_token(floats({1.0f, -2.54f}).reshape({1, 2}).to(at::kHalf), at::kChar);
  EXPECT_EQ(std::get<0>(half).scalar_type(), at::kFloat);
  EXPECT_EQ(std::get<0>(half).item<float>(), 2.5390625f / 127.0f);
}

TEST(ChooseQparamsPerToken, AsymmetricWorkedExamples) {
  const at::Tensor x = floats({-1.0f, 3.0f, 0.0f, 2.55f, -2.55f, 0.0f}).reshape({3, 2});
  const auto qp = ops::choose_qparams_per_token_asymmetric(x, at::kChar);
  const at::Tensor scales = std::get<0>(qp), zps = std::get<1>(qp);
  EXPECT_EQ(scales.scalar_type(), at::kDouble);
  EXPECT_EQ(zps.scalar_type(), at::kLong);
  EXPECT_EQ(scales.sizes(), at::IntArrayRef({3, 1}));
  // [-1, 3]: scale 4/255; descaled -63.75 and 191.25; (-128 - 63.75) + (127 + 191.25) > 0
  //          -> zp = -128 + 63.75 = -64.25 -> round -64
  // [0, 2.55]: descaled 0 and 255; sum > 0 -> zp = -128 - 0 = -128
  // [-2.55, 0]: descaled -255 and 0; (-128 - 255) + 127 < 0 -> zp = 127 - 0 = 127
  EXPECT_EQ(values<int64_t>(zps), (std::vector<int64_t>{-64, -128, 127}));
  EXPECT_EQ(values<double>(scales), (std::vector<double>{4.0f / 255.0f, 2.55f / 255.0f, 2.55f / 255.0f}));
  // The _impl op (CompositeImplicitAutograd upstream) gives the same.
  const auto impl = c10::Dispatcher::singleton()
                        .findSchemaOrThrow("quantized_decomposed::_choose_qparams_per_token_asymmetric_impl", "")
                        .typed<std::tuple<at::Tensor, at::Tensor>(const at::Tensor&, at::ScalarType)>()
                        .call(x, at::kChar);
  EXPECT_TRUE(at::equal(std::get<0>(impl), scales));
  EXPECT_TRUE(at::equal(std::get<1>(impl), zps));
  // float16 chain: 1000 - -0.0999756 = 1000.0999 -> float16 1000; 1000 / 255 = 3.92157 -> float16 3.921875
  const auto half = ops::choose_qparams_per_token_asymmetric(floats({-0.1f, 1000.0f}).reshape({1, 2}).to(at::kHalf),
                                                            at::kChar);
  EXPECT_EQ(std::get<0>(half).item<double>(), 3.921875);
  EXPECT_EQ(std::get<1>(half).item<int64_t>(), -128);
}

TEST(ChooseQparamsPerToken, ShapesAndErrors) {
  EXPECT_EQ(std::get<0>(ops::choose_qparams_per_token(at::ones({2, 3, 4}), at::kChar)).sizes(),
            at::IntArrayRef({2, 3, 1}));
  EXPECT_EQ(std::get<0>(ops::choose_qparams_per_token(at::scalar_tensor(2.0), at::kChar)).dim(), 0);
  EXPECT_EQ(std::get<0>(ops::choose_qparams_per_token_asymmetric(at::empty({0, 4}), at::kChar)).sizes(),
            at::IntArrayRef({0, 1}));
  EXPECT_NE(error_of([] { ops::choose_qparams_per_token(at::ones({2, 3}), at::kByte); })
                .find("dtype must be int8 (the only one upstream supports), got Byte"),
            std::string::npos);
  EXPECT_NE(error_of([] { ops::choose_qparams_per_token(at::ones({2, 0}), at::kChar); })
                .find("input.shape[-1] must be > 0"),
            std::string::npos);
  EXPECT_NE(error_of([] { ops::choose_qparams_per_token(at::ones({2, 3}, at::kInt), at::kChar); })
                .find("input must be a floating-point tensor"),
            std::string::npos);
  at::Tensor bad = at::ones({3, 4});
  bad.index_put_({2, 1}, -kInf);
  EXPECT_NE(error_of([&] { ops::choose_qparams_per_token(bad, at::kChar); })
                .find("found max |x| = inf in token 2"),
            std::string::npos);
  EXPECT_NE(error_of([&] { ops::choose_qparams_per_token_asymmetric(bad, at::kChar); })
                .find("token 2 of input must hold finite values to choose quantization parameters, found min = -inf, "
                      "max = 1"),
            std::string::npos);
}

TEST(MinMaxLoops, FindTheExtremesAndNaNOnEveryIsa) {
  at::manual_seed(3);
  at::Tensor x = at::randn({1000}) * 5;
  x.index_put_({333}, -40.0f);
  x.index_put_({999}, 41.5f);
  for (const auto* table : runnable_loop_tables()) {
    SCOPED_TRACE(table->isa_name);
    for (const at::ScalarType dtype : {at::kFloat, at::kHalf, at::kBFloat16, at::kDouble}) {
      const auto type = *cpu::float_type(dtype);
      const at::Tensor t = x.to(dtype);
      for (int64_t n : {int64_t{1000}, int64_t{999}, int64_t{17}, int64_t{3}}) {
        const cpu::MinMax mm = table->min_max[static_cast<int>(type)](t.data_ptr(), n);
        EXPECT_EQ(mm.min, t.narrow(0, 0, n).min().to(at::kDouble).item<double>());
        EXPECT_EQ(mm.max, t.narrow(0, 0, n).max().to(at::kDouble).item<double>());
        EXPECT_FALSE(mm.has_nan);
        const cpu::AbsMax am = table->abs_max[static_cast<int>(type)](t.data_ptr(), n);
        EXPECT_EQ(am.max, t.narrow(0, 0, n).abs().max().to(at::kDouble).item<double>());
      }
      at::Tensor with_nan = t.clone();
      with_nan.index_put_({500}, std::nan(""));
      EXPECT_TRUE(table->min_max[static_cast<int>(type)](with_nan.data_ptr(), 1000).has_nan);
      EXPECT_TRUE(table->abs_max[static_cast<int>(type)](with_nan.data_ptr(), 1000).has_nan);
      // The non-NaN extremes are still reported (for the error message).
      EXPECT_EQ(table->min_max[static_cast<int>(type)](with_nan.data_ptr(), 1000).min, -40.0);
    }
  }
}

}  // namespace
