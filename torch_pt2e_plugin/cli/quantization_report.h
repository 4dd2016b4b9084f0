// What pt2e_quantize reports about a converted model: every quantized op
// with its module path and quantization parameters, and how far its output
// is from the float model's (SQNR on the calibration data).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/csrc/jit/api/module.h>

#include "torch_pt2e_plugin/cli/calibration_data.h"

namespace torch_pt2e {
namespace cli {

// Signal-to-quantization-noise ratio accumulated over batches:
// 10 log10(sum f^2 / sum (f - q)^2); +inf when the outputs are equal.
class SqnrAccumulator {
 public:
  void add(const at::Tensor& reference, const at::Tensor& quantized);
  double db() const;

 private:
  double signal_ = 0;
  double noise_ = 0;
};

// One entry per quantized op of `converted` (an op at the top level of
// forward reading a dequantized input), in graph order:
// {"op", "module", "input": {"scale", "zero_point"}, "weight": ... or null,
//  "output": ... or null, "sqnr_db"}. Scales and zero points are numbers,
// {"channels", "min", "max"} per channel, or "dynamic". The SQNR compares
// the op's output with the same op of `prepared` (observers bypassed) on
// `batches`. `converted` must come from convert_pt2e(prepared) without the
// reference representation, which rewrites the ops themselves.
// When `converted_outputs` is given, it receives the tensors `converted`
// returns for each batch (flattened), taken from the same runs.
nlohmann::json quantized_ops_report(const torch::jit::Module& prepared, const torch::jit::Module& converted,
                                    const std::vector<Batch>& batches,
                                    std::vector<std::vector<at::Tensor>>* converted_outputs = nullptr);

// SQNR of every tensor output of `quantized` against `reference` on `batches`.
double model_sqnr_db(const torch::jit::Module& reference, const torch::jit::Module& quantized,
                     const std::vector<Batch>& batches);

// The same, with the quantized model's outputs already computed for each
// batch (as quantized_ops_report's `converted_outputs`).
double model_sqnr_db(const torch::jit::Module& reference, const std::vector<std::vector<at::Tensor>>& quantized_outputs,
                     const std::vector<Batch>& batches);

// A fixed-width text table of the report (the JSON written by --report-json).
std::string format_report(const nlohmann::json& report);

}  // namespace cli
}  // namespace torch_pt2e
