#include "torch_pt2e_plugin/observers/qparams.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
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

// Histograms of the few values a calibration batch gives are mostly empty
// bins: the scans below pass over kZeroBlock of them at once where every
// one is +0 or -0 (== 0.0f; NaN and denormals are not), tested on their
// bits without the sign, read as eight 64-bit words.
constexpr int64_t kZeroBlock = 16;

bool all_zero_block(const float* values) {
  static_assert(sizeof(float) == 4 && kZeroBlock % 2 == 0, "two floats per 64-bit word");
  uint64_t bits = 0;
  for (int64_t i = 0; i < kZeroBlock; i += 2) {
    uint64_t word;
    std::memcpy(&word, values + i, sizeof(word));
    bits |= word;
  }
  return (bits & 0x7fffffff7fffffffULL) == 0;
}

// HistogramObserver._compute_quantization_error for the candidate ranges of
// one search over a CPU histogram. Upstream's tensor expressions are
// elementwise float32 operations (Python floats become float32 operands), so
// one pass over the bins with the same operations in the same order gives the
// same per-bin values (kernels/cpu/histogram_error.h); only the final sum,
// whose order ATen's reduction decides, is left to ATen, and only where the
// order can matter: a NaN term makes the sum NaN in every order, and with at
// most two nonzero terms every order adds the same two numbers. The search
// only compares errors with `>`, so a NaN's payload and a zero's sign do not
// matter.
//
// A bin's error is, as the loops compute it,
//   0 + d * ((h^3 - a^3) / 3) + k * (d * whole_bin_cubes) + d * ((b^3 - (-h)^3) / 3)
// with d its density, h half the destination width, a and b the distances
// from its begin and end to their destination bins' centres and k the
// number of destination bins between. In an empty bin (d = +-0) each term is
// a zero or, where its other factor is not finite, NaN; so the bin gives +0
// (0 + (+-0) is +0) unless a cube overflows, and then NaN.
class CandidateErrors {
 public:
  // `density` is histogram / bin_width (float32, as upstream divides), which
  // does not depend on the candidate range.
  CandidateErrors(const kernels::cpu::HistogramErrorLoops& loops, const float* density, int64_t bins, double min_val,
                  double max_val, int64_t dst_nbins)
      : loops_(loops),
        density_(density),
        bins_(bins),
        min_val_(min_val),
        max_val_(max_val),
        dst_nbins_(dst_nbins),
        whole_(1, std::make_pair(int64_t(0), bins)) {
    // Runs of occupied bins, joined across short gaps: the loops compute the
    // empty bins in between (+0 where they are skipped) for less than the
    // cost of another call.
    constexpr int64_t kJoinedGap = 8;
    bool nan_density = false;
    int64_t first_empty = -1, last_empty = -1;
    for (int64_t i = 0; i < bins; ++i) {
      if (i % kZeroBlock == 0 && i + kZeroBlock <= bins && all_zero_block(density + i)) {
        // Only empty bins: the runs do not change.
        if (first_empty < 0) first_empty = i;
        last_empty = i + kZeroBlock - 1;
        i += kZeroBlock - 1;
        continue;
      }
      const float d = density[i];
      if (d == 0.0f) {
        if (first_empty < 0) first_empty = i;
        last_empty = i;
        continue;
      }
      nan_density = nan_density || std::isnan(d);
      if (!occupied_.empty() && i - occupied_.back().second <= kJoinedGap) {
        occupied_.back().second = i + 1;
      } else {
        occupied_.emplace_back(i, i + 1);
      }
    }
    has_nan_density_ = nan_density;
    first_empty_ = first_empty;
    last_empty_ = last_empty;
  }

