// Body of one instruction-set variant of the min/max loops (see
// minmax_loops.h). Included by minmax_loops_<isa>.cpp after defining
// TORCH_PT2E_MINMAX_ISA (namespace), TORCH_PT2E_MINMAX_ISA_NAME (string) and
// TORCH_PT2E_MINMAX_TABLE (accessor). Raw-pointer C++ only, no ATen/c10
// headers (see loops_impl.h for why).
#include <cstdint>

#include "kernels/cpu/minmax_loops.h"

#if !defined(TORCH_PT2E_MINMAX_ISA) || !defined(TORCH_PT2E_MINMAX_ISA_NAME) || !defined(TORCH_PT2E_MINMAX_TABLE)
#error "define TORCH_PT2E_MINMAX_ISA, TORCH_PT2E_MINMAX_ISA_NAME and TORCH_PT2E_MINMAX_TABLE first"
#endif

namespace torch_pt2e {
namespace kernels {
namespace cpu {
namespace TORCH_PT2E_MINMAX_ISA {

// Independent accumulators: the compiler turns each fold over kLanes into
// vector compare + blend instructions (a plain reduction would not vectorize
// without -ffast-math, which would also break the NaN rule).
constexpr int kLanes = 32;

static inline float lane_min(float running, float v) { return (v < running || v != v) ? v : running; }
static inline float lane_max(float running, float v) { return (v > running || v != v) ? v : running; }

static void reduce_run(const float* __restrict x, int64_t n, float* min, float* max) {
  const float inf = __builtin_inff();
  float mn[kLanes], mx[kLanes];
  for (int j = 0; j < kLanes; ++j) {
    mn[j] = inf;
    mx[j] = -inf;
  }
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int j = 0; j < kLanes; ++j) {
      const float v = x[i + j];
      mn[j] = lane_min(mn[j], v);
      mx[j] = lane_max(mx[j], v);
    }
  }
  float a = *min, b = *max;
  for (int j = 0; j < kLanes; ++j) {
    a = lane_min(a, mn[j]);
    b = lane_max(b, mx[j]);
  }
  for (; i < n; ++i) {
    a = lane_min(a, x[i]);
    b = lane_max(b, x[i]);
  }
  *min = a;
  *max = b;
}

static void reduce_rows(const float* __restrict x, int64_t rows, int64_t cols, float* __restrict mins,
                        float* __restrict maxs) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* __restrict row = x + r * cols;
    for (int64_t c = 0; c < cols; ++c) {
      mins[c] = lane_min(mins[c], row[c]);
      maxs[c] = lane_max(maxs[c], row[c]);
    }
  }
}

}  // namespace TORCH_PT2E_MINMAX_ISA

const MinMaxLoops& TORCH_PT2E_MINMAX_TABLE() {
  static const MinMaxLoops table = {TORCH_PT2E_MINMAX_ISA_NAME, TORCH_PT2E_MINMAX_ISA::reduce_run,
                                    TORCH_PT2E_MINMAX_ISA::reduce_rows};
  return table;
}

}  // namespace cpu
}  // namespace kernels
}  // namespace torch_pt2e
