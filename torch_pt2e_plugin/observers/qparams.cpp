#include "torch_pt2e_plugin/observers/qparams.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>
#include <vector>

#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <torch/version.h>

#include "kernels/cpu/histogram_error.h"

namespace torch_pt2e {
namespace observers {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// Python's floor division, as upstream's `(quant_min + quant_max) // 2`.
int64_t floor_div2(int64_t v) { return v >= 0 ? v / 2 : -((-v + 1) / 2); }

bool is_symmetric(c10::QScheme q) { return q == c10::kPerTensorSymmetric || q == c10::kPerChannelSymmetric; }

std::tuple<at::Tensor, at::Tensor> unobserved_defaults(const at::Tensor& like) {
  const at::Device device(like.device().type());
  return std::make_tuple(at::full({1}, 1.0, at::TensorOptions().dtype(at::kFloat).device(device)),
                         at::zeros({1}, at::TensorOptions().dtype(at::kLong).device(device)));
}

// check_min_max_valid (torch/ao/quantization/utils.py).
bool min_max_valid(const at::Tensor& min_val, const at::Tensor& max_val) {
  if (min_val.numel() == 0 || max_val.numel() == 0) {
    TORCH_WARN("must run observer before calling calculate_qparams. Returning default values.");
    return false;
  }
  if (min_val.dim() == 0 || max_val.dim() == 0) {
    if (min_val.item<double>() == kInf && max_val.item<double>() == -kInf) {
      TORCH_WARN("must run observer before calling calculate_qparams. Returning default values.");
      return false;
    }
    TORCH_CHECK(at::le(min_val, max_val).item<bool>(), "calculate_qparams: min_val (", min_val.item<double>(),
                ") must be <= max_val (", max_val.item<double>(),
                "); NaN in the observed data makes both NaN");
  } else {
    TORCH_CHECK(at::all(at::le(min_val, max_val)).item<bool>(),
                "calculate_qparams: every min_val must be <= its max_val (NaN in the observed data makes both NaN); "
                "got min_val=",
                min_val, " and max_val=", max_val);
  }
  return true;
}

int64_t quant_dtype_bits(at::ScalarType dtype) {
  switch (dtype) {
    case at::kQUInt8:
    case at::kQInt8:
    case at::kByte:
    case at::kChar:
      return 8;
    case at::kShort:
#if (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 3) || TORCH_VERSION_MAJOR > 2
    case at::kUInt16:
#endif
      return 16;
    case at::kQInt32:
    case at::kInt:
      return 32;
    default:
      TORCH_CHECK(false, "HistogramObserver: no integer width known for dtype ", dtype);
  }
}

// HistogramObserver._get_norm on tensors: density * (end^3 - begin^3) / 3.
at::Tensor norm_of(const at::Tensor& delta_begin, const at::Tensor& delta_end, const at::Tensor& density) {
  const at::Tensor norm = (delta_end * delta_end * delta_end - delta_begin * delta_begin * delta_begin) / 3;
  return density * norm;
}

// HistogramObserver._compute_quantization_error on a histogram on another
// device than the CPU, through the same ATen calls as upstream (a GPU's
// division by a scalar and its sum round differently from the CPU loop).
double quantization_error_on_device(const at::Tensor& histogram, const at::Tensor& src_bin, double min_val,
                                    double max_val, int64_t bins, int64_t dst_nbins, int64_t next_start_bin,
                                    int64_t next_end_bin) {
  const double bin_width = (max_val - min_val) / static_cast<double>(bins);
  const double dst_bin_width =
      bin_width * static_cast<double>(next_end_bin - next_start_bin + 1) / static_cast<double>(dst_nbins);
  if (dst_bin_width == 0.0) return 0.0;
  const auto floats = at::TensorOptions().dtype(at::kFloat).device(histogram.device());

  const at::Tensor src_bin_begin = (src_bin - next_start_bin) * bin_width;
  const at::Tensor src_bin_end = src_bin_begin + bin_width;
  const c10::optional<c10::string_view> floor_mode(c10::string_view("floor"));
  const c10::optional<at::Scalar> lowest(int64_t(0)), highest(dst_nbins - 1);
  const at::Tensor dst_bin_of_begin = at::clamp(at::div(src_bin_begin, dst_bin_width, floor_mode), lowest, highest);
  const at::Tensor dst_bin_of_begin_center = (dst_bin_of_begin + 0.5) * dst_bin_width;
  const at::Tensor dst_bin_of_end = at::clamp(at::div(src_bin_end, dst_bin_width, floor_mode), lowest, highest);
  const at::Tensor density = histogram / bin_width;

  at::Tensor norm = at::zeros({bins}, floats);
  norm += norm_of(src_bin_begin - dst_bin_of_begin_center, at::ones({bins}, floats) * (dst_bin_width / 2), density);
  norm += (dst_bin_of_end - dst_bin_of_begin - 1) *
          norm_of(at::scalar_tensor(-dst_bin_width / 2, floats), at::scalar_tensor(dst_bin_width / 2, floats),
                  density);
  const at::Tensor dst_bin_of_end_center = dst_bin_of_end * dst_bin_width + dst_bin_width / 2;
  norm += norm_of(at::scalar_tensor(-dst_bin_width / 2, floats), src_bin_end - dst_bin_of_end_center, density);
  return norm.sum().item<double>();
}

// HistogramObserver._compute_quantization_error. Upstream's tensor
// expressions are elementwise float32 operations (Python floats become
// float32 operands), so one pass over the bins with the same operations in
// the same order gives the same per-bin values (kernels/cpu/histogram_error.h);
// only the final sum, whose order ATen's reduction decides, is left to ATen.
// `density` is histogram / bin_width, which does not depend on the candidate
// range; `occupied` lists [first, last) runs of bins that hold every bin
// where it is not zero. `norm` wraps `norm_data`, `sum` is a 0-d float32
// tensor, both reused across candidates.
double quantization_error(const kernels::cpu::HistogramErrorLoops& loops, const float* density,
                          const std::vector<std::pair<int64_t, int64_t>>& occupied, int64_t bins, double min_val,
                          double max_val,
                          int64_t dst_nbins, int64_t next_start_bin, int64_t next_end_bin, float* norm_data,
                          const at::Tensor& norm, at::Tensor& sum) {
  const double bin_width = (max_val - min_val) / static_cast<double>(bins);
  const double dst_bin_width =
      bin_width * static_cast<double>(next_end_bin - next_start_bin + 1) / static_cast<double>(dst_nbins);
  if (dst_bin_width == 0.0) return 0.0;
  kernels::cpu::HistogramErrorArgs args;
  args.density = density;
  args.next_start_bin = next_start_bin;
  args.src_width = static_cast<float>(bin_width);
  args.dst_width = static_cast<float>(dst_bin_width);
  args.half_dst_width = static_cast<float>(dst_bin_width / 2);
  args.minus_half_dst_width = static_cast<float>(-dst_bin_width / 2);
  args.highest = static_cast<float>(dst_nbins - 1);
  // _get_norm(tensor(-w/2), tensor(w/2), density) with its 0-d factor first.
  args.whole_bin_cubes = (args.half_dst_width * args.half_dst_width * args.half_dst_width -
                          args.minus_half_dst_width * args.minus_half_dst_width * args.minus_half_dst_width) /
                         3.0f;
  // Every distance in a bin's error is at most `bound` (with a factor 2 for
  // rounding). While twice its cube is a finite float, an empty bin's three
  // terms are zeros of either sign, and 0 + (+-0) is +0: the bin contributes
  // +0, so only the runs of occupied bins need computing.
  const double bound = 2 * (static_cast<double>(bins + 1) * std::abs(static_cast<double>(args.src_width)) +
                            static_cast<double>(dst_nbins + 1) * std::abs(static_cast<double>(args.dst_width)));
  const bool empty_bins_give_zero = 2 * bound * bound * bound < 1e38;
  if (empty_bins_give_zero) {
    std::fill(norm_data, norm_data + bins, 0.0f);
    for (const auto& run : occupied) loops.bin_errors(args, run.first, run.second, norm_data);
  } else {
    loops.bin_errors(args, 0, bins, norm_data);
  }
  at::sum_out(sum, norm);
  return static_cast<double>(*sum.data_ptr<float>());
}

// Upstream's range search moves beta only by `beta = beta - 1e-5` from 1.0,
// so after j such steps beta is the same double in every search: entry j of
// one table, made once per process by the same subtractions. The table ends
// at the first negative entry; beta never gets further, since it only steps
// while it is above alpha, which is never negative.
constexpr double kSearchStep = 1e-5;

const std::vector<double>& beta_table() {
  static const std::vector<double> table = [] {
    std::vector<double> steps{1.0};
    while (steps.back() >= 0.0) steps.push_back(steps.back() - kSearchStep);
    return steps;
  }();
  return table;
}

// The search's iterations that change neither bin and only lower beta,
// done at once: from step j, beta keeps stepping while alpha < beta and
// (if r can move) the next beta's mass, rounded to float32, stays at or
// above end_mass. Returns the step where that stops, as the iterations
// themselves would reach it. Both conditions, once false, stay false as j
// grows (beta decreases; so does its float32 mass when total is finite and
// not negative), so the first step where one fails is found by bisection;
// otherwise the iterations run one by one.
int64_t last_beta_step(int64_t j, double alpha, double total, bool r_can_move, float end_mass) {
  const std::vector<double>& beta = beta_table();
  const int64_t last = static_cast<int64_t>(beta.size()) - 1;
  auto stops = [&](int64_t step) {
    return !(alpha < beta[step]) || (r_can_move && end_mass > static_cast<float>(beta[step + 1] * total));
  };
  if (!(std::isfinite(total) && total >= 0.0)) {
    while (!stops(j)) ++j;
    return j;
  }
  int64_t lo = j, hi = last;  // stops(last): beta[last] < 0 <= alpha
  while (lo < hi) {
    const int64_t mid = lo + (hi - lo) / 2;
    if (stops(mid)) {
      hi = mid;
    } else {
      lo = mid + 1;
    }
  }
  return lo;
}

}  // namespace

std::tuple<at::Tensor, at::Tensor> qparams_from_min_max(const at::Tensor& min_val, const at::Tensor& max_val,
                                                        const at::Tensor& eps, const QParamsSpec& spec) {
  TORCH_CHECK(eps.numel() == 1, "calculate_qparams: eps must hold one element, got shape ", eps.sizes());
  if (!min_max_valid(min_val, max_val)) return unobserved_defaults(min_val);
  const int64_t quant_min = spec.quant_min, quant_max = spec.quant_max;
  const at::Tensor min_val_neg = at::min(min_val, at::zeros_like(min_val));
  at::Tensor max_val_pos = at::max(max_val, at::zeros_like(max_val));

  const auto device = min_val_neg.device();
  at::Tensor scale = at::ones(min_val_neg.sizes(), at::TensorOptions().dtype(at::kFloat).device(device));
  at::Tensor zero_point = at::zeros(min_val_neg.sizes(), at::TensorOptions().dtype(at::kLong).device(device));

  if (is_symmetric(spec.qscheme)) {
    max_val_pos = at::max(-min_val_neg, max_val_pos);
    scale = max_val_pos / (static_cast<double>(quant_max - quant_min) / 2);
    scale = at::max(scale, eps);
    if (spec.dtype == at::kQUInt8 || spec.dtype == at::kByte) {
      const int64_t zp = spec.has_customized_qrange ? floor_div2(quant_min + quant_max) : 128;
      zero_point = at::full(zero_point.sizes(), zp, zero_point.options());
    }
#if (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 3) || TORCH_VERSION_MAJOR > 2
    else if (spec.dtype == at::kUInt16) {
      zero_point = at::full(zero_point.sizes(), int64_t(1) << 15, zero_point.options());
    }
#endif
  } else if (spec.qscheme == c10::kPerChannelAffineFloatQParams) {
    scale = (max_val - min_val) / static_cast<double>(quant_max - quant_min);
    scale = at::where(scale > eps, scale, at::ones_like(scale));
    // Zero point -min/scale: Round(x * inv_scale + zero_point) = Round((x - min) * inv_scale).
    zero_point = min_val * -1 / scale;
  } else {
    scale = (max_val_pos - min_val_neg) / static_cast<double>(quant_max - quant_min);
    scale = at::max(scale, eps);
    zero_point = at::rsub(at::round(min_val_neg / scale).to(at::kInt), quant_min);
    zero_point = at::clamp(zero_point, c10::optional<at::Scalar>(quant_min), c10::optional<at::Scalar>(quant_max));
  }

  // Upstream returns 1-element tensors for per-tensor statistics.
  if (scale.dim() == 0) scale = at::full({1}, scale.item<double>(), scale.options());
  if (zero_point.dim() == 0) {
    if (spec.qscheme == c10::kPerChannelAffineFloatQParams) {
      // Upstream goes through int() first, truncating the float zero point.
      zero_point = at::full({1}, static_cast<double>(zero_point.item<int64_t>()), zero_point.options());
    } else {
      zero_point = at::full({1}, zero_point.item<int64_t>(), zero_point.options());
    }
  }
  return std::make_tuple(scale, zero_point);
}

std::tuple<at::Tensor, at::Tensor> histogram_search_range(const at::Tensor& histogram, const at::Tensor& min_val,
                                                          const at::Tensor& max_val, int64_t bins,
                                                          at::ScalarType dtype) {
  return histogram_search_range(histogram, min_val, max_val, bins, dtype, kernels::cpu::histogram_error_loops());
}

std::tuple<at::Tensor, at::Tensor> histogram_search_range(const at::Tensor& histogram, const at::Tensor& min_val,
                                                          const at::Tensor& max_val, int64_t bins,
                                                          at::ScalarType dtype,
                                                          const kernels::cpu::HistogramErrorLoops& loops) {
  TORCH_CHECK(histogram.dim() == 1 && histogram.size(0) == bins, "HistogramObserver: the histogram has shape ",
              histogram.sizes(), ", expected [", bins, "] (bins)");
  const int64_t dst_nbins = int64_t(1) << quant_dtype_bits(dtype);
  const at::Tensor bin_width = (max_val - min_val) / bins;

  const double total = at::sum(histogram).item<double>();
  const at::Tensor cumulative = at::cumsum(histogram, 0).to(at::kCPU).contiguous();
  TORCH_CHECK(cumulative.scalar_type() == at::kFloat, "HistogramObserver: the histogram must be float32, got ",
              histogram.scalar_type());
  const float* c_sum = cumulative.data_ptr<float>();
  const double min_d = min_val.item<double>(), max_d = max_val.item<double>();
  const bool on_cpu = histogram.device().is_cpu();
  const at::Tensor src_bin =
      on_cpu ? at::Tensor() : at::arange(bins, at::TensorOptions().dtype(at::kLong).device(histogram.device()));
  const at::Tensor density =
      on_cpu ? (histogram / ((max_d - min_d) / static_cast<double>(bins))).contiguous() : at::Tensor();
  // Runs of occupied bins, joined across short gaps: the loops compute the
  // empty bins in between (+0, see quantization_error) for less than the
  // cost of another call.
  constexpr int64_t kJoinedGap = 8;
  std::vector<std::pair<int64_t, int64_t>> occupied;
  if (on_cpu) {
    const float* density_data = density.data_ptr<float>();
    for (int64_t i = 0; i < bins; ++i) {
      if (density_data[i] == 0.0f) continue;
      if (!occupied.empty() && i - occupied.back().second <= kJoinedGap) {
        occupied.back().second = i + 1;
      } else {
        occupied.emplace_back(i, i + 1);
      }
    }
  }
  const auto floats = at::TensorOptions().dtype(at::kFloat);
  const at::Tensor norm = on_cpu ? at::empty({bins}, floats) : at::Tensor();
  at::Tensor norm_sum = on_cpu ? at::empty({}, floats) : at::Tensor();
  auto error_of = [&](int64_t next_start_bin, int64_t next_end_bin) {
    if (!on_cpu) {
      return quantization_error_on_device(histogram, src_bin, min_d, max_d, bins, dst_nbins, next_start_bin,
                                          next_end_bin);
    }
    return quantization_error(loops, density.data_ptr<float>(), occupied, bins, min_d, max_d, dst_nbins,
                              next_start_bin, next_end_bin, norm.data_ptr<float>(), norm, norm_sum);
  };

  const double stepsize = kSearchStep;
  double alpha = 0.0, beta = 1.0;
  // beta == beta_table()[beta_step] throughout.
  int64_t beta_step = 0;
  int64_t start_bin = 0, end_bin = bins - 1;
  double norm_min = kInf;
  // Where the scans for l and r stopped, for the masses they were done with.
  // The bins they passed stay passed while the bounds are unchanged and the
  // masses move on in the same direction, so the next scans resume there
  // and stop at the same bins as scans from start_bin / end_bin.
  int64_t l_scanned = start_bin, r_scanned = end_bin;
  float l_mass = -std::numeric_limits<float>::infinity(), r_mass = std::numeric_limits<float>::infinity();
  while (alpha < beta) {
    const double next_alpha = alpha + stepsize;
    const double next_beta = beta - stepsize;
    // `cSum[l] < next_alpha * total` compares a float32 element with a Python
    // float, which ATen converts to float32 first.
    const float alpha_mass = static_cast<float>(next_alpha * total);
    const float beta_mass = static_cast<float>(next_beta * total);
    int64_t l = alpha_mass >= l_mass ? l_scanned : start_bin;
    int64_t r = beta_mass <= r_mass ? r_scanned : end_bin;
    while (l < end_bin && c_sum[l] < alpha_mass) ++l;
    while (r > start_bin && c_sum[r] > beta_mass) --r;
    l_scanned = l;
    l_mass = alpha_mass;
    r_scanned = r;
    r_mass = beta_mass;

    int64_t next_start_bin = start_bin, next_end_bin = end_bin;
    if ((l - start_bin) > (end_bin - r)) {
      next_start_bin = l;
      alpha = next_alpha;
    } else {
      next_end_bin = r;
      beta = next_beta;
      ++beta_step;
    }
    if (next_start_bin == start_bin && next_end_bin == end_bin) {
      // Only l == start_bin and r == end_bin lead here (l > start_bin moves
      // the start). Until r moves, the next iterations find the same l (same
      // alpha) and r, and only lower beta: do just that, then let the loop
      // redo the iteration where r moves.
      const bool r_can_move = end_bin > start_bin;
      const float end_mass = c_sum[end_bin];
      beta_step = last_beta_step(beta_step, alpha, total, r_can_move, end_mass);
      beta = beta_table()[beta_step];
      continue;
    }

    const double norm = error_of(next_start_bin, next_end_bin);
    if (norm > norm_min) break;
    norm_min = norm;
    start_bin = next_start_bin;
    end_bin = next_end_bin;
    l_scanned = start_bin;
    l_mass = -std::numeric_limits<float>::infinity();
    r_scanned = end_bin;
    r_mass = std::numeric_limits<float>::infinity();
  }
  return std::make_tuple(min_val + bin_width * start_bin, min_val + bin_width * (end_bin + 1));
}

std::tuple<at::Tensor, at::Tensor> qparams_from_histogram(const at::Tensor& histogram, const at::Tensor& min_val,
                                                          const at::Tensor& max_val, const at::Tensor& eps,
                                                          int64_t bins, const QParamsSpec& spec) {
  TORCH_CHECK(min_val.numel() == 1 && max_val.numel() == 1,
              "HistogramObserver: min_val and max_val must hold one element each, got shapes ", min_val.sizes(),
              " and ", max_val.sizes());
  if (min_val.item<double>() == kInf && max_val.item<double>() == -kInf) {
    TORCH_WARN("must run observer before calling calculate_qparams. Returning default scale and zero point");
    return unobserved_defaults(min_val);
  }
  TORCH_CHECK(histogram.size(0) == bins, "HistogramObserver: the histogram has ", histogram.size(0),
              " bins, but the observer was configured with bins=", bins);
  at::Tensor new_min, new_max;
  std::tie(new_min, new_max) = histogram_search_range(histogram, min_val, max_val, bins, spec.dtype);
  return qparams_from_min_max(new_min, new_max, eps, spec);
}

}  // namespace observers
}  // namespace torch_pt2e
