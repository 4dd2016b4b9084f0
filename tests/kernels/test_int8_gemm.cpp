// The integer GEMM and convolution of kernels/cpu/int8_gemm.h, run on every
// instruction set this CPU supports, against int64 references computed by
// ATen (results wrap to int32 as upstream's int32 matmul does).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <ostream>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "kernels/cpu/cpu_capability.h"
#include "kernels/cpu/int8_gemm.h"

namespace cpu = torch_pt2e::kernels::cpu;

namespace {

struct IsaCase {
  const char* name;
  const cpu::Int8GemmIsa& (*table)();
};

void PrintTo(const IsaCase& isa, std::ostream* out) { *out << isa.name; }

const IsaCase kIsas[] = {
    {"default", cpu::int8_gemm_isa_default},
    {"avx2", cpu::int8_gemm_isa_avx2},
    {"avx512vnni", cpu::int8_gemm_isa_avx512vnni},
};

#define SKIP_UNLESS_SUPPORTED(isa)                                                                               \
  if (!cpu::int8_gemm_isa_supported(isa)) {                                                                      \
    GTEST_SKIP() << "this CPU lacks " << (isa).name << "; run on a CPU with it to test this path (this CPU: " \
                 << cpu::cpu_capability_name(cpu::detected_cpu_capability()) << ")";                            \
  }

struct DtypeRange {
  at::ScalarType dtype;
  int64_t low, high;  // inclusive
};
const DtypeRange kInt8{at::kChar, -128, 127};
const DtypeRange kUInt8{at::kByte, 0, 255};
const DtypeRange kInt16{at::kShort, -32768, 32767};

cpu::IntElem elem(at::ScalarType dtype) {
  switch (dtype) {
    case at::kChar:
      return cpu::IntElem::kInt8;
    case at::kByte:
      return cpu::IntElem::kUInt8;
    default:
      return cpu::IntElem::kInt16;
  }
}

at::Tensor random(const DtypeRange& r, at::IntArrayRef shape) {
  return at::randint(r.low, r.high + 1, shape, at::kLong).to(r.dtype);
}

cpu::IntMatrix view(const at::Tensor& t) {
  return cpu::IntMatrix{t.data_ptr(), elem(t.scalar_type()), t.size(0), t.size(1), t.stride(0), t.stride(1)};
}

// The result modulo 2^32, as an int64 matmul truncated to int32.
at::Tensor reference_mm(const at::Tensor& a, const at::Tensor& b) {
  return at::mm(a.to(at::kLong), b.to(at::kLong)).to(at::kInt);
}

at::Tensor run_gemm(const cpu::Int8GemmIsa& isa, const at::Tensor& a, const at::Tensor& b,
                    const at::Tensor& row_bias = {}, const at::Tensor& col_bias = {}) {
  at::Tensor c = at::full({a.size(0), b.size(1)}, 12345, at::kInt);
  cpu::int8_gemm(isa, view(a), view(b), row_bias.defined() ? row_bias.data_ptr<int32_t>() : nullptr,
                 col_bias.defined() ? col_bias.data_ptr<int32_t>() : nullptr, c.data_ptr<int32_t>(), c.size(1));
  return c;
}

std::string describe(int64_t m, int64_t k, int64_t n, const DtypeRange& a, const DtypeRange& b) {
  return std::to_string(m) + "x" + std::to_string(k) + " @ " + std::to_string(k) + "x" + std::to_string(n) + " " +
         c10::toString(a.dtype) + " x " + c10::toString(b.dtype);
}

class Int8GemmIsaTest : public ::testing::TestWithParam<IsaCase> {};

// Row counts around the tile heights (4, 8), column counts around the panel
// widths (16, 48), depths around the k groups (2, 4) and the 64-byte packers.
TEST_P(Int8GemmIsaTest, EverySizeRemainderIsExact) {
  const auto& isa = GetParam().table();
  SKIP_UNLESS_SUPPORTED(isa);
  at::manual_seed(0);
  const std::vector<int64_t> ms = {1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 63, 64, 65};
  const std::vector<int64_t> ns = {1, 7, 15, 16, 17, 31, 33, 47, 48, 49, 63, 64, 65, 97};
  const std::vector<int64_t> ks = {1, 2, 3, 4, 5, 7, 8, 15, 16, 17, 63, 64, 65, 129};
  for (const auto& pair : {std::make_pair(kInt8, kInt8), std::make_pair(kInt16, kInt16)}) {
    for (int64_t m : ms) {
      for (int64_t n : ns) {
        for (int64_t k : ks) {
          const at::Tensor a = random(pair.first, {m, k}), b = random(pair.second, {k, n});
          ASSERT_TRUE(at::equal(run_gemm(isa, a, b), reference_mm(a, b))) << describe(m, k, n, pair.first, pair.second);
        }
      }
    }
  }
}

TEST_P(Int8GemmIsaTest, EveryOperandDtypePair) {
  const auto& isa = GetParam().table();
  SKIP_UNLESS_SUPPORTED(isa);
  at::manual_seed(1);
  for (const auto& a_range : {kInt8, kUInt8, kInt16}) {
    for (const auto& b_range : {kInt8, kUInt8, kInt16}) {
      for (int64_t k : {1, 6, 64, 300}) {
        const at::Tensor a = random(a_range, {37, k}), b = random(b_range, {k, 53});
        ASSERT_TRUE(at::equal(run_gemm(isa, a, b), reference_mm(a, b))) << describe(37, k, 53, a_range, b_range);
      }
    }
  }
}

TEST_P(Int8GemmIsaTest, ExtremeValues) {
  const auto& isa = GetParam().table();
  SKIP_UNLESS_SUPPORTED(isa);
  for (int64_t a_value : {-128, 127, 0, -1}) {
    for (int64_t b_value : {-128, 127, 1}) {
      const at::Tensor a = at::full({9, 257}, a_value, at::kChar), b = at::full({257, 50}, b_value, at::kChar);
      // every entry is 257 * a * b, e.g. 257 * -128 * -128 = 4210688
      ASSERT_TRUE(at::equal(run_gemm(isa, a, b), at::full({9, 50}, 257 * a_value * b_value, at::kInt)))
          << a_value << " x " << b_value;
    }
  }
  // Alternating extremes, so positive and negative products mix in one group.
  const at::Tensor a = (at::arange(2 * 203, at::kLong).remainder(2) * 255 - 128).to(at::kChar).view({2, 203});
  const at::Tensor b = (at::arange(203 * 19, at::kLong).remainder(3) * 127 - 127).to(at::kChar).view({203, 19});
  EXPECT_TRUE(at::equal(run_gemm(isa, a, b), reference_mm(a, b)));
  const at::Tensor a16 = at::full({3, 64}, -32768, at::kShort), b16 = at::full({64, 17}, -32768, at::kShort);
  // 64 * 2^30 = 2^36, which is 0 modulo 2^32
  EXPECT_TRUE(at::equal(run_gemm(isa, a16, b16), reference_mm(a16, b16)));
  EXPECT_EQ(run_gemm(isa, a16, b16).abs().sum().item<int64_t>(), 0);
}

// int8 sums stay exact up to K = 2^31 / 2^14 = 131072; past that they wrap
// exactly as upstream's int32 matmul.
TEST_P(Int8GemmIsaTest, LargeKAccumulatesWithoutOverflowAndWrapsBeyond) {
  const auto& isa = GetParam().table();
  SKIP_UNLESS_SUPPORTED(isa);
  at::manual_seed(2);
  const at::Tensor a = random(kInt8, {3, 120000}), b = random(kInt8, {120000, 5});
  EXPECT_TRUE(at::equal(run_gemm(isa, a, b), reference_mm(a, b)));
  const at::Tensor full_a = at::full({2, 131071}, -128, at::kChar), full_b = at::full({131071, 3}, -128, at::kChar);
  // 131071 * 16384 = 2147467264, just below 2^31
  EXPECT_TRUE(at::equal(run_gemm(isa, full_a, full_b), at::full({2, 3}, 2147467264, at::kInt)));
  const at::Tensor over_a = at::full({1, 140000}, -128, at::kChar), over_b = at::full({140000, 1}, -128, at::kChar);
  // 140000 * 16384 = 2293760000 = 2^32 - 2001207296
  EXPECT_EQ(run_gemm(isa, over_a, over_b).item<int32_t>(), -2001207296);
}

TEST_P(Int8GemmIsaTest, StridedOperandsAndBiases) {
  const auto& isa = GetParam().table();
  SKIP_UNLESS_SUPPORTED(isa);
  at::manual_seed(3);
  for (const auto& range : {kInt8, kInt16}) {
    const at::Tensor a_storage = random(range, {70, 90}), b_storage = random(range, {90, 80});
    const at::Tensor a_cols = a_storage.t().contiguous().t();  // column-major A
    const at::Tensor a_sliced = a_storage.slice(1, 3, 90, 2);  // column stride 2, K = 44
    const at::Tensor b_cols = b_storage.t().contiguous().t();  // k contiguous: the "cols" packer
    const at::Tensor b_sliced = b_storage.slice(0, 0, 88, 2).slice(1, 1, 80, 3);  // neither layout
    const at::Tensor b_for_sliced_a = random(range, {44, 21});
    EXPECT_TRUE(at::equal(run_gemm(isa, a_cols, b_storage), reference_mm(a_cols, b_storage)));
    EXPECT_TRUE(at::equal(run_gemm(isa, a_storage, b_cols), reference_mm(a_storage, b_cols)));
    EXPECT_TRUE(at::equal(run_gemm(isa, a_sliced, b_for_sliced_a), reference_mm(a_sliced, b_for_sliced_a)));
    const at::Tensor a_44 = random(range, {70, 44});
    EXPECT_TRUE(at::equal(run_gemm(isa, a_44, b_sliced), reference_mm(a_44, b_sliced)));
    const at::Tensor row_bias = at::randint(-(1LL << 31), (1LL << 31) - 1, {70}, at::kLong).to(at::kInt);
    const at::Tensor col_bias = at::randint(-(1LL << 31), (1LL << 31) - 1, {80}, at::kLong).to(at::kInt);
    const at::Tensor expected =
        (at::mm(a_storage.to(at::kLong), b_storage.to(at::kLong)) + row_bias.to(at::kLong).unsqueeze(1) +
         col_bias.to(at::kLong))
            .to(at::kInt);
    EXPECT_TRUE(at::equal(run_gemm(isa, a_storage, b_storage, row_bias, col_bias), expected));
    EXPECT_TRUE(at::equal(run_gemm(isa, a_storage, b_cols, row_bias, col_bias), expected));
  }
}

TEST_P(Int8GemmIsaTest, EmptyDepthGivesTheBiases) {
  const auto& isa = GetParam().table();
  SKIP_UNLESS_SUPPORTED(isa);
  const at::Tensor a = at::empty({5, 0}, at::kChar), b = at::empty({0, 18}, at::kChar);
  const at::Tensor row_bias = at::arange(5, at::kInt), col_bias = at::arange(18, at::kInt) * 100;
  EXPECT_TRUE(at::equal(run_gemm(isa, a, b, row_bias, col_bias), row_bias.unsqueeze(1) + col_bias));
}

struct ConvCase {
  int64_t batch, in_channels, height, width, out_channels, kernel_h, kernel_w;
  int64_t stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w, groups;
};

at::Tensor reference_conv(const at::Tensor& x, const at::Tensor& w, const at::Tensor& bias, const ConvCase& c) {
  // Exact in double: |sum| < 2^53 for these sizes.
  const at::Tensor out = at::conv2d(x.to(at::kDouble), w.to(at::kDouble),
                                    bias.defined() ? bias.to(at::kDouble) : at::Tensor(), {c.stride_h, c.stride_w},
                                    {c.pad_h, c.pad_w}, {c.dilation_h, c.dilation_w}, c.groups);
  return out.to(at::kLong).to(at::kInt);
}

at::Tensor run_conv(const cpu::Int8GemmIsa& isa, const at::Tensor& x, const at::Tensor& w, const at::Tensor& bias,
                    const ConvCase& c, int64_t scratch_limit_bytes = cpu::kDefaultConvScratchBytes) {
  cpu::IntConv2dShape shape{c.batch,    c.in_channels, c.height, c.width, c.out_channels, c.kernel_h,   c.kernel_w,
                            c.stride_h, c.stride_w,    c.pad_h,  c.pad_w, c.dilation_h,   c.dilation_w, c.groups};
  at::Tensor out = at::full({c.batch, c.out_channels, shape.out_h(), shape.out_w()}, 777, at::kInt);
  cpu::int8_conv2d(isa, shape, x.data_ptr(), elem(x.scalar_type()), w.data_ptr(), elem(w.scalar_type()),
                   bias.defined() ? bias.data_ptr<int32_t>() : nullptr, out.data_ptr<int32_t>(), scratch_limit_bytes);
  return out;
}

TEST_P(Int8GemmIsaTest, Conv2dMatchesReference) {
  const auto& isa = GetParam().table();
  SKIP_UNLESS_SUPPORTED(isa);
  at::manual_seed(4);
  const std::vector<ConvCase> cases = {
      {1, 64, 14, 14, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1},   // padded copy, shifted windows
      {2, 3, 17, 13, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1},     // K = 27, not a whole number of groups
      {1, 16, 7, 7, 50, 1, 1, 1, 1, 0, 0, 1, 1, 1},     // 1x1, no padding: the image read in place
      {2, 8, 9, 11, 12, 3, 3, 2, 2, 1, 1, 1, 1, 1},     // stride 2: im2col
      {2, 8, 10, 7, 12, 3, 2, 1, 1, 2, 1, 2, 3, 4},     // dilation, groups, unequal padding
      {3, 4, 5, 6, 6, 5, 5, 1, 1, 2, 2, 1, 1, 2},       // kernel as large as the padded image
      {1, 8, 8, 8, 8, 3, 3, 1, 1, 1, 1, 1, 1, 8},       // depthwise
      {1, 5, 12, 3, 7, 2, 3, 3, 1, 0, 1, 1, 1, 1},      // mixed strides
      {2, 32, 6, 50, 16, 3, 3, 1, 1, 3, 3, 1, 1, 1},    // wide rows, panels across rows
  };
  const std::vector<std::pair<DtypeRange, DtypeRange>> dtypes = {
      {kInt8, kInt8}, {kUInt8, kInt8}, {kInt16, kInt16}, {kInt8, kInt16}, {kInt16, kInt8}};
  for (const auto& c : cases) {
    for (const auto& pair : dtypes) {
      const at::Tensor x = random(pair.first, {c.batch, c.in_channels, c.height, c.width});
      const at::Tensor w = random(pair.second, {c.out_channels, c.in_channels / c.groups, c.kernel_h, c.kernel_w});
      const at::Tensor bias = at::randint(-100000, 100000, {c.out_channels}, at::kLong).to(at::kInt);
      const std::string what = std::to_string(c.in_channels) + "->" + std::to_string(c.out_channels) + " " +
                               std::to_string(c.kernel_h) + "x" + std::to_string(c.kernel_w) + " stride " +
                               std::to_string(c.stride_h) + " groups " + std::to_string(c.groups) + " " +
                               c10::toString(pair.first.dtype) + " x " + c10::toString(pair.second.dtype);
      ASSERT_TRUE(at::equal(run_conv(isa, x, w, bias, c), reference_conv(x, w, bias, c))) << what;
      ASSERT_TRUE(at::equal(run_conv(isa, x, w, {}, c), reference_conv(x, w, {}, c))) << what << " without bias";
    }
  }
}

// A scratch limit below one image's buffer: every image is its own chunk.
TEST_P(Int8GemmIsaTest, Conv2dInChunksOfImages) {
  const auto& isa = GetParam().table();
  SKIP_UNLESS_SUPPORTED(isa);
  at::manual_seed(6);
  for (const ConvCase& c : {ConvCase{5, 6, 9, 8, 4, 3, 3, 1, 1, 1, 1, 1, 1, 2},    // padded copies
                            ConvCase{5, 6, 9, 8, 4, 3, 3, 2, 2, 1, 1, 1, 1, 1},    // im2col
                            ConvCase{5, 6, 9, 8, 4, 1, 1, 1, 1, 0, 0, 1, 1, 1}}) { // in place
    const at::Tensor x = random(kInt8, {c.batch, c.in_channels, c.height, c.width});
    const at::Tensor w = random(kInt8, {c.out_channels, c.in_channels / c.groups, c.kernel_h, c.kernel_w});
    const at::Tensor expected = reference_conv(x, w, {}, c);
    for (int64_t limit : {int64_t{1}, int64_t{2500}, cpu::kDefaultConvScratchBytes}) {  // 2500: 2-3 images
      ASSERT_TRUE(at::equal(run_conv(isa, x, w, {}, c, limit), expected)) << "stride " << c.stride_h << " limit "
                                                                        << limit;
    }
  }
}

TEST_P(Int8GemmIsaTest, Conv2dExtremes) {
  const auto& isa = GetParam().table();
  SKIP_UNLESS_SUPPORTED(isa);
  const ConvCase c{1, 64, 5, 5, 20, 3, 3, 1, 1, 1, 1, 1, 1, 1};
  const at::Tensor x = at::full({1, 64, 5, 5}, -128, at::kChar), w = at::full({20, 64, 3, 3}, -128, at::kChar);
  const at::Tensor out = run_conv(isa, x, w, {}, c);
  // the centre sees all 64 * 9 taps: 576 * 16384 = 9437184; a corner 64 * 4 taps
  EXPECT_EQ(out[0][3][2][2].item<int32_t>(), 9437184);
  EXPECT_EQ(out[0][19][0][0].item<int32_t>(), 64 * 4 * 16384);
  EXPECT_TRUE(at::equal(out, reference_conv(x, w, {}, c)));
}

// out_dtype mul/div by one factor: float32 arithmetic truncated to int32,
// with ATen's composite (cast, op, cast) as the reference.
TEST_P(Int8GemmIsaTest, ScaleToInt32MatchesTheCompositeCast) {
  const auto& isa = GetParam().table();
  SKIP_UNLESS_SUPPORTED(isa);
  at::manual_seed(5);
  at::Tensor acc = at::randint(-(1LL << 31), (1LL << 31) - 1, {1037}, at::kLong).to(at::kInt);
  acc.slice(0, 0, 6).copy_(at::tensor({0, 7, -7, (1 << 24) + 1, INT32_MAX, INT32_MIN}, at::kInt));
  const at::Tensor values = at::randn({1037}) * 1e6;
  const float inf = std::numeric_limits<float>::infinity();
  for (float factor : {0.5f, 0.0123f, -3.75f, 1e-9f, 1e10f, 0.0f, inf, std::nanf("")}) {
    for (int divide = 0; divide < 2; ++divide) {
      for (const at::Tensor& input : {acc, values}) {
        at::Tensor got = at::empty({input.numel()}, at::kInt);
        isa.scale_to_int32[input.scalar_type() == at::kFloat][divide](input.data_ptr(), got.data_ptr<int32_t>(),
                                                                     input.numel(), factor);
        const at::Tensor x = input.to(at::kFloat);
        const at::Tensor expected = (divide ? x / factor : x * factor).to(at::kInt);
        ASSERT_TRUE(at::equal(got, expected)) << factor << (divide ? " divide " : " multiply ") << input.scalar_type();
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Isa, Int8GemmIsaTest, ::testing::ValuesIn(kIsas),
                         [](const ::testing::TestParamInfo<IsaCase>& info) { return std::string(info.param.name); });

TEST(Int8GemmSelection, FollowsTheActiveCapability) {
  const auto& chosen = cpu::int8_gemm_isa();
  EXPECT_TRUE(cpu::int8_gemm_isa_supported(chosen));
  switch (cpu::active_cpu_capability()) {
    case cpu::CpuCapability::kAVX512:
      EXPECT_STREQ(chosen.name, cpu::cpu_has_avx512_vnni() ? "avx512vnni" : "avx2");
      break;
    case cpu::CpuCapability::kAVX2:
      EXPECT_STREQ(chosen.name, "avx2");
      break;
    case cpu::CpuCapability::kDefault:
      EXPECT_STREQ(chosen.name, "default");
      break;
  }
  EXPECT_TRUE(cpu::int8_gemm_isa_supported(cpu::int8_gemm_isa_default()));
}

TEST(Int8GemmSelection, OnlyVnniHasTheByteKernel) {
  EXPECT_EQ(cpu::int8_gemm_isa_default().u8s8.tile, nullptr);
  EXPECT_EQ(cpu::int8_gemm_isa_avx2().u8s8.tile, nullptr);
  EXPECT_NE(cpu::int8_gemm_isa_avx512vnni().u8s8.tile, nullptr);
  EXPECT_NE(cpu::int8_gemm_isa_avx512vnni().row_sums_s8, nullptr);
}

}  // namespace
