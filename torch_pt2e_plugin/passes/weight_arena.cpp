#include "torch_pt2e_plugin/passes/weight_arena.h"

#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <mutex>
#include <utility>
#include <vector>

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
#ifndef MADV_FREE
#define MADV_FREE 8
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

// Pages nothing needs any more: MADV_FREE lets the kernel take them when it
// needs memory and leaves them mapped, filled, until then, so that memory
// written into them next costs no page fault. Kernels before 4.5 refuse it;
// MADV_DONTNEED then returns them at once.
void release_pages(char* begin, size_t bytes) {
  if (bytes == 0) return;
  if (madvise(begin, bytes, MADV_FREE) != 0 && errno == EINVAL) madvise(begin, bytes, MADV_DONTNEED);
}

// A mapping of a chunk whose tensors have all died, its pages released
// (release_pages) but not unmapped.
struct FreeMapping {
  char* mapping;
  size_t mapped_bytes;
  char* base;
  size_t size;
};

// Chunks whose tensors have all died, for the next arena: a prepare after
// another in one process (another model, or the same one again) then writes
// its folded weights into pages already faulted in, where it would
// otherwise pay this VM's ~0.34 ms per MiB (small pages) or 0.08-2.2 ms per
// MiB (huge pages) again: ResNet-50's repeated prepares spent ~30 ms of
// their ~40 ms fold there (BENCHMARKS.md, session 19). At most
// WeightArena::kMaxCachedBytes are kept (ResNet-50 folds 94 MB), and their
// pages are MADV_FREE'd, so the kernel takes them back when memory runs
// short; reading a page it took gives zeros, and the arena's tensors are
// uninitialized memory anyway. Chunks die in
// whatever thread frees their last tensor, hence the lock. The cache lives
// until the process ends (never destroyed: tensors may die during static
// destruction).
class ChunkCache {
 public:
  static ChunkCache& instance() {
    static ChunkCache* cache = new ChunkCache();
    return *cache;
  }

  // A cached mapping of exactly `size` usable bytes, if there is one.
  bool take(size_t size, FreeMapping& out) {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto it = free_.begin(); it != free_.end(); ++it) {
      if (it->size != size) continue;
      out = *it;
      free_.erase(it);
      cached_bytes_ -= size;
      return true;
    }
    return false;
  }

  // Keeps `mapping` (its pages already released) or, past the limit,
  // unmaps it.
  void give(const FreeMapping& mapping) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (cached_bytes_ + mapping.size <= WeightArena::kMaxCachedBytes) {
        free_.push_back(mapping);
        cached_bytes_ += mapping.size;
        return;
      }
    }
    munmap(mapping.mapping, mapping.mapped_bytes);
  }

  size_t cached_bytes() {
    std::lock_guard<std::mutex> lock(mutex_);
    return cached_bytes_;
  }

 private:
  std::mutex mutex_;
  std::vector<FreeMapping> free_;
  size_t cached_bytes_ = 0;
};

}  // namespace

struct WeightArena::Chunk {
  Chunk(size_t bytes, bool huge_pages) {
    FreeMapping cached{};
    if (ChunkCache::instance().take(bytes, cached)) {
      // Its pages keep the huge-page advice they were given.
      mapping = cached.mapping;
      mapped_bytes = cached.mapped_bytes;
      base = cached.base;
      size = cached.size;
      reused = true;
      return;
    }
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
  ~Chunk() {
    release_pages(base, size);
    ChunkCache::instance().give({mapping, mapped_bytes, base, size});
  }
  Chunk(const Chunk&) = delete;
  Chunk& operator=(const Chunk&) = delete;

  char* mapping = nullptr;
  size_t mapped_bytes = 0;
  char* base = nullptr;
  size_t size = 0;
  // Taken from the cache: its pages are most likely still there.
  bool reused = false;
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

namespace {

// Whether at least half of the whole pages in [begin, begin + bytes) are in
// memory (mincore; a tensor's pages shared with its neighbours are theirs),
// and [first_missing, end_missing): from the first page that is not to the
// end of the last (both null when all are).
struct Residency {
  bool mostly_resident = false;
  char* first_missing = nullptr;
  char* end_missing = nullptr;
};

Residency residency(char* begin, size_t bytes) {
  Residency result;
  const auto [first, length] = inner_pages(begin, bytes);
  const size_t page = page_size();
  const size_t pages = length / page;
  if (pages == 0) {
    result.mostly_resident = true;  // nothing of its own to fault in
    return result;
  }
  thread_local std::vector<unsigned char> present;
  present.resize(pages);
  if (mincore(first, length, present.data()) != 0) return result;  // unknown: not taken
  size_t resident = 0;
  for (size_t i = 0; i < pages; ++i) {
    if (present[i] & 1) {
      ++resident;
    } else {
      if (result.first_missing == nullptr) result.first_missing = first + i * page;
      result.end_missing = first + (i + 1) * page;
    }
  }
  result.mostly_resident = 2 * resident >= pages;
  return result;
}

}  // namespace

WeightArena::WeightArena(double stall_ms_per_mib, bool resident_heap_first)
    : stall_ms_per_mib_(stall_ms_per_mib), resident_heap_first_(resident_heap_first) {}
WeightArena::~WeightArena() = default;

size_t WeightArena::cached_bytes() { return ChunkCache::instance().cached_bytes(); }

at::Tensor WeightArena::empty(c10::IntArrayRef sizes, c10::ScalarType dtype) {
  int64_t numel = 1;
  for (int64_t size : sizes) {
    TORCH_CHECK(size >= 0, "WeightArena: negative size ", size, " in shape ", sizes);
    numel *= size;
  }
  const size_t bytes = static_cast<size_t>(numel) * c10::elementSize(dtype);
  if (resident_heap_first_) {
    at::Tensor tensor = at::empty(sizes, at::TensorOptions().dtype(dtype).device(at::kCPU));
    const Residency where = residency(static_cast<char*>(tensor.data_ptr()), bytes);
    if (where.mostly_resident) {
      // Kernels before 5.14 refuse the populate; those pages then fault on
      // first write.
      if (where.first_missing != nullptr) {
        madvise(where.first_missing, static_cast<size_t>(where.end_missing - where.first_missing),
                MADV_POPULATE_WRITE);
      }
      ++heap_tensors_;
      return tensor;
    }
    // Fresh memory (freed here, to the allocator): the arena's is cheaper.
  }
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
    // Release the tensor's own pages now; the chunk goes with its last tensor.
    const auto dead = inner_pages(static_cast<char*>(pointer), bytes);
    release_pages(dead.first, dead.second);
  };
  return at::from_blob(data, sizes, release, at::TensorOptions().dtype(dtype).device(at::kCPU));
}

void WeightArena::populate(char* data, size_t bytes) {
  // Kernels before 5.14 refuse MADV_POPULATE_WRITE, and the pages then fault
  // on first write as usual. A reused chunk's pages are left as they are:
  // walking 94 MB of pages that are there cost ResNet-50's repeated fold
  // ~5 ms (19 -> 14 ms), and a page the kernel took back faults on first
  // write.
  if (chunk_->reused) return;
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
