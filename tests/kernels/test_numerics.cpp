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

}  // namespace
