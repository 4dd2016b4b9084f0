// kernels/host_values.h: reading small CPU tensors with plain loops, in the
// order and with the values ATen's reshape(-1) and .to() give.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include <ATen/ATen.h>

#include "kernels/host_values.h"
#include "tests/common/kernel_test_utils.h"

namespace k = torch_pt2e::kernels;
using torch_pt2e::testing::values;

namespace {

std::vector<double> visited(const at::Tensor& t) {
  std::vector<double> out;
  std::vector<int64_t> indices;
  EXPECT_TRUE(k::visit_host_values(t, [&](int64_t i, auto v) {
    indices.push_back(i);
    out.push_back(static_cast<double>(v));
  }));
  for (size_t i = 0; i < indices.size(); ++i) EXPECT_EQ(indices[i], static_cast<int64_t>(i));
  return out;
}

std::vector<double> row_major(const at::Tensor& t) { return values<double>(t.reshape({-1}).to(at::kDouble)); }

TEST(HostValues, RowMajorOrderForAnyStrides) {
  const at::Tensor base = at::arange(24, at::kFloat).reshape({2, 3, 4});
  const std::vector<at::Tensor> layouts = {
      base,
      base.transpose(0, 2),                                // permuted
      base.slice(2, 1, 4, 2),                              // stepped slice
      base.select(1, 2),                                   // storage offset
      base[1][2][3],                                       // 0-d
      base.select(0, 1).select(0, 0).slice(0, 1, 2).expand({5}),  // stride 0
      base.contiguous(at::MemoryFormat::Contiguous).reshape({4, 6}).t(),
      at::empty({0, 3}),
  };
  for (const auto& t : layouts) {
    SCOPED_TRACE(t.sizes());
    EXPECT_EQ(visited(t), row_major(t));
  }
}

TEST(HostValues, EveryReadableDtypeConvertsLikeTo) {
  // Values that round in float16/bfloat16 and wrap in the narrow integers.
  const at::Tensor source = at::tensor({-300.75, -1.0, 0.0, 0.3, 2.5, 65504.0, 1e-7}, at::kDouble);
  for (const auto dtype : {at::kByte, at::kChar, at::kShort, at::kInt, at::kLong, at::kHalf, at::kBFloat16,
                           at::kFloat, at::kDouble}) {
    SCOPED_TRACE(dtype);
    const at::Tensor t = source.to(dtype);
    EXPECT_TRUE(k::host_readable(t));
    EXPECT_EQ(visited(t), row_major(t));
    EXPECT_EQ(visited(t.slice(0, 0, 7, 3)), row_major(t.slice(0, 0, 7, 3)));
  }
}

TEST(HostValues, LeavesToAtenWhatItCannotRead) {
  int calls = 0;
  auto count = [&](int64_t, auto) { ++calls; };
  EXPECT_FALSE(k::host_readable(at::Tensor()));
  EXPECT_FALSE(k::visit_host_values(at::ones({3}, at::kBool), count));
  EXPECT_FALSE(k::visit_host_values(at::ones({3}, at::kComplexFloat), count));
  EXPECT_FALSE(k::visit_host_values(at::_neg_view(at::ones({3})), count));  // lazy negation
  EXPECT_FALSE(k::visit_host_values(at::ones({3}).to_sparse(), count));
  EXPECT_FALSE(k::visit_host_values(at::ones({k::kMaxHostLoopElements + 1}), count));
  EXPECT_FALSE(k::visit_host_values(at::empty({3}, at::TensorOptions().device(at::kMeta)), count));
  EXPECT_EQ(calls, 0);
  EXPECT_TRUE(k::visit_host_values(at::ones({k::kMaxHostLoopElements}), count));
  EXPECT_EQ(calls, k::kMaxHostLoopElements);
}

}  // namespace