  double operator()(int64_t next_start_bin, int64_t next_end_bin) {
    const double bin_width = (max_val_ - min_val_) / static_cast<double>(bins_);
    const double dst_bin_width =
        bin_width * static_cast<double>(next_end_bin - next_start_bin + 1) / static_cast<double>(dst_nbins_);
    if (dst_bin_width == 0.0) return 0.0;
    kernels::cpu::HistogramErrorArgs args;
    args.density = density_;
    args.next_start_bin = next_start_bin;
    args.src_width = static_cast<float>(bin_width);
    args.dst_width = static_cast<float>(dst_bin_width);
    args.half_dst_width = static_cast<float>(dst_bin_width / 2);
    args.minus_half_dst_width = static_cast<float>(-dst_bin_width / 2);
    args.highest = static_cast<float>(dst_nbins_ - 1);
    // _get_norm(tensor(-w/2), tensor(w/2), density) with its 0-d factor first.
    args.whole_bin_cubes = (args.half_dst_width * args.half_dst_width * args.half_dst_width -
                            args.minus_half_dst_width * args.minus_half_dst_width * args.minus_half_dst_width) /
                           3.0f;
    // Every term of a bin's error is a product with its density, so a NaN
    // density makes its bin NaN. The middle term is NaN in every bin when the
    // whole-bin cubes are NaN, and in an empty bin (0 * inf) when they
    // overflow, as they do for destination widths past about 1e13.
    const float whole = args.whole_bin_cubes;
    if (has_nan_density_ || std::isnan(whole) || (std::isinf(whole) && first_empty_ >= 0)) return kNaN;

    // Every distance in a bin's error is at most `bound` (with a factor 2 for
    // rounding). While twice its cube is a finite float, so are the cubes and
    // their differences: an empty bin gives +0.
    const double bound = 2 * (static_cast<double>(bins_ + 1) * std::abs(static_cast<double>(args.src_width)) +
                              static_cast<double>(dst_nbins_ + 1) * std::abs(static_cast<double>(args.dst_width)));
    const bool small_distances = 2 * bound * bound * bound < 1e38;
    float* norm = norm_buffer();
    if (!small_distances) {
      // The bins farthest from the candidate range, where the cubes overflow
      // first (an empty bin's error is then NaN, an occupied one's
      // inf - inf or +-inf): look there before computing more. An empty
      // bin's error is +0 or NaN, so the buffer stays +0 outside the
      // occupied runs unless this returns.
      for (const int64_t bin : {first_empty_, last_empty_, int64_t(0), bins_ - 1}) {
        if (bin < 0) continue;
        loops_.bin_errors(args, bin, bin + 1, norm);
        if (std::isnan(norm[bin])) return kNaN;
      }
    }
    if (small_distances || first_empty_ < 0 || empty_distances_stay_finite(args)) {
      if (!zero_outside_occupied_) {
        std::fill(norm, norm + bins_, 0.0f);
        zero_outside_occupied_ = true;
      }
      for (const auto& run : occupied_) loops_.bin_errors(args, run.first, run.second, norm);
      return sum_of(occupied_);
    }
    zero_outside_occupied_ = false;
    loops_.bin_errors(args, 0, bins_, norm);
    return sum_of(whole_);
  }

 private:
  using Runs = std::vector<std::pair<int64_t, int64_t>>;
  static constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

