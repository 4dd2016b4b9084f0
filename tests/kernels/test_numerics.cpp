// kernels/numerics.h against c10's own conversions and worked examples.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>

#include "kernels/numerics.h"

namespace nm = torch_pt2e::numerics;

namespace {

uint32_t bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof(u));
  return u;
}

TEST(Numerics, RoundHalfToEven) {
  EXPECT_EQ(nm::round_half_even(2.5f), 2.0f);
  EXPECT_EQ(nm::round_half_even(3.5f), 4.0f);
  EXPECT_EQ(nm::round_half_even(-2.5f), -2.0f);
  EXPECT_EQ(nm::round_half_even(0.49999997f), 0.0f);
}

TEST(Numerics, QuantizeRoundThenAdd) {
  // 4 / 0.5 = 8 -> + 108 = 116
  EXPECT_EQ(nm::quantize_round_then_add(4.0f, nm::per_tensor_inv_scale(0.5), 108.0f, -128.0f, 127.0f), 116.0f);
  // 0.5 * 1 = 0.5 rounds to 0 (even), + 1 = 1
  EXPECT_EQ(nm::quantize_round_then_add(0.5f, 1.0f, 1.0f, 0.0f, 255.0f), 1.0f);
  // 1000 / 1 + 0 = 1000 clamps to 127
  EXPECT_EQ(nm::quantize_round_then_add(1000.0f, 1.0f, 0.0f, -128.0f, 127.0f), 127.0f);
  // NaN -> zero point 5
  EXPECT_EQ(nm::quantize_round_then_add(std::nanf(""), 1.0f, 5.0f, 0.0f, 255.0f), 5.0f);
  // -inf clamps to quant_min
  EXPECT_EQ(nm::quantize_round_then_add(-std::numeric_limits<float>::infinity(), 1.0f, 5.0f, 0.0f, 255.0f), 0.0f);
}

TEST(Numerics, QuantizeAddThenRound) {
  // 0.5 + 1 = 1.5 rounds to 2 (even); round-then-add would give 1
  EXPECT_EQ(nm::quantize_add_then_round(0.5f, 1.0f, 1.0f, 0.0f, 255.0f), 2.0f);
  // 2.5 + 0 = 2.5 rounds to 2
  EXPECT_EQ(nm::quantize_add_then_round(2.5f, 1.0f, 0.0f, -128.0f, 127.0f), 2.0f);
}

TEST(Numerics, Int32SaturatesInsteadOfWrapping) {
  // float(2147483647) = 2^31: upstream's cast would give INT32_MIN, we give the bound.
  const float top = nm::quantize_round_then_add(3e9f, 1.0f, 0.0f, -2147483648.0f, 2147483647.0f);
  EXPECT_EQ(top, 2147483648.0f);
  EXPECT_EQ(nm::to_quantized<int32_t>(top, -2147483648LL, 2147483647LL), 2147483647);
  EXPECT_EQ(nm::to_quantized<int32_t>(2147483648.0f, -2147483648LL, 2147483600LL), 2147483600);
  EXPECT_EQ(nm::to_quantized<int32_t>(-2147483648.0f, -2147483648LL, 2147483647LL), -2147483647 - 1);
}

TEST(Numerics, HalfConversionsMatchC10ForEveryHalf) {
  for (uint32_t h = 0; h <= 0xFFFF; ++h) {
    const float expected = static_cast<float>(c10::Half(static_cast<uint16_t>(h), c10::Half::from_bits()));
    const float got = nm::half_to_float(static_cast<uint16_t>(h));
    if (std::isnan(expected)) {
      EXPECT_TRUE(std::isnan(got)) << h;
    } else {
      EXPECT_EQ(bits(got), bits(expected)) << h;
    }
  }
}

TEST(Numerics, FloatToHalfAndBFloat16MatchC10) {
  std::mt19937 rng(0);
  std::uniform_int_distribution<uint32_t> any_bits;
  for (int i = 0; i < 2000000; ++i) {
    uint32_t u = any_bits(rng);
    // Bias half the samples towards the half range, where rounding matters.
    if (i % 2) u = (u & 0x807FFFFFu) | ((100u + (u >> 24) % 60u) << 23);
    float f;
    std::memcpy(&f, &u, sizeof(f));
    if (std::isnan(f)) continue;
    ASSERT_EQ(nm::float_to_half(f), c10::Half(f).x) << f;
    ASSERT_EQ(nm::float_to_bf16(f), c10::BFloat16(f).x) << f;
  }
  EXPECT_EQ(nm::float_to_bf16(std::nanf("")), c10::BFloat16(std::nanf("")).x);
}

TEST(Numerics, DequantizeReducedRoundsEachStep) {
  // bf16: q=257 -> bf16 256; zp=1 -> 1; (256 - 1) = 255; * 1 = 255
  EXPECT_EQ(nm::bf16_to_float(nm::dequantize_per_tensor_bf16(257.0f, 1.0f, 1.0f)), 255.0f);
  // fp32 path: (257 - 1) * 1 = 256
  EXPECT_EQ(nm::dequantize_per_tensor_f32(257.0f, 1.0f, 1.0f), 256.0f);
}

