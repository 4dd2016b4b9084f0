// calculate_qparams of the observers: scale and zero point from recorded
// statistics, reproducing upstream's tensor arithmetic step by step
// (torch/ao/quantization/observer.py, torch 2.6), so the results are
// bit-identical in value, dtype and shape:
//  * per_tensor/per_channel affine: scale float32, zero point int32;
//  * symmetric: scale float32, zero point int64 (128 for quint8/uint8, the
//    midpoint of a customized range, 2^15 for uint16, else 0);
//  * per_channel_affine_float_qparams: scale and zero point float32;
//  * nothing recorded yet: ([1.0] float32, [0] int64), with a warning.
// Per-tensor results have shape [1], per-channel ones [channels].
#pragma once

#include <cstdint>
#include <tuple>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>
#include <c10/core/QScheme.h>
#include <c10/core/ScalarType.h>

namespace torch_pt2e {
namespace kernels {
namespace cpu {
struct HistogramErrorLoops;
}  // namespace cpu
}  // namespace kernels

namespace observers {

// The quantization range and scheme the parameters are computed for.
struct QParamsSpec {
  int64_t quant_min;
  int64_t quant_max;
  at::ScalarType dtype;  // as configured (quint8 or uint8, ...)
  c10::QScheme qscheme;
  bool has_customized_qrange;
};

// The spec for the observer attributes of those names (qscheme as the
// torch.qscheme's integer value, checked).
QParamsSpec qparams_spec(int64_t quant_min, int64_t quant_max, at::ScalarType dtype, int64_t qscheme,
                         bool has_customized_qrange);

// UniformQuantizationObserverBase._calculate_qparams. `eps` is the
// observer's 1-element float32 eps buffer. Throws when a minimum exceeds its
// maximum (NaN statistics included). Float32 statistics on the CPU are
// computed on floats, element by element, with the same float32 operations as
// the tensor arithmetic of qparams_with_aten (used for everything else).
std::tuple<at::Tensor, at::Tensor> qparams_from_min_max(const at::Tensor& min_val, const at::Tensor& max_val,
                                                        const at::Tensor& eps, const QParamsSpec& spec);
// The same through ATen's tensor operations only, as upstream computes it;
// tests compare the two.
std::tuple<at::Tensor, at::Tensor> qparams_with_aten(const at::Tensor& min_val, const at::Tensor& max_val,
                                                     const at::Tensor& eps, const QParamsSpec& spec);

// HistogramObserver._non_linear_param_search: the range [new_min, new_max]
// (0-d float32) whose quantization to 2^bits(dtype) levels has the least L2
// error, found greedily by trimming the histogram's tails.
std::tuple<at::Tensor, at::Tensor> histogram_search_range(const at::Tensor& histogram, const at::Tensor& min_val,
                                                          const at::Tensor& max_val, int64_t bins,
                                                          at::ScalarType dtype);
// The same with a given variant of the per-bin error loops (the one above
// uses the running CPU's); tests compare the variants.
std::tuple<at::Tensor, at::Tensor> histogram_search_range(const at::Tensor& histogram, const at::Tensor& min_val,
                                                          const at::Tensor& max_val, int64_t bins,
                                                          at::ScalarType dtype,
                                                          const kernels::cpu::HistogramErrorLoops& loops);

// HistogramObserver._compute_quantization_error of each candidate range
// [first, second] of a float32 histogram on the CPU over [min_val, max_val],
// computed one after another as the search computes them (shortcuts and
// reused buffers included); tests compare them with upstream's expressions.
// A NaN error comes back as some NaN, a zero as a zero of either sign (the
// search only compares errors).
std::vector<double> histogram_candidate_errors(const at::Tensor& histogram, double min_val, double max_val,
                                               int64_t dst_nbins,
                                               const std::vector<std::pair<int64_t, int64_t>>& candidates,
                                               const kernels::cpu::HistogramErrorLoops& loops);

// HistogramObserver.calculate_qparams.
std::tuple<at::Tensor, at::Tensor> qparams_from_histogram(const at::Tensor& histogram, const at::Tensor& min_val,
                                                          const at::Tensor& max_val, const at::Tensor& eps,
                                                          int64_t bins, const QParamsSpec& spec);

}  // namespace observers
}  // namespace torch_pt2e
