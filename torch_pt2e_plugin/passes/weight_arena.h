// Fresh CPU memory for the many large tensors one pass creates and keeps
// (conv-bn folded weights). Freshly mapped memory costs a page fault per 4 KiB
// page on its first write; on virtual machines a fault costs 10-20 us, so
// writing ResNet-50's 94 MB of folded weights spent 0.3 s in faults alone. The
// arena packs the tensors into chunks that ask the kernel for transparent huge
// pages (one fault per 2 MiB) and fills each tensor's pages in one call
// (MADV_POPULATE_WRITE); where the kernel offers neither, the memory behaves as
// ordinary memory. Each tensor returns its pages when it dies, and a chunk is
// unmapped when its last tensor dies, so the arena never holds memory its
// tensors no longer need.
#pragma once

#include <cstddef>
#include <memory>

#include <ATen/core/Tensor.h>
#include <c10/util/ArrayRef.h>

namespace torch_pt2e {
namespace passes {

class WeightArena {
 public:
  WeightArena();
  ~WeightArena();
  WeightArena(const WeightArena&) = delete;
  WeightArena& operator=(const WeightArena&) = delete;

  // An uninitialized contiguous CPU tensor whose pages are already mapped.
  at::Tensor empty(c10::IntArrayRef sizes, c10::ScalarType dtype);

  struct Chunk;

 private:
  std::shared_ptr<Chunk> chunk_;
  size_t used_ = 0;
};

}  // namespace passes
}  // namespace torch_pt2e
