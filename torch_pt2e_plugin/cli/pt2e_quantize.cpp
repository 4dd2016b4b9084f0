// pt2e_quantize: post-training quantization of a saved TorchScript model
// with the PT2E flow and the XNNPACK quantizer, from the command line.
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <memory>
#include <set>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <c10/util/Exception.h>
#include <nlohmann/json.hpp>
#include <torch/script.h>

#include "torch_pt2e_plugin/cli/calibration_data.h"
#include "torch_pt2e_plugin/cli/quantization_report.h"
#include "torch_pt2e_plugin/flow/quantize_pt2e.h"
#include "torch_pt2e_plugin/ops/library.h"
#include "torch_pt2e_plugin/passes/reference_representation.h"
#include "torch_pt2e_plugin/passes/graph_utils.h"
#include "torch_pt2e_plugin/quantizer/quantization_config.h"
#include "torch_pt2e_plugin/quantizer/xnnpack_quantizer.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using torch_pt2e::cli::Batch;

struct Options {
  std::string model;
  std::string calibration;
  std::vector<std::string> random_inputs;
  int64_t batches = 8;
  uint64_t seed = 0;
  bool per_tensor = false;
  bool per_channel = false;
  bool dynamic = false;
  std::vector<std::string> skip_modules;
  bool reference_representation = false;
  std::string reference_numerics = "upstream";
  bool no_fold = false;
  std::string output;
  std::string report_json;
};

class Stopwatch {
 public:
  double lap() {
    const auto now = std::chrono::steady_clock::now();
    const double seconds = std::chrono::duration<double>(now - start_).count();
    start_ = now;
    return seconds;
  }

 private:
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

std::vector<int64_t> parse_shape(const std::string& text) {
  std::vector<int64_t> shape;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    size_t used = 0;
    int64_t size = -1;
    try {
      size = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    TORCH_CHECK(used == item.size() && !item.empty() && size > 0, "--random-input expects positive sizes "
                "separated by commas (e.g. 1,3,224,224), got '", text, "'");
    shape.push_back(size);
  }
  TORCH_CHECK(!shape.empty(), "--random-input expects a shape such as 1,3,224,224, got '", text, "'");
  return shape;
}

torch::jit::Module load_model(const std::string& path) {
  TORCH_CHECK(fs::exists(path), "model file not found: ", path);
  TORCH_CHECK(!fs::is_directory(path), "model path is a directory, expected a file written by torch.jit.save: ",
              path);
  torch::jit::Module model;
  try {
    model = torch::jit::load(path);
  } catch (const c10::Error& error) {
    std::string reason = error.what_without_backtrace();
    reason = reason.substr(0, reason.find('\n'));
    TORCH_CHECK(false, path, " is not a TorchScript model (a file written by torch.jit.save or "
                "torch::jit::Module::save): ", reason);
  }
  TORCH_CHECK(model.find_method("forward"), "the TorchScript model ", path, " has no forward method");
  model.eval();
  return model;
}

// Counts what is written to it and keeps nothing.
class ByteCounter : public std::streambuf {
 public:
  int64_t bytes() const { return bytes_; }

 protected:
  std::streamsize xsputn(const char*, std::streamsize count) override {
    bytes_ += count;
    return count;
  }
  int_type overflow(int_type character) override {
    if (!traits_type::eq_int_type(character, traits_type::eof())) ++bytes_;
    return traits_type::not_eof(character);
  }

 private:
  int64_t bytes_ = 0;
};

// Serialized size, as torch.jit.save writes it (not kept: a string of it
// would be copied each time it grows).
int64_t serialized_bytes(const torch::jit::Module& model) {
  ByteCounter counter;
  std::ostream out(&counter);
  model.save(out);
  return counter.bytes();
}

// A temporary file next to `target`, renamed onto it by commit(); removed if
// never committed, so a failed run leaves nothing half-written.
class PendingFile {
 public:
  explicit PendingFile(const std::string& target) : target_(target) {
    const fs::path path(target);
    const fs::path dir = path.has_parent_path() ? path.parent_path() : fs::path(".");
    TORCH_CHECK(fs::is_directory(dir), "output directory does not exist: ", dir.string(), " (for ", target, ")");
    TORCH_CHECK(!fs::is_directory(path), "output path is a directory, expected a file name: ", target);
    temp_ = (dir / ("." + path.filename().string() + ".tmp-" + std::to_string(getpid()))).string();
  }
  ~PendingFile() {
    if (!committed_) {
      std::error_code ignored;
      fs::remove(temp_, ignored);
    }
  }
  const std::string& temp() const { return temp_; }
  void commit() {
    fs::rename(temp_, target_);
    committed_ = true;
  }

 private:
  std::string target_;
  std::string temp_;
  bool committed_ = false;
};

std::string format_seconds(double seconds) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.1f s", seconds);
  return text;
}

