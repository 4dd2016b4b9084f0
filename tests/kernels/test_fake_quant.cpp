// CPU kernels of fake_quant_per_channel (and torch_pt2e's forward-with-mask),
// the plugin's Autograd kernel, and the loops of every instruction-set variant.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

#include <ATen/ATen.h>
#include <torch/autograd.h>

#include "kernels/cpu/loops.h"
#include "tests/common/kernel_test_utils.h"
#include "torch_pt2e_plugin/ops/fake_quant.h"

namespace ops = torch_pt2e::ops;
namespace cpu = torch_pt2e::kernels::cpu;
using torch_pt2e::testing::error_of;
using torch_pt2e::testing::runnable_loop_tables;
using torch_pt2e::testing::values;

namespace {

at::Tensor floats(std::vector<float> v) { return at::tensor(v, at::kFloat); }

TEST(FakeQuantPerChannel, WorkedExample) {
  const float inf = std::numeric_limits<float>::infinity();
  // Channels along axis 0: {0.3, 0.125}, {-2, 0.375}, {100, -inf}.
  const at::Tensor x = floats({0.3f, 0.125f, -2.0f, 0.375f, 100.0f, -inf}).reshape({3, 2});
  const auto out = ops::fake_quant_per_channel(x, floats({0.5f, 0.25f, 1.0f}), at::tensor({1, 0, -2}), 0, -8, 7);
  // 0.3*2 = 0.6 -> 1, +1 = 2 -> (2-1)*0.5 = 0.5;     0.125*2 = 0.25 -> 0, +1 = 1 -> 0
  // -2*4 = -8, +0 = -8 -> -8*0.25 = -2;               0.375*4 = 1.5 -> 2 -> 2*0.25 = 0.5
  // 100*1 -2 = 98 -> clamp 7 -> (7+2)*1 = 9;          -inf -> clamp -8 -> (-8+2)*1 = -6
  EXPECT_EQ(values<float>(out), (std::vector<float>{0.5f, 0.0f, -2.0f, 0.5f, 9.0f, -6.0f}));
  const auto with_mask = ops::fake_quant_per_channel_forward(x, floats({0.5f, 0.25f, 1.0f}), at::tensor({1, 0, -2}),
                                                             0, -8, 7);
  EXPECT_TRUE(at::equal(std::get<0>(with_mask), out));
  // t inside [-8, 7]: 2, 1, -8, 2 are; 98 and -inf are not
  EXPECT_EQ(values<bool>(std::get<1>(with_mask)), (std::vector<bool>{true, true, true, true, false, false}));
}

TEST(FakeQuantPerChannel, NaNPropagatesAndHasNoGradient) {
  const auto result = ops::fake_quant_per_channel_forward(floats({std::nanf("")}), floats({1.0f}), at::tensor({0}), 0,
                                                          -8, 7);
  EXPECT_TRUE(std::isnan(std::get<0>(result).item<float>()));
  EXPECT_FALSE(std::get<1>(result).item<bool>());
}

TEST(FakeQuantPerChannel, AutogradIsStraightThrough) {
  // In a C++ program the plugin defines the op, with its own Autograd kernel.
  at::manual_seed(0);
  const at::Tensor x = (at::randn({4, 6}) * 4).set_requires_grad(true);
  const at::Tensor scales = at::rand({6}) * 0.1 + 0.05;
  const at::Tensor zps = at::randint(-2, 3, {6});
  const at::Tensor out = ops::fake_quant_per_channel(x, scales, zps, 1, -8, 7);
  ASSERT_TRUE(out.requires_grad());
  const at::Tensor grad = at::randn({4, 6});
  out.backward(grad);
  const at::Tensor t = at::round(x.detach() * at::reciprocal(scales)) + zps;
  EXPECT_TRUE(at::equal(x.grad(), grad * at::logical_and(t >= -8, t <= 7)));
  const at::Tensor expected = (at::clamp(t, -8, 7) - zps) * scales;
  EXPECT_TRUE(at::equal(out.detach(), expected));
}

TEST(FakeQuantPerChannel, LayoutsAndConversions) {
  at::manual_seed(1);
  const at::Tensor x = at::randn({2, 5, 3, 4}) * 3;
  const at::Tensor scales = at::rand({5}, at::kDouble) * 0.2 + 0.05;  // converted to float32
  const at::Tensor zps = at::tensor({1.7, -2.2, 0.0, 3.9, -0.5});     // converted to int32: 1, -2, 0, 3, 0
  const auto expected = ops::fake_quant_per_channel(x, scales.to(at::kFloat), at::tensor({1, -2, 0, 3, 0}), 1, -8, 7);
  EXPECT_TRUE(at::equal(ops::fake_quant_per_channel(x, scales, zps, 1, -8, 7), expected));
  const at::Tensor channels_last = x.contiguous(at::MemoryFormat::ChannelsLast);
  const auto out = ops::fake_quant_per_channel(channels_last, scales, zps, -3, -8, 7);
  EXPECT_EQ(out.strides(), channels_last.strides());
  EXPECT_TRUE(at::equal(out, expected));
}

TEST(FakeQuantPerChannel, RejectsBadArgumentsWithTheValue) {
  const at::Tensor x = at::ones({2, 3});
  auto fake = [&](const at::Tensor& input, const at::Tensor& s, const at::Tensor& z, int64_t axis, int64_t lo,
                  int64_t hi) { return error_of([&] { ops::fake_quant_per_channel(input, s, z, axis, lo, hi); }); };
  EXPECT_NE(fake(x.to(at::kHalf), at::ones({3}), at::zeros({3}), 1, -8, 7).find("input must be float32, got Half"),
            std::string::npos);
  EXPECT_NE(fake(x, at::ones({4}), at::zeros({3}), 1, -8, 7)
                .find("scales must be 1-D with one entry per channel (input.size(1) = 3), got shape [4]"),
            std::string::npos);
  EXPECT_NE(fake(x, floats({1, -1, 1}), at::zeros({3}), 1, -8, 7)
                .find("scales (as float32) must be finite numbers > 0, got scales (as float32)[1] = -1"),
            std::string::npos);
  EXPECT_NE(fake(x, at::ones({3}), at::tensor({0, 0, 8}), 1, -8, 7)
                .find("zero_points must lie in [quant_min, quant_max] = [-8, 7], got zero_points[2] = 8"),
            std::string::npos);
  EXPECT_NE(fake(x, at::ones({3}), at::zeros({3}), -3, -8, 7).find("axis must be in [-2, 2) for a 2-d input, got -3"),
            std::string::npos);
  EXPECT_NE(fake(x, at::ones({3}), at::zeros({3}), 1, 8, -8)
                .find("quant_min must be <= quant_max, got quant_min=8 and quant_max=-8"),
            std::string::npos);
}

TEST(FakeQuantLoops, EveryIsaVariantAgrees) {
  at::manual_seed(2);
  const int64_t n = 9001, entries = 11;
  const at::Tensor x = at::randn({n}) * 40;
  const at::Tensor scale = at::rand({entries}) + 0.1;
  const at::Tensor inv = at::reciprocal(scale);
  const at::Tensor zp = at::randint(-4, 5, {entries}).to(at::kFloat);
  for (int64_t inner : {int64_t{1}, int64_t{101}}) {
    const cpu::FakeQuantParams p{inv.data_ptr<float>(), zp.data_ptr<float>(), scale.data_ptr<float>(),
                                 {entries, inner}, -100.0f, 100.0f};
    at::Tensor expected = at::empty({n});
    at::Tensor expected_mask = at::empty({n}, at::kBool);
    cpu::loops_default().fake_quantize_channels(x.data_ptr<float>(), expected.data_ptr<float>(),
                                                expected_mask.data_ptr<bool>(), 0, n, p);
    for (const auto* table : runnable_loop_tables()) {
      SCOPED_TRACE(std::string(table->isa_name) + " inner " + std::to_string(inner));
      at::Tensor got = at::empty({n});
      at::Tensor mask = at::empty({n}, at::kBool);
      table->fake_quantize_channels(x.data_ptr<float>(), got.data_ptr<float>(), mask.data_ptr<bool>(), 0, 4444, p);
      table->fake_quantize_channels(x.data_ptr<float>(), got.data_ptr<float>(), mask.data_ptr<bool>(), 4444, n, p);
      EXPECT_EQ(std::memcmp(got.data_ptr(), expected.data_ptr(), n * sizeof(float)), 0);
      EXPECT_TRUE(at::equal(mask, expected_mask));
      at::Tensor no_mask = at::empty({n});
      table->fake_quantize_channels(x.data_ptr<float>(), no_mask.data_ptr<float>(), nullptr, 0, n, p);
      EXPECT_EQ(std::memcmp(no_mask.data_ptr(), expected.data_ptr(), n * sizeof(float)), 0);
    }
  }
}

}  // namespace
