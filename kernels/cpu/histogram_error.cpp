// Chooses the variant of the histogram error loops for the running CPU.
#include "kernels/cpu/histogram_error.h"

#include "kernels/cpu/cpu_capability.h"

namespace torch_pt2e {
namespace kernels {
namespace cpu {

const HistogramErrorLoops& histogram_error_loops() {
  static const HistogramErrorLoops* table = [] {
    switch (active_cpu_capability()) {
      case CpuCapability::kAVX512:
        return &histogram_error_loops_avx512();
      case CpuCapability::kAVX2:
        return &histogram_error_loops_avx2();
      case CpuCapability::kDefault:
        break;
    }
    return &histogram_error_loops_default();
  }();
  return *table;
}

}  // namespace cpu
}  // namespace kernels
}  // namespace torch_pt2e
