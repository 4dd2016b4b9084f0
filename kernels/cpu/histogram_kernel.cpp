// CPU kernel of torch_pt2e::histc_with_extrema: one pass over the memory of a
// dense float32 input (element order does not matter to a histogram).
#include <algorithm>
#include <limits>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include "kernels/cpu/cpu_kernel_utils.h"
#include "kernels/cpu/observer_loops.h"
#include "kernels/histogram.h"

namespace torch_pt2e {
namespace kernels {
namespace cpu {
namespace {

// Counts above this could differ from torch.histc's float32 counting.
constexpr int64_t kMaxBins = int64_t(1) << 24;

std::tuple<at::Tensor, at::Tensor, at::Tensor, bool, bool> histc_with_extrema_cpu(const at::Tensor& input,
                                                                                   int64_t bins, double min,
                                                                                   double max) {
  check_histc_with_extrema_args(input, bins, min, max);
  if (input.scalar_type() != at::kFloat || !input.is_non_overlapping_and_dense() || bins > kMaxBins) {
    return histc_with_extrema_reference(input, bins, min, max);
  }
  // torch.histc's bin edges are linspace(min, max, bins + 1) in the input's
  // dtype; the loops use its two ends.
  const at::Tensor edges = at::linspace(min, max, bins + 1, input.options());
  const float left = edges[0].item<float>(), right = edges[bins].item<float>();

  const int64_t numel = input.numel();
  const int64_t counters = kHistogramCopies * bins;
  const int64_t pieces = std::max<int64_t>(
      1, std::min({static_cast<int64_t>(at::get_num_threads()) * 4, (numel + kParallelGrain - 1) / kParallelGrain,
                   numel / (counters * 2)}));
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<uint32_t> counts(pieces * counters, 0);
  std::vector<HistogramExtras> extras(pieces, HistogramExtras{inf, -inf, 0, 0});
  const float* data = input.data_ptr<float>();
  const ObserverLoops& loops = observer_loops();
  at::parallel_for(0, pieces, 1, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      const int64_t b = numel * p / pieces, e = numel * (p + 1) / pieces;
      loops.histogram_run(data + b, e - b, left, right, bins, &counts[p * counters], &extras[p]);
    }
  });

  at::Tensor hist = at::empty({bins}, input.options());
  float* out = hist.data_ptr<float>();
  for (int64_t k = 0; k < bins; ++k) {
    uint64_t total = 0;
    for (int64_t c = 0; c < pieces * kHistogramCopies; ++c) total += counts[c * bins + k];
    out[k] = static_cast<float>(total);
  }
  HistogramExtras all{inf, -inf, 0, 0};
  for (const auto& e : extras) {
    all.finite_min = std::min(all.finite_min, e.finite_min);
    all.finite_max = std::max(all.finite_max, e.finite_max);
    all.nan_count += e.nan_count;
    all.inf_count += e.inf_count;
  }
  return std::make_tuple(hist, at::scalar_tensor(all.finite_min, input.options()),
                         at::scalar_tensor(all.finite_max, input.options()), all.nan_count > 0, all.inf_count > 0);
}

}  // namespace

TORCH_LIBRARY_IMPL(torch_pt2e, CPU, m) {
  m.impl("histc_with_extrema", TORCH_FN(histc_with_extrema_cpu));
}

}  // namespace cpu
}  // namespace kernels
}  // namespace torch_pt2e
