// Calibration batches for pt2e_quantize: read from torch.save'd files or
// made up from shapes, and checked against the model's forward signature.
#pragma once

#include <string>
#include <vector>

#include <ATen/core/ivalue.h>
#include <torch/csrc/jit/api/module.h>

namespace torch_pt2e {
namespace cli {

// One forward call's positional inputs.
using Batch = std::vector<c10::IValue>;

// Batches from a torch.save'd file, or from every regular file of a
// directory (sorted by name). A file holds a list/tuple of batches, each a
// tuple/list of inputs or a single tensor; a file holding one tensor is one
// batch. Throws naming the file and what was found otherwise.
std::vector<Batch> load_calibration_data(const std::string& path);

// `batches` batches of standard-normal tensors, one per shape in `shapes`
// (seeded, so runs repeat).
std::vector<Batch> random_calibration_data(const std::vector<std::vector<int64_t>>& shapes, int64_t batches,
                                           uint64_t seed);

// Throws if a batch does not fit `model`'s forward: wrong input count or
// types (from the schema), or forward itself rejecting the first batch.
void check_calibration_data(const torch::jit::Module& model, const std::vector<Batch>& batches);

}  // namespace cli
}  // namespace torch_pt2e