  // Whether every empty bin's error is +0 for the candidate `p` (the loose
  // bound of operator() having failed): where every quotient begin / w and end / w of the
  // candidate (w = dst_width) is below 2^21 in magnitude, floor_divide gives
  // exactly the floor of the real quotient (fmod is exact; (a - r) / w is
  // within |t| 2^-23 < 1/2 of the integer t = trunc(a / w), and the rounding
  // to an integer after the correction recovers floor(a / w)). A bin whose
  // begin falls inside the destination range, begin in [q w, (q + 1) w),
  // then has |a| <= (w / 2 + n w 2^-24)(1 + 2^-24) (n destination bins, centre
  // (q + 0.5) w rounded once), and likewise b with centre q w + h. Bins left
  // of the range have the centre of bin 0, so a = begin - w/2 grows with the
  // bin and is smallest at the first empty bin; bins right of it have the
  // last bin's centre, so a is largest at the last empty bin; the same for b.
  // The cube terms are monotonic in a and b, so finite at the extremes means
  // finite in between.
  bool empty_distances_stay_finite(const kernels::cpu::HistogramErrorArgs& p) const {
    const float s = p.src_width, w = p.dst_width, h = p.half_dst_width, mh = p.minus_half_dst_width;
    if (!(s > 0.0f && w > 0.0f && h > 0.0f && std::isfinite(s) && std::isfinite(w) && std::isfinite(h)) ||
        bins_ >= (int64_t(1) << 24)) {
      return false;
    }
    const double farthest = static_cast<double>(std::max(p.next_start_bin, bins_ - p.next_start_bin));
    if (!(farthest * s / w < 2097152.0)) return false;  // 2^21, with room for rounding
    // The loops' own float32 expressions at the first and last empty bins.
    const float begin_first = static_cast<float>(first_empty_ - p.next_start_bin) * s;
    const float begin_last = static_cast<float>(last_empty_ - p.next_start_bin) * s;
    const float a_left = begin_first - (0.0f + 0.5f) * w;
    const float a_right = begin_last - (p.highest + 0.5f) * w;
    const float b_left = (begin_first + s) - (0.0f * w + h);
    const float b_right = (begin_last + s) - (p.highest * w + h);
    constexpr double kUlp = 1.0 / 16777216.0;  // 2^-24, float32's relative rounding
    const double n = static_cast<double>(dst_nbins_);
    const double a_inside = (0.5 * w + n * w * kUlp) * (1 + kUlp);
    const double b_inside = (std::max<double>(h, static_cast<double>(w) - h) + 2 * kUlp * (n * w + h)) * (1 + kUlp);
    const float a_max = float_at_least(std::max({std::fabs(static_cast<double>(a_left)),
                                                 std::fabs(static_cast<double>(a_right)), a_inside}));
    const float b_max = float_at_least(std::max({std::fabs(static_cast<double>(b_left)),
                                                 std::fabs(static_cast<double>(b_right)), b_inside}));
    auto begin_cubes = [&](float a) { return h * h * h - a * a * a; };
    auto end_cubes = [&](float b) { return b * b * b - mh * mh * mh; };
    return std::isfinite(begin_cubes(-a_max)) && std::isfinite(begin_cubes(a_max)) &&
           std::isfinite(end_cubes(-b_max)) && std::isfinite(end_cubes(b_max));
  }

  // The least float32 at or above v (inf past the largest float).
  static float float_at_least(double v) {
    if (!(v <= static_cast<double>(std::numeric_limits<float>::max()))) return std::numeric_limits<float>::infinity();
    const float f = static_cast<float>(v);
    return static_cast<double>(f) < v ? std::nextafter(f, std::numeric_limits<float>::infinity()) : f;
  }

  // The errors' buffer, taken at the first candidate that needs it. The
  // buffers are kept per thread for the next search (one search runs at a
  // time in a thread): convert searches once per HistogramObserver.
  float* norm_buffer() {
    if (!norm_.defined()) {
      thread_local at::Tensor kept_norm, kept_sum;
      if (!kept_norm.defined() || kept_norm.numel() != bins_) {
        kept_norm = at::empty({bins_}, at::TensorOptions().dtype(at::kFloat));
      }
      if (!kept_sum.defined()) kept_sum = at::empty({}, at::TensorOptions().dtype(at::kFloat));
      norm_ = kept_norm;
      sum_ = kept_sum;
    }
    return norm_.data_ptr<float>();
  }

  // The sum of the errors' buffer, all +0 outside `runs`.
  double sum_of(const Runs& runs) {
    const float* norm = norm_.data_ptr<float>();
    int64_t nonzero = 0;
    float terms[2] = {0.0f, 0.0f};
    for (const auto& run : runs) {
      for (int64_t i = run.first; i < run.second; ++i) {
        const float v = norm[i];
        if (std::isnan(v)) return kNaN;
        if (v != 0.0f) {
          if (nonzero < 2) terms[nonzero] = v;
          ++nonzero;
        }
      }
    }
    // Adding a zero to x != 0 gives x: every order of the additions comes
    // down to terms[0] + terms[1] (a zero result's sign aside).
    if (nonzero <= 2) return static_cast<double>(terms[0] + terms[1]);
    // Over dim 0: for a 1-d tensor the same reduction as upstream's
    // norm.sum() (one TensorIterator over the one dimension), without the
    // all-dims overload's temporary and copy into `out`.
    static const int64_t kDims[1] = {0};
    at::sum_out(sum_, norm_, at::IntArrayRef(kDims, 1), /*keepdim=*/false);
    return static_cast<double>(*sum_.data_ptr<float>());
  }

