#include "torch_pt2e_plugin/cli/calibration_data.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <c10/util/Exception.h>
#include <torch/serialize.h>

namespace torch_pt2e {
namespace cli {
namespace {

namespace fs = std::filesystem;

std::string describe(const c10::IValue& value) {
  if (value.isTensor()) {
    std::ostringstream out;
    out << "Tensor" << value.toTensor().sizes();
    return out.str();
  }
  return value.tagKind();
}

std::string describe_batch(const Batch& batch) {
  std::string out;
  for (const auto& value : batch) out += (out.empty() ? "" : ", ") + describe(value);
  return out;
}

Batch as_batch(const c10::IValue& value, const std::string& file, size_t index) {
  if (value.isTensor()) return {value};
  if (value.isTuple()) {
    const auto& elements = value.toTupleRef().elements();
    return Batch(elements.begin(), elements.end());
  }
  if (value.isList()) {
    const auto list = value.toList();
    return Batch(list.begin(), list.end());
  }
  TORCH_CHECK(false, "calibration data ", file, ": batch ", index,
              " must be a tensor or a tuple/list of inputs, got ", describe(value));
}

std::vector<Batch> load_file(const std::string& file) {
  std::ifstream in(file, std::ios::binary);
  TORCH_CHECK(in, "cannot read calibration data file ", file);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  c10::IValue value;
  try {
    value = torch::pickle_load(bytes);
  } catch (const c10::Error& error) {
    TORCH_CHECK(false, "calibration data ", file, " is not a file written by torch.save, or holds something "
                "LibTorch's unpickler cannot read (LibTorch 1.13 reads tensors, tuples, lists and dicts of two "
                "or more items, and numbers): ", error.what_without_backtrace());
  }
  if (value.isTensor()) return {{value}};
  std::vector<c10::IValue> items;
  if (value.isTuple()) {
    const auto& elements = value.toTupleRef().elements();
    items.assign(elements.begin(), elements.end());
  } else if (value.isList()) {
    const auto list = value.toList();
    items.assign(list.begin(), list.end());
  } else {
    TORCH_CHECK(false, "calibration data ", file, " must hold a list/tuple of batches or one tensor, got ",
                describe(value));
  }
  std::vector<Batch> batches;
  for (size_t i = 0; i < items.size(); ++i) batches.push_back(as_batch(items[i], file, i));
  return batches;
}

}  // namespace

std::vector<Batch> load_calibration_data(const std::string& path) {
  TORCH_CHECK(fs::exists(path), "calibration data not found: ", path);
  std::vector<Batch> batches;
  if (fs::is_directory(path)) {
    std::vector<std::string> files;
    for (const auto& entry : fs::directory_iterator(path)) {
      if (entry.is_regular_file()) files.push_back(entry.path().string());
    }
    std::sort(files.begin(), files.end());
    TORCH_CHECK(!files.empty(), "calibration data directory ", path, " has no files");
    for (const auto& file : files) {
      auto more = load_file(file);
      batches.insert(batches.end(), std::make_move_iterator(more.begin()), std::make_move_iterator(more.end()));
    }
  } else {
    batches = load_file(path);
  }
  TORCH_CHECK(!batches.empty(), "calibration data ", path, " holds no batches");
  return batches;
}

std::vector<Batch> random_calibration_data(const std::vector<std::vector<int64_t>>& shapes, int64_t batches,
                                           uint64_t seed) {
  TORCH_CHECK(batches > 0, "--batches must be > 0, got ", batches);
  TORCH_CHECK(!shapes.empty(), "random calibration data needs at least one input shape");
  for (const auto& shape : shapes) {
    for (int64_t size : shape) {
      TORCH_CHECK(size > 0, "--random-input sizes must be > 0, got ", c10::IntArrayRef(shape));
    }
  }
  auto generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  std::vector<Batch> result;
  for (int64_t b = 0; b < batches; ++b) {
    Batch batch;
    for (const auto& shape : shapes) batch.push_back(at::randn(shape, generator));
    result.push_back(std::move(batch));
  }
  return result;
}

void check_calibration_data(const torch::jit::Module& model, const std::vector<Batch>& batches) {
  const auto& schema = model.get_method("forward").function().getSchema();
  const auto& arguments = schema.arguments();
  const size_t most = arguments.size() - 1;  // without self
  size_t least = 0;
  for (size_t i = 1; i < arguments.size(); ++i) least += !arguments[i].default_value().has_value();
  std::ostringstream signature;
  signature << schema;
  for (size_t b = 0; b < batches.size(); ++b) {
    const Batch& batch = batches[b];
    TORCH_CHECK(batch.size() >= least && batch.size() <= most, "calibration batch ", b, " has ", batch.size(),
                " inputs but the model's forward takes ",
                least == most ? std::to_string(most) : std::to_string(least) + " to " + std::to_string(most),
                ": ", signature.str());
    for (size_t i = 0; i < batch.size(); ++i) {
      const auto& argument = arguments[i + 1];
      TORCH_CHECK(batch[i].type()->isSubtypeOf(*argument.type()), "calibration batch ", b, " input ", i, " is ",
                  describe(batch[i]), " but the model's forward expects ", argument.type()->repr_str(), " for '",
                  argument.name(), "'");
    }
  }
  try {
    torch::jit::Module(model).forward(batches.front());
  } catch (const std::exception& error) {
    // TorchScript's interpreter throws std::runtime_error, not c10::Error
    TORCH_CHECK(false, "calibration batch 0 does not fit the model's inputs: the float model's forward(",
                describe_batch(batches.front()), ") failed:\n", error.what());
  }
}

}  // namespace cli
}  // namespace torch_pt2e
