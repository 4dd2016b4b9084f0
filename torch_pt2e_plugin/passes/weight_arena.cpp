#include "torch_pt2e_plugin/passes/weight_arena.h"

#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
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
#ifndef MADV_NOHUGEPAGE
#define MADV_NOHUGEPAGE 15
#endif

namespace torch_pt2e {
namespace passes {
namespace {

constexpr size_t kHugePage = size_t(2) << 20;
// Tensors start at c10's CPU alignment; chunks hold 4 huge pages unless one
// tensor needs more.
constexpr size_t kAlignment = 64;
constexpr size_t kChunkBytes = 4 * kHugePage;
// Populate rates are judged over this many bytes (in thread CPU time): one
// slow huge page costs ~4.4 ms here before the arena gives up on them.
constexpr size_t kRateWindow = kHugePage;

size_t round_up(size_t value, size_t multiple) { return (value + multiple - 1) / multiple * multiple; }

// This thread's CPU time: a preemption by another process does not count, so
// a rate over one huge page still tells a slow populate from a busy machine.
double thread_cpu_ms() {
  timespec now{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) * 1e3 + static_cast<double>(now.tv_nsec) * 1e-6;
}

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
  populate(data, bytes);
  auto release = [owner, bytes](void* pointer) {
    // Give the tensor's own pages back now; the chunk goes with its last tensor.
    const auto dead = inner_pages(static_cast<char*>(pointer), bytes);
    if (dead.second > 0) madvise(dead.first, dead.second, MADV_DONTNEED);
  };
  return at::from_blob(data, sizes, release, at::TensorOptions().dtype(dtype).device(at::kCPU));
}

void WeightArena::populate(char* data, size_t bytes) {
  // Kernels before 5.14 refuse MADV_POPULATE_WRITE, and the pages then fault
  // on first write as usual.
  auto [begin, length] = inner_pages(data, bytes);
  char* const end = begin + length;
  while (begin < end) {
    if (!huge_pages_) {
      madvise(begin, static_cast<size_t>(end - begin), MADV_POPULATE_WRITE);
      return;
    }
    // One huge page at a time, so that a stall is seen after one of them.
    const size_t offset = static_cast<size_t>(begin - chunk_->base);
    char* const step_end = std::min(end, chunk_->base + round_up(offset + 1, kHugePage));
    const double start = thread_cpu_ms();
    madvise(begin, static_cast<size_t>(step_end - begin), MADV_POPULATE_WRITE);
    timed_ms_ += thread_cpu_ms() - start;
    timed_bytes_ += static_cast<size_t>(step_end - begin);
    begin = step_end;
    if (timed_bytes_ < kRateWindow) continue;
    if (timed_ms_ > stall_ms_per_mib_ * static_cast<double>(timed_bytes_) / double(1 << 20)) {
      // The chunk's untouched huge pages would stall too: from the next huge
      // page on, the chunk takes small pages, and so do later chunks.
      huge_pages_ = false;
      char* const next_huge = chunk_->base + round_up(static_cast<size_t>(begin - chunk_->base), kHugePage);
      char* const chunk_end = chunk_->base + chunk_->size;
      if (next_huge < chunk_end) madvise(next_huge, static_cast<size_t>(chunk_end - next_huge), MADV_NOHUGEPAGE);
    }
    timed_ms_ = 0;
    timed_bytes_ = 0;
  }
}

}  // namespace passes
}  // namespace torch_pt2e
