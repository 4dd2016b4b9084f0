// CPU memory for the many large tensors one pass creates and keeps (conv-bn
// folded weights): memory the process already holds where it can (below),
// else fresh memory. Freshly mapped memory costs a page fault per 4 KiB
// page on its first write; on virtual machines a fault costs 10-20 us, so
// writing ResNet-50's 94 MB of folded weights spent 0.3 s in faults alone. The
// arena packs the tensors into chunks that ask the kernel for transparent huge
// pages (one fault per 2 MiB) and fills each tensor's pages in one call
// (MADV_POPULATE_WRITE); where the kernel offers neither, the memory behaves as
// ordinary memory. Each tensor releases its pages when it dies (MADV_FREE: the
// kernel takes them back when it needs memory), and a chunk whose tensors have
// all died is kept for the next arena in this process, up to
// kMaxCachedBytes in all, so that a later prepare writes into pages already
// faulted in (see weight_arena.cpp's ChunkCache); past that it is unmapped.
//
// Memory the process already has comes first: each tensor is first asked of
// the CPU allocator (at::empty), and kept when mincore says at least half of
// its pages are in memory (the rest, if any, populated in one call); else it
// goes back and the arena's chunks give it. A process that has run anything
// before holds such memory: blocks freed to glibc stay mapped, and once
// a large block has been freed glibc serves blocks of that size from its
// heap rather than from fresh mappings. In bench_flow's first-run processes
// (after both flows' warm-up, a model loaded), glibc held 106 MB free, and
// ResNet-50's fold went from 48-63 ms with 21.9k page faults in fresh
// small pages (this VM's slow phase) to 19-23 ms with 1.7k-3.8k faults
// (BENCHMARKS.md, session 20). Fresh memory still takes the arena's path.
//
// Huge pages can be slow to get. On this VM 5 of 70 fresh processes folded
// ResNet-50 in 224-286 ms instead of 56-108 ms (BENCHMARKS.md, session 17),
// their huge pages ~2 ms per MiB slower to populate than usual.
// /proc/vmstat's compact_stall did not move during the last 56 of those
// runs, so here it is not the kernel compacting memory (which THP defrag
// "madvise" allows for MADV_HUGEPAGE faults, and which stalls the same way);
// likely the host backing the guest's free huge blocks on first touch.
// Either way the arena times its populates in this thread's CPU time, one
// huge page at a time; slower than `stall_ms_per_mib`, it stops asking for
// huge pages for the rest of its life: the rest of the chunk and later chunks
// take small pages, which populate at ~0.35 ms per MiB here (huge pages, when
// fast, ~0.1; when slow, ~2.2). In traces of ResNet-50's 41 huge pages the
// slow ones, once they started, ran to the end, so one slow huge page is
// taken as the rest being slow. The next arena (the next prepare) tries huge
// pages again. (Session 17 judged 16 MiB windows in wall time, so that a
// preemption would not pass for a stall; a stall then cost ~35 ms before the
// switch. Populating 96 MiB in fresh processes that met idle free memory
// took 20-46 ms judged per huge page, 60-210 ms in huge pages throughout and
// 34-38 ms in small pages alone; BENCHMARKS.md, session 18.)
#pragma once

#include <cstddef>
#include <memory>

#include <ATen/core/Tensor.h>
#include <c10/util/ArrayRef.h>

namespace torch_pt2e {
namespace passes {

class WeightArena {
 public:
  // Populating huge pages slower than this means they are not coming fast:
  // three times the small-page rate and ten times the usual huge-page rate
  // measured here.
  static constexpr double kStallMsPerMiB = 1.0;

  // With `resident_heap_first`, a tensor comes from the CPU allocator when
  // at least half of its pages are already in memory (the file comment).
  explicit WeightArena(double stall_ms_per_mib = kStallMsPerMiB, bool resident_heap_first = true);
  ~WeightArena();
  WeightArena(const WeightArena&) = delete;
  WeightArena& operator=(const WeightArena&) = delete;

  // An uninitialized contiguous CPU tensor whose pages are already mapped.
  at::Tensor empty(c10::IntArrayRef sizes, c10::ScalarType dtype);

  // Whether new chunks still ask for huge pages (false after a stall).
  bool huge_pages() const { return huge_pages_; }

  // Tensors this arena took from the CPU allocator (resident_heap_first).
  int64_t heap_tensors() const { return heap_tensors_; }

  // Bytes of chunks whose tensors have all died, kept in this process for
  // later arenas (see weight_arena.cpp's ChunkCache); at most kMaxCachedBytes.
  static size_t cached_bytes();
  static constexpr size_t kMaxCachedBytes = size_t(256) << 20;

  struct Chunk;

 private:
  // Faults in the whole pages of [data, data + bytes), which lie in chunk_.
  void populate(char* data, size_t bytes);

  std::shared_ptr<Chunk> chunk_;
  size_t used_ = 0;
  double stall_ms_per_mib_;
  bool resident_heap_first_;
  int64_t heap_tensors_ = 0;
  bool huge_pages_ = true;
  // Populate time and bytes since the last rate check.
  double timed_ms_ = 0;
  size_t timed_bytes_ = 0;
};

}  // namespace passes
}  // namespace torch_pt2e
