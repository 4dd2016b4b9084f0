// CPU kernel of convert_element_type.no_fuse.
#include <gtest/gtest.h>

#include <limits>

#include <ATen/ATen.h>

#include "tests/common/kernel_test_utils.h"
#include "torch_pt2e_plugin/ops/convert_element_type.h"

namespace ops = torch_pt2e::ops;
using torch_pt2e::testing::values;

namespace {

TEST(ConvertElementTypeNoFuse, RoundsLikeTo) {
  const at::Tensor x = at::tensor({1.0f, 1.0f + 0x1p-11f, 65520.0f, 1e-8f, -2.5f}, at::kFloat);
  const auto half = ops::convert_element_type_no_fuse(x, at::kHalf);
  EXPECT_EQ(half.scalar_type(), at::kHalf);
  // 1 + 2^-11 is a tie -> 1 (even); 65520 rounds up to inf; 1e-8 underflows to 0
  EXPECT_EQ(values<float>(ops::convert_element_type_no_fuse(half, at::kFloat)),
            (std::vector<float>{1.0f, 1.0f, std::numeric_limits<float>::infinity(), 0.0f, -2.5f}));
  // float -> int truncates: -2.5 -> -2
  EXPECT_EQ(values<int32_t>(ops::convert_element_type_no_fuse(x, at::kInt))[4], -2);
}

TEST(ConvertElementTypeNoFuse, NewTensorWithTheInputsLayout) {
  const at::Tensor x = at::randn({2, 3, 4, 5}).contiguous(at::MemoryFormat::ChannelsLast);
  const auto same = ops::convert_element_type_no_fuse(x, at::kFloat);
  EXPECT_NE(same.data_ptr(), x.data_ptr());  // a copy even for the same dtype
  EXPECT_EQ(same.strides(), x.strides());
  EXPECT_TRUE(at::equal(same, x));
  const auto sliced = ops::convert_element_type_no_fuse(x.select(1, 2), at::kBFloat16);
  EXPECT_TRUE(at::equal(sliced, x.select(1, 2).to(at::kBFloat16)));
  EXPECT_EQ(ops::convert_element_type_no_fuse(at::scalar_tensor(3.5), at::kHalf).dim(), 0);
}

}  // namespace