  const kernels::cpu::HistogramErrorLoops& loops_;
  const float* density_;
  const int64_t bins_;
  const double min_val_, max_val_;
  const int64_t dst_nbins_;
  Runs occupied_;
  const Runs whole_;  // {0, bins}
  bool has_nan_density_ = false;
  int64_t first_empty_ = -1, last_empty_ = -1;  // -1: no empty bin
  at::Tensor norm_;  // float32 [bins]
  at::Tensor sum_;   // float32 0-d
  // Whether norm_ holds +0 wherever no occupied run is (filled once, kept
  // while only the runs are written).
  bool zero_outside_occupied_ = false;
};

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
// not negative), so the first step where one fails is found by search;
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
  if (stops(j)) return j;
  // Galloping from j (the stop is often near, and the table is 800 KB), then
  // bisection between the last step that does not stop and one that does.
  int64_t lo = j, hi = j;  // !stops(lo)
  for (int64_t reach = 1;; reach *= 2) {
    hi = std::min(last, j + reach);  // stops(last): beta[last] < 0 <= alpha
    if (stops(hi)) break;
    lo = hi;
  }
  while (hi - lo > 1) {
    const int64_t mid = lo + (hi - lo) / 2;
    if (stops(mid)) {
      hi = mid;
    } else {
      lo = mid;
    }
  }
  return hi;
}

// The histogram's total and cumulative sums (float32, as at::sum and
// at::cumsum give them) when every count is an integer and their magnitudes
// add up to at most 2^24: then every partial sum, whatever order ATen adds
// in, is an integer that float32 holds exactly, so ATen's sums are these.
// Histograms of one batch are such counts. false otherwise. `sorted` says
// whether the sums never decrease (no negative count).
bool exact_sums(const float* histogram, int64_t bins, float* cumulative, double* total, bool* sorted) {
  constexpr int64_t kExactLimit = int64_t(1) << 24;
  int64_t running = 0, magnitude = 0;
  bool negative = false;
  float running_float = 0.0f;
  for (int64_t i = 0; i < bins; ++i) {
    if (i % kZeroBlock == 0 && i + kZeroBlock <= bins && all_zero_block(histogram + i)) {
      std::fill(cumulative + i, cumulative + i + kZeroBlock, running_float);
      i += kZeroBlock - 1;
      continue;
    }
    const float count = histogram[i];
    if (count != 0.0f) {
      if (!(std::fabs(count) <= static_cast<float>(kExactLimit))) return false;  // NaN and inf too
      const int64_t whole = static_cast<int64_t>(count);
      if (static_cast<float>(whole) != count) return false;
      running += whole;
      magnitude += whole < 0 ? -whole : whole;
      negative = negative || whole < 0;
      running_float = static_cast<float>(running);
    }
    cumulative[i] = running_float;
  }
  if (magnitude > kExactLimit) return false;
  *total = static_cast<double>(running);
  *sorted = !negative;
  return true;
}

// Whether the cumulative sums never decrease (no NaN): then upstream's
// linear scans for l and r (below) stop where a bisection does.
bool non_decreasing(const float* c_sum, int64_t bins) {
  for (int64_t i = 0; i + 1 < bins; ++i) {
    if (!(c_sum[i] <= c_sum[i + 1])) return false;
  }
  return bins == 0 || !std::isnan(c_sum[0]);
}

