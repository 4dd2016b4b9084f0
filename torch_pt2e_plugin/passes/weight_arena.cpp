#include "torch_pt2e_plugin/passes/weight_arena.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <utility>

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

// Linux 5.14 and 4.x values, for C libraries whose headers predate them.
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
#ifndef MADV_HUGEPAGE
#define MADV_HUGEPAGE 14
#endif

namespace torch_pt2e {
namespace passes {
namespace {

constexpr size_t kHugePage = size_t(2) << 20;
// Tensors start at c10's CPU alignment; chunks hold 4 huge pages unless one
// tensor needs more.
constexpr size_t kAlignment = 64;
constexpr size_t kChunkBytes = 4 * kHugePage;
// Populate rates are judged over this many bytes: a 10 ms preemption of this
// process (a busy 2-core VM) adds 0.6 ms per MiB over 16 MiB, under the stall
// limit, while a stall's ~1.8 ms per MiB extra stays over it.
constexpr size_t kRateWindow = 8 * kHugePage;

size_t round_up(size_t value, size_t multiple) { return (value + multiple - 1) / multiple * multiple; }

size_t page_size() {
  static const size_t size = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return size;
}

}  // namespace

struct WeightArena::Chunk {
  Chunk(size_t bytes, bool huge_pages) {
    // Over-map by one huge page so the usable part starts on a huge-page
    // boundary, where the kernel can back it with huge pages.
    mapped_bytes = bytes + kHugePage;
    void* mapped = mmap(nullptr, mapped_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    TORCH_CHECK(mapped != MAP_FAILED, "WeightArena: could not map ", mapped_bytes, " bytes for folded weights");
    mapping = static_cast<char*>(mapped);
    base = reinterpret_cast<char*>(round_up(reinterpret_cast<uintptr_t>(mapping), kHugePage));
    size = bytes;
    // Advice only: without transparent huge pages the chunk is ordinary memory.
    if (huge_pages) madvise(base, size, MADV_HUGEPAGE);
  }
  ~Chunk() { munmap(mapping, mapped_bytes); }
  Chunk(const Chunk&) = delete;
  Chunk& operator=(const Chunk&) = delete;

  char* mapping = nullptr;
  size_t mapped_bytes = 0;
  char* base = nullptr;
  size_t size = 0;
};

namespace {

// The whole pages inside [begin, begin + bytes), which no other tensor shares.
std::pair<char*, size_t> inner_pages(char* begin, size_t bytes) {
  const size_t page = page_size();
  char* first = reinterpret_cast<char*>(round_up(reinterpret_cast<uintptr_t>(begin), page));
  char* last = reinterpret_cast<char*>((reinterpret_cast<uintptr_t>(begin) + bytes) / page * page);
  return {first, last > first ? static_cast<size_t>(last - first) : 0};
}

}  // namespace

WeightArena::WeightArena(double stall_ms_per_mib) : stall_ms_per_mib_(stall_ms_per_mib) {}
WeightArena::~WeightArena() = default;

at::Tensor WeightArena::empty(c10::IntArrayRef sizes, c10::ScalarType dtype) {
  int64_t numel = 1;
  for (int64_t size : sizes) {
    TORCH_CHECK(size >= 0, "WeightArena: negative size ", size, " in shape ", sizes);
    numel *= size;
  }
  const size_t bytes = static_cast<size_t>(numel) * c10::elementSize(dtype);
  const size_t reserved = std::max(round_up(bytes, kAlignment), kAlignment);
  if (!chunk_ || used_ + reserved > chunk_->size) {
    chunk_ = std::make_shared<Chunk>(std::max(kChunkBytes, round_up(reserved, kHugePage)), huge_pages_);
    used_ = 0;
  }
  char* data = chunk_->base + used_;
  used_ += reserved;
  std::shared_ptr<Chunk> owner = chunk_;
  // Fault the tensor's pages in one system call; kernels before 5.14 refuse
  // the advice, and the pages then fault on first write as usual.
  const auto pages = inner_pages(data, bytes);
  if (pages.second > 0) {
    const auto start = std::chrono::steady_clock::now();
    madvise(pages.first, pages.second, MADV_POPULATE_WRITE);
    if (huge_pages_) {
      timed_ms_ += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
      timed_bytes_ += pages.second;
      if (timed_bytes_ >= kRateWindow) {
        if (timed_ms_ > stall_ms_per_mib_ * static_cast<double>(timed_bytes_) / double(1 << 20)) {
          // The rest of this chunk would stall too: the next tensor starts a
          // small-page chunk. (The untouched rest costs address space only.)
          huge_pages_ = false;
          chunk_.reset();
        }
        timed_ms_ = 0;
        timed_bytes_ = 0;
      }
    }
  }
  auto release = [owner, bytes](void* pointer) {
    // Give the tensor's own pages back now; the chunk goes with its last tensor.
    const auto dead = inner_pages(static_cast<char*>(pointer), bytes);
    if (dead.second > 0) madvise(dead.first, dead.second, MADV_DONTNEED);
  };
  return at::from_blob(data, sizes, release, at::TensorOptions().dtype(dtype).device(at::kCPU));
}

}  // namespace passes
}  // namespace torch_pt2e
