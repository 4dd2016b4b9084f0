#include "torch_pt2e_plugin/observers/statistics.h"

#include <cmath>
#include <limits>
#include <tuple>

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include "torch_pt2e_plugin/observers/observer_ops.h"

namespace torch_pt2e {
namespace observers {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

void check_state(const char* op, const char* name, const at::Tensor& t) {
  TORCH_CHECK(t.defined() && t.scalar_type() == at::kFloat, op, ": ", name, " must be a float32 tensor, got ",
              t.defined() ? c10::toString(t.scalar_type()) : "an undefined tensor");
}

void check_scalar_state(const char* op, const char* name, const at::Tensor& t) {
  check_state(op, name, t);
  TORCH_CHECK(t.dim() == 0, op, ": ", name, " must be a 0-d tensor (a per-tensor statistic), got shape ", t.sizes());
}

bool same_value(const at::Tensor& a, const at::Tensor& b) { return at::eq(a, b).item<bool>(); }

// torch.aminmax(x.to(float32)) as 0-d float32 tensors. Rounding to float32 is
// monotonic, so the extrema of the converted tensor are the converted
// extrema of the original: for float64 and integer inputs the conversion (a
// pass over a copy) is skipped. float16/bfloat16 are converted, as aminmax
// has no kernel for them in LibTorch 1.13.
std::tuple<at::Tensor, at::Tensor> aminmax_as_float(const at::Tensor& x) {
  const auto dtype = x.scalar_type();
  if (dtype != at::kFloat && dtype != at::kDouble && !at::isIntegralType(dtype, /*includeBool=*/false)) {
    return at::aminmax(x.to(at::kFloat));
  }
  at::Tensor lo, hi;
  std::tie(lo, hi) = at::aminmax(x);
  return std::make_tuple(lo.to(at::kFloat), hi.to(at::kFloat));
}

void set_state(const at::Tensor& state, const at::Tensor& value) {
  // A new storage rather than resize_: a buffer that torch.jit.load made
  // cannot be resized, and a prepared model saved before calibration has
  // empty per-channel statistics.
  if (!state.sizes().equals(value.sizes())) state.set_(at::empty(value.sizes(), state.options()));
  state.copy_(value);
}

// Upstream's running per-channel statistics must keep their channel count.
void check_same_channels(const char* op, const at::Tensor& running, const at::Tensor& current, int64_t ch_axis) {
  TORCH_CHECK(running.sizes().equals(current.sizes()), op, ": the input has ", current.numel(),
              " channels along ch_axis=", ch_axis, ", but the observer recorded ", running.numel(),
              " channels before");
}

// HistogramObserver._upscale_histogram.
at::Tensor upscale_histogram(const at::Tensor& histogram, const at::Tensor& orig_min, const at::Tensor& orig_max,
                             const at::Tensor& update_min, const at::Tensor& update_max, int64_t bins,
                             int64_t upsample_rate) {
  const at::Tensor fine = at::repeat_interleave(histogram, upsample_rate) / upsample_rate;
  const at::Tensor bin_size = (orig_max - orig_min) / (bins * upsample_rate);
  const at::Tensor mid_points =
      at::linspace(orig_min.item(), orig_max.item(), bins * upsample_rate + 1, at::device(orig_min.device()))
          .slice(0, 0, -1)
          .to(fine.device()) +
      bin_size * 0.5;
  const at::Tensor boundaries =
      at::linspace(update_min.item(), update_max.item(), bins + 1, at::device(update_min.device())).to(fine.device());
  at::Tensor buckets = at::bucketize(mid_points, boundaries, /*out_int32=*/false, /*right=*/true) - 1;
  buckets.masked_fill_(buckets >= bins, bins - 1);
  buckets.masked_fill_(buckets < 0, 0);
  return at::bincount(buckets, fine, bins);
}

// HistogramObserver._combine_histograms.
at::Tensor combine_histograms(const at::Tensor& orig_hist, const at::Tensor& orig_min, const at::Tensor& orig_max,
                              const at::Tensor& update_hist, const at::Tensor& update_min,
                              const at::Tensor& update_max, int64_t bins, int64_t upsample_rate) {
  if (same_value(update_min, orig_min) && same_value(update_max, orig_max)) return orig_hist + update_hist;
  if (same_value(orig_min, orig_max)) {
    // Upstream weighs the single old value by the mass of the *new* histogram.
    const at::Tensor bin_value = at::sum(update_hist);
    const at::Tensor transformed = at::histc(orig_min, bins, update_min.item(), update_max.item()) * bin_value;
    return transformed + update_hist;
  }
  TORCH_CHECK(at::le(update_min, orig_min).item<bool>() && at::ge(update_max, orig_max).item<bool>(),
              "HistogramObserver: the combined range [", update_min.item<double>(), ", ", update_max.item<double>(),
              "] must contain the recorded range [", orig_min.item<double>(), ", ", orig_max.item<double>(), "]");
  return update_hist +
         upscale_histogram(orig_hist, orig_min, orig_max, update_min, update_max, bins, upsample_rate);
}

// The common case of a calibrated HistogramObserver: the input stays in the
// recorded range [min_val, max_val]. One pass (histc_with_extrema) yields
// what upstream gets from aminmax, the inf filter and histc: same extrema,
// same histogram. Returns false, having changed nothing, when the range is
// not set yet, is a single value, or grows (upstream's path then runs).
bool try_update_histogram_in_range(const at::Tensor& x, const at::Tensor& histogram, const at::Tensor& min_val,
                                   const at::Tensor& max_val, int64_t bins) {
  constexpr const char* op = "HistogramObserver";
  const double lo = min_val.item<double>(), hi = max_val.item<double>();
  if (!(std::isfinite(lo) && std::isfinite(hi) && lo < hi)) return false;
  TORCH_CHECK(histogram.numel() == bins, op, ": the recorded histogram has ", histogram.numel(),
              " bins, but the observer was configured with bins=", bins);
  at::Tensor update, x_min, x_max;
  bool has_nan = false, has_inf = false;
  std::tie(update, x_min, x_max, has_nan, has_inf) = histc_with_extrema(x, bins, lo, hi);
  TORCH_CHECK(!has_nan, op, ": the input contains NaN, which has no place in a histogram (upstream fails in torch.histc)");
  if (has_inf) {
    TORCH_WARN_ONCE(op, ": the input contains +-inf; those values are ignored, as upstream does");
  }
  if (x_min.item<double>() == kInf) return true;  // nothing but +-inf: upstream returns unchanged
  const at::Tensor new_min = at::min(min_val, x_min);
  const at::Tensor new_max = at::max(max_val, x_max);
  if (!same_value(new_min, min_val) || !same_value(new_max, max_val)) return false;
  set_state(histogram, histogram + update.to(histogram.device()));
  return true;
}

}  // namespace

void update_min_max(const at::Tensor& input, const at::Tensor& min_val, const at::Tensor& max_val) {
  constexpr const char* op = "MinMaxObserver";
  check_scalar_state(op, "min_val", min_val);
  check_scalar_state(op, "max_val", max_val);
  if (input.numel() == 0) return;
  at::Tensor cur_min, cur_max;
  std::tie(cur_min, cur_max) = aminmax_as_float(input.detach());
  const at::Tensor new_min = at::min(cur_min, min_val);
  const at::Tensor new_max = at::max(cur_max, max_val);
  min_val.copy_(new_min);
  max_val.copy_(new_max);
}

void update_moving_average_min_max(const at::Tensor& input, const at::Tensor& min_val, const at::Tensor& max_val,
                                   double averaging_constant) {
  constexpr const char* op = "MovingAverageMinMaxObserver";
  check_scalar_state(op, "min_val", min_val);
  check_scalar_state(op, "max_val", max_val);
  if (input.numel() == 0) return;
  at::Tensor cur_min, cur_max;
  std::tie(cur_min, cur_max) = aminmax_as_float(input.detach());
  at::Tensor new_min = cur_min, new_max = cur_max;
  const bool first = min_val.item<double>() == kInf && max_val.item<double>() == -kInf;
  if (!first) {
    new_min = min_val + (cur_min - min_val) * averaging_constant;
    new_max = max_val + (cur_max - max_val) * averaging_constant;
  }
  min_val.copy_(new_min);
  max_val.copy_(new_max);
}

void update_per_channel_min_max(const at::Tensor& input, const at::Tensor& min_val, const at::Tensor& max_val,
                                int64_t ch_axis) {
  constexpr const char* op = "PerChannelMinMaxObserver";
  check_state(op, "min_val", min_val);
  check_state(op, "max_val", max_val);
  if (input.numel() == 0) return;
  at::Tensor cur_min, cur_max;
  std::tie(cur_min, cur_max) = per_channel_aminmax(input.detach(), ch_axis);
  at::Tensor new_min = cur_min, new_max = cur_max;
  if (min_val.numel() != 0 && max_val.numel() != 0) {
    check_same_channels(op, min_val, cur_min, ch_axis);
    new_min = at::min(cur_min, min_val);
    new_max = at::max(cur_max, max_val);
  }
  set_state(min_val, new_min);
  set_state(max_val, new_max);
}

void update_moving_average_per_channel_min_max(const at::Tensor& input, const at::Tensor& min_val,
                                               const at::Tensor& max_val, int64_t ch_axis,
                                               double averaging_constant) {
  constexpr const char* op = "MovingAveragePerChannelMinMaxObserver";
  check_state(op, "min_val", min_val);
  check_state(op, "max_val", max_val);
  if (input.numel() == 0) return;
  at::Tensor cur_min, cur_max;
  std::tie(cur_min, cur_max) = per_channel_aminmax(input.detach(), ch_axis);
  at::Tensor new_min = cur_min, new_max = cur_max;
  if (min_val.numel() != 0 && max_val.numel() != 0) {
    check_same_channels(op, min_val, cur_min, ch_axis);
    new_min = min_val + (cur_min - min_val) * averaging_constant;
    new_max = max_val + (cur_max - max_val) * averaging_constant;
  }
  set_state(min_val, new_min);
  set_state(max_val, new_max);
}

void update_histogram(const at::Tensor& input, const at::Tensor& histogram, const at::Tensor& min_val,
                      const at::Tensor& max_val, int64_t bins, int64_t upsample_rate) {
  constexpr const char* op = "HistogramObserver";
  check_scalar_state(op, "min_val", min_val);
  check_scalar_state(op, "max_val", max_val);
  check_state(op, "histogram", histogram);
  TORCH_CHECK(bins >= 1, op, ": bins must be >= 1, got ", bins);
  TORCH_CHECK(upsample_rate >= 1, op, ": upsample_rate must be >= 1, got ", upsample_rate);
  if (input.numel() == 0) return;
  at::Tensor x = input.detach();
  if (try_update_histogram_in_range(x, histogram, min_val, max_val, bins)) return;
  at::Tensor x_min, x_max;
  std::tie(x_min, x_max) = at::aminmax(x);
  const double lo = x_min.item<double>(), hi = x_max.item<double>();
  TORCH_CHECK(!std::isnan(lo) && !std::isnan(hi), op,
              ": the input contains NaN, which has no place in a histogram (upstream fails in torch.histc)");
  if (lo == -kInf || hi == kInf) {
    TORCH_WARN_ONCE(op, ": the input contains +-inf; those values are ignored, as upstream does");
    x = x.index({at::abs(x) != kInf});
    if (x.numel() == 0) return;
    std::tie(x_min, x_max) = at::aminmax(x);
  }
  const bool uninitialized = min_val.item<double>() == kInf || max_val.item<double>() == -kInf;
  if (uninitialized) {
    set_state(min_val, x_min);
    set_state(max_val, x_max);
    set_state(histogram, at::histc(x, bins, x_min.item(), x_max.item()));
    return;
  }
  TORCH_CHECK(histogram.numel() == bins, op, ": the recorded histogram has ", histogram.numel(),
              " bins, but the observer was configured with bins=", bins);
  const at::Tensor new_min = at::min(min_val, x_min);
  const at::Tensor new_max = at::max(max_val, x_max);
  const at::Tensor update = at::histc(x, bins, new_min.item(), new_max.item()).to(histogram.device());
  if (same_value(new_min, min_val) && same_value(new_max, max_val)) {
    set_state(histogram, histogram + update);
    return;
  }
  set_state(histogram, combine_histograms(histogram, min_val, max_val, update, new_min, new_max, bins, upsample_rate));
  set_state(min_val, new_min);
  set_state(max_val, new_max);
}

}  // namespace observers
}  // namespace torch_pt2e