// Upstream's `l = start_bin; while l < end_bin and cSum[l] < mass: l += 1`.
int64_t scan_left(const float* c_sum, int64_t start_bin, int64_t end_bin, float mass, bool sorted) {
  if (sorted) {
    return std::partition_point(c_sum + start_bin, c_sum + end_bin, [mass](float v) { return v < mass; }) - c_sum;
  }
  int64_t l = start_bin;
  while (l < end_bin && c_sum[l] < mass) ++l;
  return l;
}

// Upstream's `r = end_bin; while r > start_bin and cSum[r] > mass: r -= 1`.
int64_t scan_right(const float* c_sum, int64_t start_bin, int64_t end_bin, float mass, bool sorted) {
  if (sorted && end_bin > start_bin) {
    return std::partition_point(c_sum + start_bin + 1, c_sum + end_bin + 1, [mass](float v) { return !(v > mass); }) -
           c_sum - 1;
  }
  int64_t r = end_bin;
  while (r > start_bin && c_sum[r] > mass) --r;
  return r;
}

// HistogramObserver._non_linear_param_search's loop over the cumulative sums
// `c_sum` (float32, upstream's cSum; non-decreasing if `sorted`) of a
// histogram with `bins` bins adding up to `total`;
// error_of(next_start_bin, next_end_bin) is a candidate range's
// quantization error. Returns the bins [start_bin, end_bin] of the
// range the search settles on.
template <typename ErrorOf>
std::pair<int64_t, int64_t> search_bins(const float* c_sum, bool sorted, double total, int64_t bins,
                                        ErrorOf& error_of) {
  const double stepsize = kSearchStep;
  double alpha = 0.0, beta = 1.0;
  // beta == beta_table()[beta_step] throughout.
  int64_t beta_step = 0;
  int64_t start_bin = 0, end_bin = bins - 1;
  double norm_min = kInf;
  while (alpha < beta) {
    const double next_alpha = alpha + stepsize;
    const double next_beta = beta - stepsize;
    // `cSum[l] < next_alpha * total` compares a float32 element with a Python
    // float, which ATen converts to float32 first.
    const int64_t l = scan_left(c_sum, start_bin, end_bin, static_cast<float>(next_alpha * total), sorted);
    const int64_t r = scan_right(c_sum, start_bin, end_bin, static_cast<float>(next_beta * total), sorted);

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
  }
  return std::make_pair(start_bin, end_bin);
}

bool is_cpu_float(const at::Tensor& t) { return t.device().is_cpu() && t.scalar_type() == at::kFloat; }

// min_val / max_val as HistogramObserver keeps them: 0-d float32 on the CPU.
bool is_cpu_float_scalar(const at::Tensor& t) { return is_cpu_float(t) && t.dim() == 0; }

// The value of a one-element tensor as a double (float32 values exactly).
double value_of(const at::Tensor& t) {
  return is_cpu_float(t) && t.numel() == 1 ? static_cast<double>(*t.data_ptr<float>()) : t.item<double>();
}

