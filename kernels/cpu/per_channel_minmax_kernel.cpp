// CPU kernel of torch_pt2e::per_channel_aminmax: one pass over the memory of
// a dense float32 input, whatever the channel axis and the dimension order.
#include <algorithm>
#include <limits>
#include <numeric>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include "kernels/cpu/cpu_capability.h"
#include "kernels/cpu/cpu_kernel_utils.h"
#include "kernels/cpu/observer_loops.h"
#include "kernels/per_channel_minmax.h"

namespace torch_pt2e {
namespace kernels {
namespace cpu {

const ObserverLoops& observer_loops() {
  static const ObserverLoops* table = [] {
    switch (active_cpu_capability()) {
      case CpuCapability::kAVX512:
        return &observer_loops_avx512();
      case CpuCapability::kAVX2:
        return &observer_loops_avx2();
      case CpuCapability::kDefault:
        break;
    }
    return &observer_loops_default();
  }();
  return *table;
}

namespace {

float fold_min(float running, float v) { return (v < running || v != v) ? v : running; }
float fold_max(float running, float v) { return (v > running || v != v) ? v : running; }

// A dense input seen in memory order as [outer, channels, inner]: channel c
// owns the runs of `inner` contiguous elements at (o * channels + c) * inner.
struct ChannelLayout {
  int64_t outer;
  int64_t channels;
  int64_t inner;
};

ChannelLayout channel_layout(const at::Tensor& input, int64_t axis) {
  const int64_t channels = input.size(axis);
  if (channels == 1) return {1, 1, input.numel()};
  // In a dense, non-overlapping layout the stride of a dimension is the
  // product of the sizes of the dimensions stored inside it.
  const int64_t inner = input.stride(axis);
  return {input.numel() / (channels * inner), channels, inner};
}

// Channel runs shorter than this are read as rows of channels * inner
// columns instead (a call per run would cost more than the run).
constexpr int64_t kShortRun = 512;
// ... as long as a row's partial results stay small.
constexpr int64_t kMaxRowLength = int64_t(1) << 16;
// Rows shorter than this are grouped, so the loops see whole vectors.
constexpr int64_t kMinRowLength = 64;

// Splits [0, n) into `pieces` contiguous parts; part p is [bound(p), bound(p + 1)).
int64_t piece_bound(int64_t n, int64_t pieces, int64_t p) { return n * p / pieces; }

// How many pieces to fold in parallel, each with its own `partial_size`
// partial results (kept well below the input's size).
int64_t piece_count(int64_t numel, int64_t partial_size) {
  const int64_t by_threads = std::max<int64_t>(1, at::get_num_threads() * 4);
  const int64_t by_grain = (numel + kParallelGrain - 1) / kParallelGrain;
  const int64_t by_memory = numel / (partial_size * 8);
  return std::max<int64_t>(1, std::min({by_threads, by_grain, by_memory}));
}

std::tuple<at::Tensor, at::Tensor> per_channel_aminmax_cpu(const at::Tensor& input, int64_t axis) {
  const int64_t dim = check_per_channel_aminmax_args(input, axis);
  if (input.scalar_type() != at::kFloat || !input.is_non_overlapping_and_dense()) {
    return per_channel_aminmax_reference(input, axis);
  }
  const ChannelLayout layout = channel_layout(input, dim);
  const int64_t channels = layout.channels, inner = layout.inner;
  const int64_t numel = input.numel();
  const float* data = input.data_ptr<float>();
  const ObserverLoops& loops = observer_loops();
  const float inf = std::numeric_limits<float>::infinity();

  // Each piece of the memory folds into its own partial results (no thread
  // ids needed); the pieces are combined in order afterwards. Partial slot k
  // belongs to channel k / per_channel.
  const bool as_rows = inner == 1 || (inner < kShortRun && channels * inner <= kMaxRowLength);
  const int64_t per_channel = as_rows ? inner : 1;
  const int64_t row_length = channels * per_channel;
  // Short rows are read `group` at a time, as one row whose length is a
  // multiple of 16 (whole vectors of floats).
  const int64_t group = as_rows && row_length < kMinRowLength ? 16 / std::gcd<int64_t>(row_length, 16) : 1;
  const int64_t slots = row_length * group;
  const int64_t pieces = piece_count(numel, slots);
  std::vector<float> partial_min(pieces * slots, inf), partial_max(pieces * slots, -inf);
  std::vector<float> nan_counts(as_rows ? pieces * slots : 0, 0.0f);

  if (as_rows) {
    // Rows of `row_length` values, (c, i) for every channel c and inner index
    // i; slot k holds (k % row_length) of every group of rows.
    const int64_t rows = layout.outer;
    at::parallel_for(0, pieces, 1, [&](int64_t begin, int64_t end) {
      for (int64_t p = begin; p < end; ++p) {
        const int64_t r0 = piece_bound(rows, pieces, p), r1 = piece_bound(rows, pieces, p + 1);
        const int64_t grouped = (r1 - r0) / group * group;
        float* mins = &partial_min[p * slots];
        float* maxs = &partial_max[p * slots];
        float* nans = &nan_counts[p * slots];
        loops.reduce_rows(data + r0 * row_length, grouped / group, slots, mins, maxs, nans);
        loops.reduce_rows(data + (r0 + grouped) * row_length, r1 - r0 - grouped, row_length, mins, maxs, nans);
      }
    });
    const float nan = std::numeric_limits<float>::quiet_NaN();
    for (size_t k = 0; k < nan_counts.size(); ++k) {
      if (nan_counts[k] != 0.0f) partial_min[k] = partial_max[k] = nan;
    }
  } else {
    // Runs of `inner` contiguous values; run r belongs to channel r % channels.
    at::parallel_for(0, pieces, 1, [&](int64_t begin, int64_t end) {
      for (int64_t p = begin; p < end; ++p) {
        float* mins = &partial_min[p * slots];
        float* maxs = &partial_max[p * slots];
        int64_t pos = piece_bound(numel, pieces, p);
        const int64_t stop = piece_bound(numel, pieces, p + 1);
        while (pos < stop) {
          const int64_t run = pos / inner;
          const int64_t run_end = std::min(stop, (run + 1) * inner);
          const int64_t c = run % channels;
          loops.reduce_run(data + pos, run_end - pos, &mins[c], &maxs[c]);
          pos = run_end;
        }
      }
    });
  }

  at::Tensor min_out = at::empty({channels}, input.options().dtype(at::kFloat));
  at::Tensor max_out = at::empty({channels}, input.options().dtype(at::kFloat));
  float* mn = min_out.data_ptr<float>();
  float* mx = max_out.data_ptr<float>();
  for (int64_t c = 0; c < channels; ++c) {
    float a = inf, b = -inf;
    for (int64_t p = 0; p < pieces; ++p) {
      for (int64_t g = 0; g < group; ++g) {
        for (int64_t k = g * row_length + c * per_channel; k < g * row_length + (c + 1) * per_channel; ++k) {
          a = fold_min(a, partial_min[p * slots + k]);
          b = fold_max(b, partial_max[p * slots + k]);
        }
      }
    }
    mn[c] = a;
    mx[c] = b;
  }
  return {min_out, max_out};
}

}  // namespace

TORCH_LIBRARY_IMPL(torch_pt2e, CPU, m) {
  m.impl("per_channel_aminmax", TORCH_FN(per_channel_aminmax_cpu));
}

}  // namespace cpu
}  // namespace kernels
}  // namespace torch_pt2e
