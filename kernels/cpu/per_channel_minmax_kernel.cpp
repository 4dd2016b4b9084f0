// CPU kernel of torch_pt2e::per_channel_aminmax: one pass over the memory of
// a dense float32 input, whatever the channel axis and the dimension order.
#include <algorithm>
#include <limits>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include "kernels/cpu/cpu_capability.h"
#include "kernels/cpu/cpu_kernel_utils.h"
#include "kernels/cpu/minmax_loops.h"
#include "kernels/per_channel_minmax.h"

namespace torch_pt2e {
namespace kernels {
namespace cpu {

const MinMaxLoops& minmax_loops() {
  static const MinMaxLoops* table = [] {
    switch (active_cpu_capability()) {
      case CpuCapability::kAVX512:
        return &minmax_loops_avx512();
      case CpuCapability::kAVX2:
        return &minmax_loops_avx2();
      case CpuCapability::kDefault:
        break;
    }
    return &minmax_loops_default();
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

std::tuple<at::Tensor, at::Tensor> per_channel_aminmax_cpu(const at::Tensor& input, int64_t axis) {
  const int64_t dim = check_per_channel_aminmax_args(input, axis);
  if (input.scalar_type() != at::kFloat || !input.is_non_overlapping_and_dense()) {
    return per_channel_aminmax_reference(input, axis);
  }
  const ChannelLayout layout = channel_layout(input, dim);
  const int64_t channels = layout.channels;
  const float* data = input.data_ptr<float>();
  const MinMaxLoops& loops = minmax_loops();
  const float inf = std::numeric_limits<float>::infinity();

  // Contiguous pieces of the memory, each folded into its own partial
  // minima/maxima (no thread ids needed), combined in piece order afterwards.
  const int64_t numel = input.numel();
  const int64_t max_pieces = std::max<int64_t>(1, at::get_num_threads() * 4);
  // Each piece holds its own partials: keep them small next to the input.
  const int64_t pieces = std::max<int64_t>(
      1, std::min({max_pieces, (numel + kParallelGrain - 1) / kParallelGrain, numel / (channels * 8)}));
  std::vector<float> partial_min(pieces * channels, inf), partial_max(pieces * channels, -inf);

  if (layout.inner == 1) {
    // Channels innermost (e.g. channels-last with axis 1): rows of `channels` values.
    const int64_t rows = layout.outer;
    at::parallel_for(0, pieces, 1, [&](int64_t begin, int64_t end) {
      for (int64_t p = begin; p < end; ++p) {
        const int64_t r0 = rows * p / pieces, r1 = rows * (p + 1) / pieces;
        loops.reduce_rows(data + r0 * channels, r1 - r0, channels, &partial_min[p * channels],
                          &partial_max[p * channels]);
      }
    });
  } else {
    const int64_t inner = layout.inner;
    at::parallel_for(0, pieces, 1, [&](int64_t begin, int64_t end) {
      for (int64_t p = begin; p < end; ++p) {
        float* mins = &partial_min[p * channels];
        float* maxs = &partial_max[p * channels];
        int64_t pos = numel * p / pieces;
        const int64_t stop = numel * (p + 1) / pieces;
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
      a = fold_min(a, partial_min[p * channels + c]);
      b = fold_max(b, partial_max[p * channels + c]);
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