// The bins [start, end] _non_linear_param_search settles on.
std::pair<int64_t, int64_t> search_histogram_bins(const at::Tensor& histogram, const at::Tensor& min_val,
                                                  const at::Tensor& max_val, int64_t bins, at::ScalarType dtype,
                                                  const kernels::cpu::HistogramErrorLoops& loops) {
  TORCH_CHECK(histogram.dim() == 1 && histogram.size(0) == bins, "HistogramObserver: the histogram has shape ",
              histogram.sizes(), ", expected [", bins, "] (bins)");
  TORCH_CHECK(histogram.scalar_type() == at::kFloat, "HistogramObserver: the histogram must be float32, got ",
              histogram.scalar_type());
  const int64_t dst_nbins = int64_t(1) << quant_dtype_bits(dtype);
  const double min_d = value_of(min_val), max_d = value_of(max_val);
  if (!histogram.device().is_cpu()) {
    const double total = at::sum(histogram).item<double>();
    const at::Tensor cumulative = at::cumsum(histogram, 0).to(at::kCPU).contiguous();
    const at::Tensor src_bin = at::arange(bins, at::TensorOptions().dtype(at::kLong).device(histogram.device()));
    auto error_of = [&](int64_t next_start_bin, int64_t next_end_bin) {
      return quantization_error_on_device(histogram, src_bin, min_d, max_d, bins, dst_nbins, next_start_bin,
                                          next_end_bin);
    };
    const float* c_sum = cumulative.data_ptr<float>();
    return search_bins(c_sum, non_decreasing(c_sum, bins), total, bins, error_of);
  }
  const at::Tensor counts = histogram.contiguous();
  const float* count = counts.data_ptr<float>();
  // (uninitialized: exact_sums or the copy below, and divide_run, write every element)
  std::unique_ptr<float[]> buffer(new float[static_cast<size_t>(2 * bins)]);
  float* cumulative = buffer.get();
  float* density = buffer.get() + bins;
  double total = 0.0;
  bool sorted = false;
  if (!exact_sums(count, bins, cumulative, &total, &sorted)) {
    total = at::sum(counts).item<double>();
    const at::Tensor sums = at::cumsum(counts, 0);
    std::copy(sums.data_ptr<float>(), sums.data_ptr<float>() + bins, cumulative);
    sorted = non_decreasing(cumulative, bins);
  }
  // Upstream's `histogram / bin_width` divides by the Python float converted
  // to float32, one IEEE division per bin.
  loops.divide_run(count, static_cast<float>((max_d - min_d) / static_cast<double>(bins)), bins, density);
  CandidateErrors error_of(loops, density, bins, min_d, max_d, dst_nbins);
  return search_bins(cumulative, sorted, total, bins, error_of);
}

// Upstream's `min_val + bin_width * k` with bin_width = (max_val - min_val)
// / bins, for 0-d float32 min_val and max_val on the CPU: each ATen op is one
// float32 operation (integers converted to float32 first; the build does not
// fuse multiply and add).
float bin_edge(float min_val, float max_val, int64_t bins, int64_t k) {
  const float bin_width = (max_val - min_val) / static_cast<float>(bins);
  return min_val + bin_width * static_cast<float>(k);
}

int64_t symmetric_zero_point(const QParamsSpec& spec) {
  if (spec.dtype == at::kQUInt8 || spec.dtype == at::kByte) {
    return spec.has_customized_qrange ? floor_div2(spec.quant_min + spec.quant_max) : 128;
  }
#if (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 3) || TORCH_VERSION_MAJOR > 2
  if (spec.dtype == at::kUInt16) return int64_t(1) << 15;
#endif
  return 0;
}

bool fits_int32(int64_t v) {
  return v >= std::numeric_limits<int32_t>::min() && v <= std::numeric_limits<int32_t>::max();
}

// One element of qparams_with_aten (below) on floats, for float32
// statistics and a positive finite float32 eps: each of its ATen ops is one
// IEEE operation per element (a Python float divisor is converted to
// float32 first). min(v, 0) and max(v, 0) may differ from ATen's minimum and
// maximum in the sign of a zero, which never reaches the results: a zero
// scale becomes eps, a zero numerator gives the zero point's offset 0.
// Returns false where the tensor path is left to decide: min_val > max_val or
// NaN (it throws), a scale that is not finite, a zero point outside int32.
bool element_qparams(float min_val, float max_val, float eps, const QParamsSpec& spec, float* scale,
                     int64_t* zero_point) {
  if (!(min_val <= max_val)) return false;
  const float min_neg = min_val < 0.0f ? min_val : 0.0f;
  const float max_pos = max_val > 0.0f ? max_val : 0.0f;
  const int64_t range = spec.quant_max - spec.quant_min;
  if (is_symmetric(spec.qscheme)) {
    const float s = std::max(-min_neg, max_pos) / static_cast<float>(static_cast<double>(range) / 2);
    if (!std::isfinite(s)) return false;
    *scale = std::max(s, eps);
    *zero_point = symmetric_zero_point(spec);
    return true;
  }
  float s = (max_pos - min_neg) / static_cast<float>(static_cast<double>(range));
  if (!std::isfinite(s)) return false;
  s = std::max(s, eps);
  // round(min_neg / scale).to(int32), then quant_min - it (int32), clamped.
  const float rounded = std::nearbyint(min_neg / s);  // <= 0
  if (!(rounded >= -2147483648.0f)) return false;
  const int64_t zp = spec.quant_min - static_cast<int64_t>(static_cast<int32_t>(rounded));
  if (!fits_int32(zp)) return false;
  *scale = s;
  *zero_point = std::min(std::max(zp, spec.quant_min), spec.quant_max);
  return true;
}

