// Body of one instruction-set variant of the observer loops (see
// observer_loops.h). Included by observer_loops_<isa>.cpp after defining
// TORCH_PT2E_OBSERVER_LOOPS_ISA (namespace), TORCH_PT2E_OBSERVER_LOOPS_ISA_NAME (string) and
// TORCH_PT2E_OBSERVER_LOOPS_TABLE (accessor). Raw-pointer C++ only, no ATen/c10
// headers (see loops_impl.h for why).
#include <cstdint>

#include "kernels/cpu/observer_loops.h"

#if !defined(TORCH_PT2E_OBSERVER_LOOPS_ISA) || !defined(TORCH_PT2E_OBSERVER_LOOPS_ISA_NAME) || !defined(TORCH_PT2E_OBSERVER_LOOPS_TABLE)
#error "define TORCH_PT2E_OBSERVER_LOOPS_ISA, TORCH_PT2E_OBSERVER_LOOPS_ISA_NAME and TORCH_PT2E_OBSERVER_LOOPS_TABLE first"
#endif

namespace torch_pt2e {
namespace kernels {
namespace cpu {
namespace TORCH_PT2E_OBSERVER_LOOPS_ISA {

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

// Values are binned a chunk at a time: the arithmetic of a chunk vectorizes,
// then its counters are incremented one by one.
constexpr int64_t kHistogramChunk = 256;

static void histogram_run(const float* __restrict x, int64_t n, float left, float right, int64_t bins,
                          uint32_t* __restrict counts, HistogramExtras* extras) {
  const float inf = __builtin_inff();
  const float bins_f = static_cast<float>(bins);
  const float width = right - left;
  const int32_t last = static_cast<int32_t>(bins - 1);
  int32_t pos[kHistogramChunk];
  float mn[kLanes], mx[kLanes], nans[kLanes], infs[kLanes];
  for (int j = 0; j < kLanes; ++j) {
    mn[j] = inf;
    mx[j] = -inf;
    nans[j] = 0.0f;
    infs[j] = 0.0f;
  }
  for (int64_t base = 0; base < n; base += kHistogramChunk) {
    const int64_t m = n - base < kHistogramChunk ? n - base : kHistogramChunk;
    const float* __restrict chunk = x + base;
    for (int64_t j = 0; j < m; ++j) {
      const float v = chunk[j];
      const bool inside = v >= left && v <= right;  // false for NaN
      // Same float32 steps as torch.histc; outside values are zeroed first so
      // the conversion to int is always defined.
      const float t = inside ? (v - left) * bins_f / width : 0.0f;
      int32_t p = static_cast<int32_t>(t);
      p = p > last ? last : p;
      pos[j] = inside ? p : -1;
    }
    int64_t j = 0;
    for (; j + kLanes <= m; j += kLanes) {
      for (int l = 0; l < kLanes; ++l) {
        const float v = chunk[j + l];
        const bool finite = v - v == 0.0f;
        mn[l] = finite && v < mn[l] ? v : mn[l];
        mx[l] = finite && v > mx[l] ? v : mx[l];
        nans[l] += v != v ? 1.0f : 0.0f;
        infs[l] += (v == inf || v == -inf) ? 1.0f : 0.0f;
      }
    }
    for (; j < m; ++j) {
      const float v = chunk[j];
      const bool finite = v - v == 0.0f;
      mn[0] = finite && v < mn[0] ? v : mn[0];
      mx[0] = finite && v > mx[0] ? v : mx[0];
      nans[0] += v != v ? 1.0f : 0.0f;
      infs[0] += (v == inf || v == -inf) ? 1.0f : 0.0f;
    }
    for (int64_t k = 0; k < m; ++k) {
      if (pos[k] >= 0) ++counts[(k % kHistogramCopies) * bins + pos[k]];
    }
  }
  float a = extras->finite_min, b = extras->finite_max;
  int64_t nan_count = 0, inf_count = 0;
  for (int l = 0; l < kLanes; ++l) {
    a = mn[l] < a ? mn[l] : a;
    b = mx[l] > b ? mx[l] : b;
    nan_count += static_cast<int64_t>(nans[l]);
    inf_count += static_cast<int64_t>(infs[l]);
  }
  extras->finite_min = a;
  extras->finite_max = b;
  extras->nan_count += nan_count;
  extras->inf_count += inf_count;
}

}  // namespace TORCH_PT2E_OBSERVER_LOOPS_ISA

const ObserverLoops& TORCH_PT2E_OBSERVER_LOOPS_TABLE() {
  // Constant-initialized: reading it runs no code of this instruction set.
  static constexpr ObserverLoops table = {TORCH_PT2E_OBSERVER_LOOPS_ISA_NAME, TORCH_PT2E_OBSERVER_LOOPS_ISA::reduce_run,
                                      TORCH_PT2E_OBSERVER_LOOPS_ISA::reduce_rows,
                                      TORCH_PT2E_OBSERVER_LOOPS_ISA::histogram_run};
  return table;
}

}  // namespace cpu
}  // namespace kernels
}  // namespace torch_pt2e