void check_skip_modules(const torch::jit::Module& model, const std::vector<std::string>& names) {
  std::set<std::string> known;
  for (const auto& item : model.named_modules()) {
    if (!item.name.empty()) known.insert(item.name);
  }
  for (const auto& name : names) {
    if (known.count(name)) continue;
    std::string some;
    int listed = 0;
    for (auto it = known.begin(); it != known.end() && listed < 12; ++it, ++listed) some += (listed ? ", " : "") + *it;
    TORCH_CHECK(false, "--skip-module '", name, "': the model has no submodule of that name (submodules: ",
                some.empty() ? "none" : some, known.size() > 12 ? ", ..." : "", ")");
  }
}

// True if `value` comes from inside (or is read from) one of the modules.
bool in_skipped_module(torch::jit::Value* value, const std::vector<std::string>& names) {
  for (const auto& frame : torch_pt2e::passes::module_stack(value->node())) {
    for (const auto& name : names) {
      if (frame.first == name || frame.first.rfind(name + ".", 0) == 0) return true;
    }
  }
  return false;
}

int run(const Options& options) {
  TORCH_CHECK(!(options.dynamic && options.reference_representation),
              "--dynamic cannot be combined with --reference-representation: the reference representation "
              "covers statically quantized ops only");
  TORCH_CHECK(options.calibration.empty() != options.random_inputs.empty(),
              "give calibration data: either --calibration PATH or --random-input SHAPE");
  PendingFile model_file(options.output);
  std::unique_ptr<PendingFile> report_file;
  if (!options.report_json.empty()) report_file = std::make_unique<PendingFile>(options.report_json);

  json seconds = json::object();
  Stopwatch clock;
  torch::jit::Module model = load_model(options.model);
  std::vector<Batch> batches;
  if (options.calibration.empty()) {
    std::vector<std::vector<int64_t>> shapes;
    for (const auto& text : options.random_inputs) shapes.push_back(parse_shape(text));
    batches = torch_pt2e::cli::random_calibration_data(shapes, options.batches, options.seed);
  } else {
    batches = torch_pt2e::cli::load_calibration_data(options.calibration);
  }
  torch_pt2e::cli::check_calibration_data(model, batches);
  check_skip_modules(model, options.skip_modules);
  seconds["load"] = clock.lap();

  torch_pt2e::quantizer::XNNPACKQuantizer quantizer;
  quantizer.set_global(torch_pt2e::quantizer::get_symmetric_quantization_config(
      /*is_per_channel=*/!options.per_tensor, /*is_qat=*/false, options.dynamic));
  if (!options.skip_modules.empty()) {
    const auto names = options.skip_modules;
    quantizer.set_filter_function([names](torch::jit::Value* value) { return !in_skipped_module(value, names); });
  }
  torch::jit::Module prepared = torch_pt2e::prepare_pt2e(model, quantizer);
  seconds["prepare"] = clock.lap();

  const bool progress = isatty(fileno(stderr));
  for (size_t i = 0; i < batches.size(); ++i) {
    try {
      prepared.forward(batches[i]);
    } catch (const std::exception& error) {
      TORCH_CHECK(false, "calibration batch ", i, " does not fit the model's inputs: forward failed:\n",
                  error.what());
    }
    if (progress) {
      const double elapsed = clock.lap() + seconds.value("calibrate", 0.0);
      seconds["calibrate"] = elapsed;
      const double rate = (i + 1) / elapsed;
      std::fprintf(stderr, "\rcalibrating: %zu/%zu batches, %.2f batches/s, %s left   ", i + 1, batches.size(), rate,
                   format_seconds((batches.size() - i - 1) / rate).c_str());
      std::fflush(stderr);
    }
  }
  if (progress) std::fprintf(stderr, "\n");
  seconds["calibrate"] = clock.lap() + seconds.value("calibrate", 0.0);

  torch_pt2e::ConvertOptions convert_options;
  convert_options.use_reference_representation = options.reference_representation;
  convert_options.reference_numerics = torch_pt2e::passes::parse_reference_numerics(options.reference_numerics);
  convert_options.fold_quantize = !options.no_fold;
  torch::jit::Module converted = torch_pt2e::convert_pt2e(prepared, convert_options);
  seconds["convert"] = clock.lap();

  // The reference representation rewrites the quantized ops into integer
  // arithmetic; the per-op report reads the ops from the plain conversion.
  torch::jit::Module plain = converted;
  if (options.reference_representation) {
    auto plain_options = convert_options;
    plain_options.use_reference_representation = false;
    plain = torch_pt2e::convert_pt2e(prepared, plain_options);
  }
  json report = {{"model", options.model},
                 {"output", options.output},
                 {"options",
                  {{"per_channel", !options.per_tensor},
                   {"dynamic", options.dynamic},
                   {"skip_modules", options.skip_modules},
                   {"reference_representation", options.reference_representation},
                   {"reference_numerics", options.reference_numerics},
                   {"fold_quantize", !options.no_fold}}},
                 {"calibration",
                  {{"batches", batches.size()},
                   {"source", options.calibration.empty() ? "random" : options.calibration}}}};
  std::vector<std::vector<at::Tensor>> converted_outputs;
  // Without the reference representation the per-op runs are runs of the
  // converted model: its outputs come from them.
  report["ops"] = torch_pt2e::cli::quantized_ops_report(
      prepared, plain, batches, options.reference_representation ? nullptr : &converted_outputs);
  const double model_db = converted_outputs.size() == batches.size()
                              ? torch_pt2e::cli::model_sqnr_db(model, converted_outputs, batches)
                              : torch_pt2e::cli::model_sqnr_db(model, converted, batches);
  report["model_sqnr_db"] = std::isinf(model_db) ? json() : json(model_db);
  report["size_bytes"] = {{"float", serialized_bytes(model)}, {"quantized", 0}};
  seconds["report"] = clock.lap();

  converted.save(model_file.temp());
  report["size_bytes"]["quantized"] = static_cast<int64_t>(fs::file_size(model_file.temp()));
  seconds["save"] = clock.lap();
  report["seconds"] = seconds;
  if (report_file) {
    std::ofstream out(report_file->temp());
    out << report.dump(2) << "\n";
    TORCH_CHECK(out.good(), "cannot write ", report_file->temp());
  }
  model_file.commit();
  if (report_file) report_file->commit();

  std::cout << torch_pt2e::cli::format_report(report);
  std::cout << "wrote " << options.output << (report_file ? " and " + options.report_json : "") << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  CLI::App app{
      "pt2e_quantize: post-training quantization (PTQ) of a saved TorchScript model with the PT2E flow\n"
      "(prepare_pt2e, calibration, convert_pt2e) and the XNNPACK quantizer's symmetric int8 config.\n"
      "QAT is not offered: quantization-aware training needs a training loop (use prepare_qat_pt2e from\n"
      "Python or C++)."};
  app.get_formatter()->column_width(34);
  app.add_option("model", options.model, "TorchScript model file (torch.jit.save)")->required();
  app.add_option("-o,--output", options.output, "where to write the quantized TorchScript model")->required();
  auto* calibration = app.add_option("--calibration", options.calibration,
                                     "torch.save'd list/tuple of batches (each a tensor or a tuple of inputs), "
                                     "or a directory of such files");
  auto* random = app.add_option("--random-input", options.random_inputs,
                                "calibrate on random normal inputs of this shape, e.g. 1,3,224,224 "
                                "(repeat for models with several inputs)");
  app.add_option("--batches", options.batches, "number of random batches (with --random-input)")
      ->capture_default_str()
      ->needs(random);
  app.add_option("--seed", options.seed, "seed of the random batches")->capture_default_str()->needs(random);
  calibration->excludes(random);
  auto* per_channel = app.add_flag("--per-channel", options.per_channel, "per-channel weights (the default)");
  app.add_flag("--per-tensor", options.per_tensor, "per-tensor weights")->excludes(per_channel);
  app.add_flag("--dynamic", options.dynamic, "dynamic activations: scales computed at run time, weights static");
  app.add_option("--skip-module", options.skip_modules,
                 "leave this submodule (e.g. layer4.1 or fc) and everything in it in float; repeatable");
  auto* reference = app.add_flag("--reference-representation", options.reference_representation,
                                 "write quantized ops in the reference (integer arithmetic) representation");
  app.add_option("--reference-numerics", options.reference_numerics,
                 "the reference representation's arithmetic: upstream (truncating requantization, as upstream "
                 "PT2E) or qdq (rounding as the quantize/dequantize ops; stays at the q/dq model's accuracy)")
      ->check(CLI::IsMember({"upstream", "qdq"}))
      ->capture_default_str()
      ->needs(reference);
  app.add_flag("--no-fold", options.no_fold, "keep weight quantize ops instead of folding them into int8 constants");
  app.add_option("--report-json", options.report_json, "also write the report as JSON to this file");
  app.footer(
      "Prints calibration progress on a terminal (nothing when stderr is piped) and, at the end, a table of\n"
      "every quantized op: module path, input/weight/output scale and zero point, and the SQNR of the op's\n"
      "output against the float model on the calibration data; then the whole-model SQNR, the model size\n"
      "before and after, and the time of each stage. Outputs are written only when everything succeeded.");
  CLI11_PARSE(app, argc, argv);
  try {
    torch_pt2e::ops::register_ops();
    return run(options);
  } catch (const c10::Error& error) {
    std::cerr << "pt2e_quantize: error: " << error.what_without_backtrace() << "\n";
  } catch (const std::exception& error) {
    std::cerr << "pt2e_quantize: error: " << error.what() << "\n";
  }
  return 1;
}