// qparams_from_min_max for float32 statistics of one element (0-d, as
// per-tensor observers keep them) or one per channel (1-d) on the CPU, with a
// [1] float32 eps: element_qparams on each element, straight into tensors of
// the tensor path's dtypes and shapes (0-d statistics give [1]). nullopt
// where that does not apply or an element is left to the tensor path.
c10::optional<std::tuple<at::Tensor, at::Tensor>> qparams_on_cpu(const float* min_val, const float* max_val,
                                                                 int64_t n, int64_t dim, float eps,
                                                                 const QParamsSpec& spec) {
  if (n < 1 || dim > 1 || !(eps > 0.0f && std::isfinite(eps)) || spec.qscheme == c10::kPerChannelAffineFloatQParams) {
    return c10::nullopt;
  }
  const bool symmetric = is_symmetric(spec.qscheme);
  if (!symmetric && !(fits_int32(spec.quant_min) && fits_int32(spec.quant_max))) return c10::nullopt;
  at::Tensor scale = at::empty({n}, at::TensorOptions().dtype(at::kFloat));
  at::Tensor zero_point = at::empty({n}, at::TensorOptions().dtype(symmetric ? at::kLong : at::kInt));
  float* s = scale.data_ptr<float>();
  for (int64_t i = 0; i < n; ++i) {
    int64_t zp = 0;
    if (!element_qparams(min_val[i], max_val[i], eps, spec, &s[i], &zp)) return c10::nullopt;
    if (symmetric) {
      zero_point.data_ptr<int64_t>()[i] = zp;
    } else {
      zero_point.data_ptr<int32_t>()[i] = static_cast<int32_t>(zp);
    }
  }
  return std::make_tuple(scale, zero_point);
}

// An eps buffer as the observers keep it: [1] float32 on the CPU.
bool is_cpu_eps(const at::Tensor& eps) { return is_cpu_float(eps) && eps.dim() == 1 && eps.numel() == 1; }

}  // namespace

QParamsSpec qparams_spec(int64_t quant_min, int64_t quant_max, at::ScalarType dtype, int64_t qscheme,
                         bool has_customized_qrange) {
  TORCH_CHECK(qscheme >= 0 && qscheme <= static_cast<int64_t>(c10::kPerChannelAffineFloatQParams),
              "observer qparams: qscheme must be a torch.qscheme value in [0, ",
              static_cast<int64_t>(c10::kPerChannelAffineFloatQParams), "], got ", qscheme);
  return {quant_min, quant_max, dtype, static_cast<c10::QScheme>(qscheme), has_customized_qrange};
}

std::tuple<at::Tensor, at::Tensor> qparams_from_min_max(const at::Tensor& min_val, const at::Tensor& max_val,
                                                        const at::Tensor& eps, const QParamsSpec& spec) {
  TORCH_CHECK(eps.numel() == 1, "calculate_qparams: eps must hold one element, got shape ", eps.sizes());
  if (is_cpu_float(min_val) && is_cpu_float(max_val) && min_val.sizes() == max_val.sizes() && is_cpu_eps(eps) &&
      min_val.is_contiguous() && max_val.is_contiguous()) {
    auto qparams = qparams_on_cpu(min_val.data_ptr<float>(), max_val.data_ptr<float>(), min_val.numel(),
                                  min_val.dim(), *eps.data_ptr<float>(), spec);
    if (qparams) return *qparams;
  }
  return qparams_with_aten(min_val, max_val, eps, spec);
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
  const auto range = search_histogram_bins(histogram, min_val, max_val, bins, dtype, loops);
  if (is_cpu_float_scalar(min_val) && is_cpu_float_scalar(max_val)) {
    const float min_f = *min_val.data_ptr<float>(), max_f = *max_val.data_ptr<float>();
    const auto floats = at::TensorOptions().dtype(at::kFloat);
    return std::make_tuple(at::scalar_tensor(bin_edge(min_f, max_f, bins, range.first), floats),
                           at::scalar_tensor(bin_edge(min_f, max_f, bins, range.second + 1), floats));
  }
  const at::Tensor bin_width = (max_val - min_val) / bins;
  return std::make_tuple(min_val + bin_width * range.first, min_val + bin_width * (range.second + 1));
}