TEST(Numerics, ReducedArithMatchesC10Operators) {
  // c10::BFloat16 / c10::Half operators compute in float and round, as ATen's tensors do.
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> any(-300.0f, 300.0f);
  for (int i = 0; i < 100000; ++i) {
    const c10::BFloat16 a(any(rng)), b(any(rng));
    const float fa = a, fb = b;
    ASSERT_EQ(nm::BFloat16Arith::rounded(nm::mul_rn(fa, fb)), static_cast<float>(a * b));
    ASSERT_EQ(nm::BFloat16Arith::rounded(nm::add_rn(fa, fb)), static_cast<float>(a + b));
    ASSERT_EQ(nm::BFloat16Arith::rounded(nm::div_rn(fa, fb)), static_cast<float>(a / b));
    const c10::Half ha(any(rng)), hb(any(rng));
    const float fha = ha, fhb = hb;
    ASSERT_EQ(nm::Float16Arith::rounded(nm::sub_rn(fha, fhb)), static_cast<float>(ha - hb));
    ASSERT_EQ(nm::Float16Arith::rounded(nm::mul_rn(fha, fhb)), static_cast<float>(ha * hb));
  }
}

TEST(Numerics, QuantizeInAnArithmetic) {
  // Float32Arith gives the plain float32 helpers.
  EXPECT_EQ(nm::quantize_round_then_add_in<nm::Float32Arith>(0.5f, 1.0f, 1.0f, 0.0f, 255.0f), 1.0f);  // 0 + 1
  EXPECT_EQ(nm::quantize_add_then_round_in<nm::Float32Arith>(0.5f, 1.0f, 1.0f, 0.0f, 255.0f), 2.0f);  // round(1.5)
  // bfloat16: 101 * 3 = 303 -> 304 (tie to even); 304 + 1 = 305 -> 304; round -> 304
  EXPECT_EQ(nm::quantize_add_then_round_in<nm::BFloat16Arith>(101.0f, 3.0f, 1.0f, -32768.0f, 32768.0f), 304.0f);
  // NaN -> the zero point (rounded, when added before rounding)
  EXPECT_EQ(nm::quantize_add_then_round_in<nm::Float64Arith>(std::nan(""), 1.0, 2.5, -8.0, 7.0), 2.0);
  EXPECT_EQ(nm::quantize_round_then_add_in<nm::Float16Arith>(std::nanf(""), 1.0f, 3.0f, -8.0f, 7.0f), 3.0f);
}

TEST(Numerics, DequantizeDifferencesAndProducts) {
  // bfloat16 zero point 1.5: -128 - 1.5 = -129.5 -> -130 (tie to even)
  EXPECT_EQ(nm::quantized_minus_zero_point<nm::BFloat16Arith>(int8_t(-128), 1.5f), -130.0f);
  // float32: 16777217 -> float 16777216, minus 1
  EXPECT_EQ(nm::quantized_minus_zero_point<nm::Float32Arith>(int32_t(16777217), 1.0f), 16777215.0f);
  // integer difference 16777216 converted to float exactly, times 0.5
  EXPECT_EQ(nm::times_scale<nm::Float32Arith>(int64_t(16777216), 0.5f), 8388608.0f);
  // bfloat16 product: 125.5 * 0.10009765625 = 12.5623 -> 12.5625
  EXPECT_EQ(nm::times_scale<nm::BFloat16Arith>(125.5f, 0.10009765625f), 12.5625f);
}

TEST(Numerics, SaturatingConversionClampsInIntegers) {
  // bfloat16's clamp bound for 32767 is 32768; the integer clamp gives 32767.
  EXPECT_EQ(nm::to_quantized_saturating<int16_t>(32768.0f, -32768, 32767), 32767);
  EXPECT_EQ(nm::to_quantized_saturating<uint8_t>(-3.0f, 0, 255), 0);
  EXPECT_EQ(nm::to_quantized_saturating<int32_t>(5e9, -2147483648LL, 2147483647LL), 2147483647);
}

TEST(Numerics, ChooseQparamsArithmetic) {
  const float eps = 1.1920928955078125e-07f;
  // affine: (3 - -1) / 255; -128 - round(-1 / (4/255)) = -128 - round(-63.75) = -64
  auto qp = nm::choose_qparams_affine<nm::Float32Arith>(-1.0f, 3.0f, -128, 127, eps);
  EXPECT_EQ(qp.scale, static_cast<double>(4.0f / 255.0f));
  EXPECT_EQ(qp.zero_point, -64);
  // bfloat16 rounds the quotient: 0.0156863 -> 0.0157470703125
  EXPECT_EQ(nm::choose_qparams_affine<nm::BFloat16Arith>(-1.0f, 3.0f, -128, 127, eps).scale, 0.0157470703125);
  // all zeros: scale eps, zero point qmin
  qp = nm::choose_qparams_affine<nm::Float32Arith>(0.0f, 0.0f, -128, 127, eps);
  EXPECT_EQ(qp.scale, static_cast<double>(eps));
  EXPECT_EQ(qp.zero_point, -128);
  // symmetric: max(1, 3) / 127.5; uint8 -> 128
  qp = nm::choose_qparams_symmetric<nm::Float32Arith>(-1.0f, 3.0f, 0, 255, eps, true);
  EXPECT_EQ(qp.scale, static_cast<double>(3.0f / 127.5f));
  EXPECT_EQ(qp.zero_point, 128);
  // per-token asymmetric [-1, 3]: -64 (see test_choose_qparams.cpp)
  qp = nm::choose_qparams_per_token_asymmetric<nm::Float32Arith>(-1.0f, 3.0f);
  EXPECT_EQ(qp.zero_point, -64);
  // per-token symmetric: 2.546875 / 127 = 0.0200541 -> bfloat16 0.02001953125; 0 -> 1e-5 floor
  EXPECT_EQ(nm::choose_scale_per_token_symmetric<nm::BFloat16Arith>(2.546875f), 0.02001953125f);
  EXPECT_EQ(nm::choose_scale_per_token_symmetric<nm::Float32Arith>(0.0f), static_cast<float>(1e-5) / 127.0f);
  EXPECT_EQ(nm::choose_scale_per_token_symmetric<nm::Float64Arith>(0.0), 1e-5 / 127.0);
}

}  // namespace
