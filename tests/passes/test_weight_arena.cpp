// passes/weight_arena: memory the allocator already has in memory comes
// first; tensors packed into huge-page chunks hold what is written to them,
// outlive the arena, and give the conv-bn fold the same values as ordinary
// memory.
#include <gtest/gtest.h>
#include <malloc.h>

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <utility>
#include <vector>

#include <ATen/ATen.h>

#include "torch_pt2e_plugin/passes/conv_bn_weights.h"
#include "torch_pt2e_plugin/passes/weight_arena.h"

namespace {

using torch_pt2e::passes::fuse_conv_bn_weights;
using torch_pt2e::passes::WeightArena;

TEST(WeightArena, TensorsHoldTheirValuesAcrossChunksAndOutliveTheArena) {
  std::vector<at::Tensor> written, expected;
  {
    WeightArena arena(WeightArena::kStallMsPerMiB, /*resident_heap_first=*/false);
    // Small tensors share a chunk, one is larger than a chunk, odd sizes
    // leave tensors unaligned to pages.
    const std::vector<std::vector<int64_t>> shapes = {{3}, {64, 64, 3, 3}, {1000, 1001}, {5, 7}, {2048, 1024, 5}, {1}};
    for (const auto& shape : shapes) {
      at::Tensor values = at::randn(shape);
      at::Tensor tensor = arena.empty(shape, at::kFloat);
      EXPECT_TRUE(tensor.is_contiguous());
      EXPECT_EQ(tensor.sizes(), values.sizes());
      EXPECT_EQ(reinterpret_cast<uintptr_t>(tensor.data_ptr()) % 64, 0u);
      tensor.copy_(values);
      written.push_back(tensor);
      expected.push_back(values);
    }
  }
  for (size_t i = 0; i < written.size(); ++i) EXPECT_TRUE(at::equal(written[i], expected[i])) << "tensor " << i;
  // A dead neighbour gives its pages back without touching the survivors.
  written.erase(written.begin() + 2);
  expected.erase(expected.begin() + 2);
  for (size_t i = 0; i < written.size(); ++i) EXPECT_TRUE(at::equal(written[i], expected[i])) << "tensor " << i;
}

// A chunk whose tensors have all died goes to the process's cache, and the
// next arena takes it instead of mapping fresh memory; its tensors hold what
// is written into them. Past kMaxCachedBytes, dead chunks are unmapped.
TEST(WeightArena, DeadChunksServeTheNextArenaUpToTheLimit) {
  const int64_t n = int64_t(1) << 20;  // 4 MiB: one 8 MiB chunk
  size_t before = 0;
  {
    WeightArena arena(WeightArena::kStallMsPerMiB, /*resident_heap_first=*/false);
    at::Tensor tensor = arena.empty({n}, at::kFloat);
    tensor.fill_(1.0f);
    before = WeightArena::cached_bytes();
  }
  const size_t cached = WeightArena::cached_bytes();
  ASSERT_GT(cached, before);
  {
    WeightArena arena(WeightArena::kStallMsPerMiB, /*resident_heap_first=*/false);
    at::Tensor values = at::randn({n});
    at::Tensor tensor = arena.empty({n}, at::kFloat);
    EXPECT_EQ(WeightArena::cached_bytes(), before) << "the new arena took the dead chunk";
    tensor.copy_(values);
    EXPECT_TRUE(at::equal(tensor, values));
  }
  // 320 MiB of dead chunks: the cache keeps at most its limit.
  {
    WeightArena arena(WeightArena::kStallMsPerMiB, /*resident_heap_first=*/false);
    std::vector<at::Tensor> tensors;
    for (int i = 0; i < 80; ++i) tensors.push_back(arena.empty({n}, at::kFloat).fill_(2.0f));
  }
  EXPECT_LE(WeightArena::cached_bytes(), WeightArena::kMaxCachedBytes);
  EXPECT_GE(WeightArena::cached_bytes(), WeightArena::kMaxCachedBytes - (size_t(8) << 20));
}

// A populate slower than the stall rate (here any: rate 0) switches the arena
// to small pages in the middle of the tensor that crosses the first huge page
// judged, and for later tensors; every tensor keeps its values.
TEST(WeightArena, AStalledPopulateSwitchesToSmallPagesAndKeepsValues) {
  std::vector<at::Tensor> written, expected;
  WeightArena arena(/*stall_ms_per_mib=*/0.0, /*resident_heap_first=*/false);
  EXPECT_TRUE(arena.huge_pages());
  // Under one huge page in all: no rate is judged yet.
  for (const int64_t n : {1000, 2000, 100000}) {
    written.push_back(arena.empty({n}, at::kFloat).copy_(at::randn({n})));
    expected.push_back(written.back().clone());
  }
  EXPECT_TRUE(arena.huge_pages());
  // 16 MiB: judged after its first huge page, the rest of it in small pages.
  for (const int64_t n : {int64_t(1) << 22, int64_t(3000), int64_t(1) << 19}) {
    at::Tensor values = at::randn({n});
    written.push_back(arena.empty({n}, at::kFloat).copy_(values));
    expected.push_back(values);
    EXPECT_FALSE(arena.huge_pages()) << "after a tensor of " << n << " floats";
  }
  for (size_t i = 0; i < written.size(); ++i) EXPECT_TRUE(at::equal(written[i], expected[i])) << "tensor " << i;
}

// Without a stall (no rate can exceed an infinite limit) huge pages stay on.
TEST(WeightArena, NoStallKeepsHugePages) {
  WeightArena arena(/*stall_ms_per_mib=*/std::numeric_limits<double>::infinity(), /*resident_heap_first=*/false);
  for (int i = 0; i < 4; ++i) arena.empty({int64_t(1) << 20}, at::kFloat).fill_(1);
  EXPECT_TRUE(arena.huge_pages());
}

// Memory the process already has comes first: a block the allocator holds
// in memory (here 16 MiB written and freed, kept by glibc below a raised
// mmap threshold, a fence block after it) serves the next tensor with no
// chunk mapped; a tensor the allocator could only give fresh memory for
// (its own mapping, past the threshold) comes from a chunk.
TEST(WeightArena, ResidentAllocatorMemoryComesFirst) {
  ASSERT_EQ(mallopt(M_MMAP_THRESHOLD, 64 << 20), 1);
  ASSERT_EQ(mallopt(M_TRIM_THRESHOLD, 256 << 20), 1);
  const size_t block = size_t(16) << 20;
  char* warm = static_cast<char*>(std::malloc(block));
  ASSERT_NE(warm, nullptr);
  // Through a volatile pointer: a memset right before free is a dead store to
  // the compiler.
  volatile char* touch = warm;
  for (size_t i = 0; i < block; i += 4096) touch[i] = 1;
  void* fence = std::malloc(4096);
  std::free(warm);
  // One arena's tensor of n floats: from the allocator or not, as expected,
  // and holding what is written into it.
  auto check = [](int64_t n, int64_t heap_tensors, const char* why) {
    WeightArena arena;
    at::Tensor tensor = arena.empty({n}, at::kFloat);
    EXPECT_EQ(arena.heap_tensors(), heap_tensors) << why;
    const at::Tensor values = at::randn({n});
    tensor.copy_(values);
    EXPECT_TRUE(at::equal(tensor, values)) << why;
  };
  check(int64_t(1) << 21, 1, "8 MiB: the freed block was in memory");
  // Larger than any free block, past the threshold: glibc maps it afresh, and
  // nothing there is in memory.
  ASSERT_EQ(mallopt(M_MMAP_THRESHOLD, 128 << 10), 1);
  check(int64_t(1) << 23, 0, "32 MiB: fresh memory goes to the arena's chunks");
  std::free(fence);
  ASSERT_EQ(mallopt(M_TRIM_THRESHOLD, 128 << 10), 1);
}

TEST(WeightArena, EmptyAndOtherDtypes) {
  WeightArena arena;
  EXPECT_EQ(arena.empty({0, 4}, at::kFloat).numel(), 0);
  at::Tensor bytes = arena.empty({10000}, at::kChar);
  bytes.fill_(-7);
  EXPECT_EQ(bytes.sum().item<int64_t>(), -70000);
  EXPECT_THROW(arena.empty({-1}, at::kFloat), c10::Error);
}

// The arena path scales each channel's rows itself (with streaming stores
// from 16-byte boundaries): the same bits as at::mul's broadcast, for rows
// of any length and alignment (conv1d/2d/3d, odd kernels, one channel),
// transposed weights (channels in dimension 1) and subnormal or huge products.
TEST(WeightArena, ConvBnFoldGivesTheSameBitsAsOrdinaryMemory) {
  const std::vector<std::vector<int64_t>> shapes = {{64, 32, 3, 3}, {64, 3, 5, 5},  {16, 3, 7},
                                                    {8, 5, 3, 3, 3}, {1, 1, 1, 1}, {64, 1, 3, 3}};
  for (const bool transpose : {false, true}) {
    for (std::vector<int64_t> shape : shapes) {
      if (transpose) std::swap(shape[0], shape[1]);
      const int64_t channels = shape[transpose ? 1 : 0];
      at::Tensor weight = at::randn(shape);
      // Subnormal, huge and signed-zero weights among the random ones.
      const at::Tensor specials = at::tensor({1e-39f, -3e-38f, 3e38f, -0.0f, 1e-45f});
      const int64_t n = std::min<int64_t>(specials.numel(), weight.numel());
      weight.view({-1}).slice(0, 0, n).copy_(specials.slice(0, 0, n));
      const at::Tensor bias = at::randn({channels});
      const at::Tensor mean = at::randn({channels}), var = at::rand({channels}) + 0.1;
      const at::Tensor gamma = at::randn({channels}) * 4, beta = at::randn({channels});
      WeightArena arena;
      const auto plain = fuse_conv_bn_weights(weight, bias, mean, var, 1e-5, gamma, beta, transpose);
      const auto packed = fuse_conv_bn_weights(weight, bias, mean, var, 1e-5, gamma, beta, transpose, &arena);
      EXPECT_TRUE(at::equal(plain.first, packed.first)) << "transpose=" << transpose << " shape " << weight.sizes();
      EXPECT_TRUE(at::equal(plain.second, packed.second));
      EXPECT_EQ(plain.first.strides(), packed.first.strides());
    }
  }
  // Channels-last and double weights take the ordinary path, layout and dtype kept.
  WeightArena arena;
  const at::Tensor channels_last = at::randn({8, 4, 3, 3}).contiguous(at::MemoryFormat::ChannelsLast);
  const at::Tensor stats = at::rand({8}) + 0.5;
  const auto folded = fuse_conv_bn_weights(channels_last, c10::nullopt, stats, stats, 1e-5, c10::nullopt, c10::nullopt,
                                           false, &arena);
  EXPECT_EQ(folded.first.strides(), channels_last.strides());
  const at::Tensor as_double = at::randn({8, 4, 3, 3}, at::kDouble);
  EXPECT_EQ(fuse_conv_bn_weights(as_double, c10::nullopt, stats, stats, 1e-5, c10::nullopt, c10::nullopt, false, &arena)
                .first.scalar_type(),
            at::kDouble);
}

}  // namespace