std::vector<double> histogram_candidate_errors(const at::Tensor& histogram, double min_val, double max_val,
                                               int64_t dst_nbins,
                                               const std::vector<std::pair<int64_t, int64_t>>& candidates,
                                               const kernels::cpu::HistogramErrorLoops& loops) {
  TORCH_CHECK(histogram.dim() == 1 && histogram.device().is_cpu() && histogram.scalar_type() == at::kFloat,
              "histogram_candidate_errors: expected a 1-d float32 CPU histogram, got ", histogram.sizes(), " ",
              histogram.scalar_type(), " on ", histogram.device());
  const at::Tensor counts = histogram.contiguous();
  const int64_t bins = counts.size(0);
  std::vector<float> density(static_cast<size_t>(bins));
  loops.divide_run(counts.data_ptr<float>(), static_cast<float>((max_val - min_val) / static_cast<double>(bins)), bins,
                   density.data());
  CandidateErrors error_of(loops, density.data(), bins, min_val, max_val, dst_nbins);
  std::vector<double> errors;
  for (const auto& candidate : candidates) errors.push_back(error_of(candidate.first, candidate.second));
  return errors;
}

std::tuple<at::Tensor, at::Tensor> qparams_from_histogram(const at::Tensor& histogram, const at::Tensor& min_val,
                                                          const at::Tensor& max_val, const at::Tensor& eps,
                                                          int64_t bins, const QParamsSpec& spec) {
  TORCH_CHECK(min_val.numel() == 1 && max_val.numel() == 1,
              "HistogramObserver: min_val and max_val must hold one element each, got shapes ", min_val.sizes(),
              " and ", max_val.sizes());
  if (value_of(min_val) == kInf && value_of(max_val) == -kInf) {
    TORCH_WARN("must run observer before calling calculate_qparams. Returning default scale and zero point");
    return unobserved_defaults(min_val);
  }
  TORCH_CHECK(histogram.size(0) == bins, "HistogramObserver: the histogram has ", histogram.size(0),
              " bins, but the observer was configured with bins=", bins);
  if (is_cpu_float_scalar(min_val) && is_cpu_float_scalar(max_val) && is_cpu_eps(eps)) {
    const auto range = search_histogram_bins(histogram, min_val, max_val, bins, spec.dtype,
                                             kernels::cpu::histogram_error_loops());
    const float min_f = *min_val.data_ptr<float>(), max_f = *max_val.data_ptr<float>();
    const float new_min = bin_edge(min_f, max_f, bins, range.first);
    const float new_max = bin_edge(min_f, max_f, bins, range.second + 1);
    auto qparams = qparams_on_cpu(&new_min, &new_max, 1, 0, *eps.data_ptr<float>(), spec);
    if (qparams) return *qparams;
    const auto floats = at::TensorOptions().dtype(at::kFloat);
    return qparams_with_aten(at::scalar_tensor(new_min, floats), at::scalar_tensor(new_max, floats), eps, spec);
  }
  at::Tensor new_min, new_max;
  std::tie(new_min, new_max) = histogram_search_range(histogram, min_val, max_val, bins, spec.dtype);
  return qparams_from_min_max(new_min, new_max, eps, spec);
}

std::tuple<at::Tensor, at::Tensor> qparams_with_aten(const at::Tensor& min_val, const at::Tensor& max_val,
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

}  // namespace observers
}  // namespace torch_pt2e
