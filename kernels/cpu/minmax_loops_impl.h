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
// vector compare/blend instructions (a plain reduction would not vectorize
// without -ffast-math, which would also break the NaN rule). NaN is counted
// on the side and applied at the end, which keeps the loop branch-free.
constexpr int kLanes = 32;

static inline float lane_min(float running, float v) { return (v < running || v != v) ? v : running; }
static inline float lane_max(float running, float v) { return (v > running || v != v) ? v : running; }

static void reduce_run(const float* __restrict x, int64_t n, float* min, float* max) {
  const float inf = __builtin_inff();
  float mn[kLanes], mx[kLanes], nans[kLanes];
  for (int j = 0; j < kLanes; ++j) {
    mn[j] = inf;
    mx[j] = -inf;
    nans[j] = 0.0f;
  }
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    for (int j = 0; j < kLanes; ++j) {
      const float v = x[i + j];
      mn[j] = v < mn[j] ? v : mn[j];
      mx[j] = v > mx[j] ? v : mx[j];
      nans[j] += v != v ? 1.0f : 0.0f;
    }
  }
  for (; i < n; ++i) {
    const float v = x[i];
    mn[0] = v < mn[0] ? v : mn[0];
    mx[0] = v > mx[0] ? v : mx[0];
    nans[0] += v != v ? 1.0f : 0.0f;
  }
  // Halving folds, each one vectorizable.
  for (int width = kLanes / 2; width >= 1; width /= 2) {
    for (int j = 0; j < width; ++j) {
      mn[j] = mn[j + width] < mn[j] ? mn[j + width] : mn[j];
      mx[j] = mx[j + width] > mx[j] ? mx[j + width] : mx[j];
      nans[j] += nans[j + width];
    }
  }
  float a = lane_min(*min, mn[0]);
  float b = lane_max(*max, mx[0]);
  if (nans[0] != 0.0f) a = b = __builtin_nanf("");
  *min = a;
  *max = b;
}

// Rows of up to this many columns keep their running values in local arrays
// (registers and L1); longer rows update the caller's arrays in place.
constexpr int64_t kLocalColumns = 1024;

static void reduce_rows(const float* __restrict x, int64_t rows, int64_t cols, float* __restrict mins,
                        float* __restrict maxs, float* __restrict nan_counts) {
  if (cols <= kLocalColumns) {
    float mn[kLocalColumns], mx[kLocalColumns], nans[kLocalColumns];
    for (int64_t c = 0; c < cols; ++c) {
      mn[c] = mins[c];
      mx[c] = maxs[c];
      nans[c] = nan_counts[c];
    }
    for (int64_t r = 0; r < rows; ++r) {
      const float* __restrict row = x + r * cols;
      for (int64_t c = 0; c < cols; ++c) {
        const float v = row[c];
        mn[c] = v < mn[c] ? v : mn[c];
        mx[c] = v > mx[c] ? v : mx[c];
        nans[c] += v != v ? 1.0f : 0.0f;
      }
    }
    for (int64_t c = 0; c < cols; ++c) {
      mins[c] = mn[c];
      maxs[c] = mx[c];
      nan_counts[c] = nans[c];
    }
    return;
  }
  for (int64_t r = 0; r < rows; ++r) {
    const float* __restrict row = x + r * cols;
    for (int64_t c = 0; c < cols; ++c) {
      const float v = row[c];
      mins[c] = v < mins[c] ? v : mins[c];
      maxs[c] = v > maxs[c] ? v : maxs[c];
      nan_counts[c] += v != v ? 1.0f : 0.0f;
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
