#include "torch_pt2e_plugin/cli/quantization_report.h"

#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <set>
#include <sstream>

#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <torch/csrc/jit/api/function_impl.h>

#include "torch_pt2e_plugin/passes/graph_utils.h"
#include "torch_pt2e_plugin/passes/observer_calls.h"
#include "torch_pt2e_plugin/passes/prepare_state.h"
#include "torch_pt2e_plugin/passes/qdq_nodes.h"

namespace torch_pt2e {
namespace cli {
namespace {

using nlohmann::json;
using torch::jit::Graph;
using torch::jit::Module;
using torch::jit::Node;
using torch::jit::Value;

constexpr const char* kQuantizedDecomposed = "quantized_decomposed";

bool is_quantized_decomposed(const Node* node) {
  return node->kind().ns().toUnqualString() == std::string(kQuantizedDecomposed);
}

bool has_tensor_output(const Node* node) {
  return node->outputs().size() == 1 && node->output()->type()->isSubtypeOf(*c10::TensorType::get());
}

// Ops whose input 1 is a weight.
bool takes_weight(const Node* node) {
  static const std::set<std::string> kinds = {"aten::linear",           "aten::conv1d",
                                              "aten::conv2d",           "aten::conv3d",
                                              "aten::conv_transpose1d", "aten::conv_transpose2d",
                                              "aten::conv_transpose3d", "aten::_convolution"};
  return kinds.count(node->kind().toQualString()) > 0;
}

std::string module_path(const Node* node) {
  const auto stack = passes::module_stack(node);
  return stack.empty() ? std::string() : stack.back().first;
}

// Top-level operator nodes (no prim::, no quantized_decomposed::) with one
// tensor output, keyed by kind, module and occurrence: the same key names
// the same op in the prepared and the converted graph, which differ only
// in observers versus quantize/dequantize nodes.
std::map<std::string, Node*> key_ops(Graph& graph) {
  std::map<std::string, Node*> keyed;
  std::map<std::string, int> seen;
  for (Node* node : graph.nodes()) {
    if (!passes::is_operator_node(node) || is_quantized_decomposed(node) || !has_tensor_output(node)) continue;
    const std::string base = std::string(node->kind().toQualString()) + "|" + module_path(node);
    keyed[base + "|" + std::to_string(seen[base]++)] = node;
  }
  return keyed;
}

json tensor_qparam(const at::Tensor& value) {
  const auto flat = value.detach().to(at::kDouble).flatten();
  if (flat.numel() == 1) return flat.item<double>();
  return {{"channels", flat.numel()}, {"min", flat.min().item<double>()}, {"max", flat.max().item<double>()}};
}

// A scale or zero point argument: a constant, a module attribute, or a
// value computed at run time (dynamic quantization).
json qparam(Value* value, const Module& owner) {
  if (auto constant = passes::constant_value(value)) {
    if (constant->isDouble()) return constant->toDouble();
    if (constant->isInt()) return constant->toInt();
    if (constant->isNone()) return nullptr;
    if (constant->isTensor()) return tensor_qparam(constant->toTensor());
  }
  if (auto tensor = passes::attribute_tensor(value, owner)) return tensor_qparam(*tensor);
  return "dynamic";
}

json qparams_of(Node* qdq, const Module& owner) {
  return {{"scale", qparam(qdq->input(1), owner)}, {"zero_point", qparam(qdq->input(2), owner)}};
}

json dequantized_input(Node* node, size_t index, const Module& owner) {
  if (index >= node->inputs().size()) return nullptr;
  Node* producer = node->input(index)->node();
  return passes::is_dequantize(producer) ? qparams_of(producer, owner) : json();
}

// The quantize of the op's output; for fused patterns (conv -> relu) the one
// after the activation the op feeds alone.
json output_qparams(Node* node, const Module& owner) {
  const auto& uses = node->output()->uses();
  for (const auto& use : uses) {
    if (passes::is_quantize(use.user)) return qparams_of(use.user, owner);
  }
  static const std::set<std::string> fused = {"aten::relu", "aten::relu_", "aten::hardtanh", "aten::hardtanh_"};
  if (uses.size() == 1 && fused.count(uses[0].user->kind().toQualString()) && has_tensor_output(uses[0].user)) {
    return output_qparams(uses[0].user, owner);
  }
  return nullptr;
}

json output_qparams(Node* node, const Module& owner);

// Reads a dequantized input and has its output or its weight quantized (a
// float op after a quantized one also reads a dequantized input).
bool is_quantized_op(Node* node, const Module& owner) {
  if (passes::is_shape_query(node)) return false;
  bool reads_dequantized = false;
  for (Value* input : node->inputs()) reads_dequantized = reads_dequantized || passes::is_dequantize(input->node());
  if (!reads_dequantized) return false;
  const bool weight_quantized =
      takes_weight(node) && node->inputs().size() > 1 && passes::is_dequantize(node->input(1)->node());
  return weight_quantized || !output_qparams(node, owner).is_null();
}

// Replaces the dequantize of every module attribute (the folded integer
// weights) by its result, computed once: the report runs the graph once per
// batch, and dequantizing every weight each time costs about as much as
// the rest of the quantized run.
void dequantize_weights_once(Graph& graph, const Module& owner) {
  std::vector<Node*> weight_dequantizes;
  for (Node* node : graph.nodes()) {
    if (passes::is_dequantize(node) && passes::attribute_tensor(node->input(0), owner)) {
      weight_dequantizes.push_back(node);
    }
  }
  for (Node* node : weight_dequantizes) {
    torch::jit::Stack stack;
    for (Value* input : node->inputs()) {
      auto value = passes::constant_value(input);
      if (!value) value = passes::attribute_value(input, owner);
      if (!value) break;
      stack.push_back(*value);
    }
    if (stack.size() != node->inputs().size()) continue;
    node->getOperation()(stack);
    torch::jit::WithInsertPoint insert_before(node);
    node->output()->replaceAllUsesWith(graph.insertConstant(stack.back()));
    node->destroy();
  }
}

// Makes `graph` (a copy of a method's graph) return a tuple of `values`.
void return_values(Graph& graph, const std::vector<Value*>& values) {
  while (!graph.outputs().empty()) graph.eraseOutput(0);
  Node* tuple = graph.createTuple(values);
  tuple->insertBefore(graph.return_node());
  graph.registerOutput(tuple->output());
}

std::vector<c10::IValue> run_graph(torch::jit::GraphFunction& function, const Module& owner, const Batch& batch) {
  torch::jit::Stack stack;
  stack.emplace_back(owner._ivalue());
  stack.insert(stack.end(), batch.begin(), batch.end());
  function.run(stack);
  return stack.back().toTupleRef().elements().vec();
}

void flatten_tensors(const c10::IValue& value, std::vector<at::Tensor>& out) {
  if (value.isTensor()) {
    out.push_back(value.toTensor());
  } else if (value.isTuple()) {
    for (const auto& element : value.toTupleRef().elements()) flatten_tensors(element, out);
  } else if (value.isList()) {
    for (const auto& element : value.toList()) flatten_tensors(element, out);
  } else if (value.isGenericDict()) {
    for (const auto& item : value.toGenericDict()) flatten_tensors(item.value(), out);
  }
}

std::string format_number(double value) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.4g", value);
  return text;
}

std::string format_qparam(const json& value) {
  if (value.is_null()) return "-";
  if (value.is_string()) return value.get<std::string>();
  if (value.is_object()) {
    const double low = value["min"].get<double>();
    const double high = value["max"].get<double>();
    if (low == high) return format_number(low) + " x" + std::to_string(value["channels"].get<int64_t>());
    return "[" + format_number(low) + ", " + format_number(high) + "] x" +
           std::to_string(value["channels"].get<int64_t>());
  }
  return format_number(value.get<double>());
}

std::string format_qparams(const json& value) {
  if (value.is_null()) return "-";
  const std::string scale = format_qparam(value["scale"]);
  if (scale == "dynamic") return "dynamic";
  return scale + " / " + format_qparam(value["zero_point"]);
}

std::string format_db(const json& value) { return value.is_null() ? "inf" : format_number(value.get<double>()); }

std::string format_bytes(int64_t bytes) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.2f MiB", bytes / (1024.0 * 1024.0));
  return std::to_string(bytes) + " B (" + text + ")";
}

json db_json(double db) { return std::isinf(db) ? json() : json(db); }

}  // namespace

void SqnrAccumulator::add(const at::Tensor& reference, const at::Tensor& quantized) {
  TORCH_CHECK(reference.sizes() == quantized.sizes(), "SQNR: outputs differ in shape, float ", reference.sizes(),
              " vs quantized ", quantized.sizes());
  if (reference.scalar_type() == at::kFloat && quantized.scalar_type() == at::kFloat) {
    // one pass in double without temporaries: the float64 copies and their
    // squares cost more than the models' runs
    const auto f = reference.detach().contiguous();
    const auto q = quantized.detach().contiguous();
    const float* f_data = f.data_ptr<float>();
    const float* q_data = q.data_ptr<float>();
    double signal = 0, noise = 0;
    for (int64_t i = 0, n = f.numel(); i < n; ++i) {
      const double value = f_data[i];
      const double error = value - static_cast<double>(q_data[i]);
      signal += value * value;
      noise += error * error;
    }
    signal_ += signal;
    noise_ += noise;
    return;
  }
  const auto f = reference.detach().to(at::kDouble);
  const auto q = quantized.detach().to(at::kDouble);
  signal_ += f.pow(2).sum().item<double>();
  noise_ += (f - q).pow(2).sum().item<double>();
}

double SqnrAccumulator::db() const {
  if (noise_ == 0) return std::numeric_limits<double>::infinity();
  return 10 * std::log10(signal_ / noise_);
}

json quantized_ops_report(const Module& prepared, const Module& converted, const std::vector<Batch>& batches,
                          std::vector<std::vector<at::Tensor>>* converted_outputs) {
  if (converted_outputs) converted_outputs->clear();
  auto float_graph = prepared.get_method("forward").graph()->copy();
  std::vector<Node*> observer_calls;
  for (Node* node : float_graph->nodes()) {
    if (passes::observer_call_name(node)) observer_calls.push_back(node);
  }
  for (Node* call : observer_calls) {
    call->output()->replaceAllUsesWith(call->input(1));
    call->destroy();
  }
  auto quantized_graph = converted.get_method("forward").graph()->copy();
  Value* converted_output = quantized_graph->outputs().at(0);
  const auto float_ops = key_ops(*float_graph);
  const auto quantized_ops = key_ops(*quantized_graph);

  // graph order of the converted model
  std::vector<std::pair<Node*, std::string>> ordered;
  for (Node* node : quantized_graph->nodes()) {
    for (const auto& entry : quantized_ops) {
      if (entry.second == node && is_quantized_op(node, converted)) ordered.emplace_back(node, entry.first);
    }
  }
  std::vector<Value*> float_values, quantized_values;
  std::vector<int64_t> measured_index(ordered.size(), -1);
  for (size_t i = 0; i < ordered.size(); ++i) {
    const auto match = float_ops.find(ordered[i].second);
    if (match == float_ops.end()) continue;
    measured_index[i] = static_cast<int64_t>(float_values.size());
    float_values.push_back(match->second->output());
    quantized_values.push_back(ordered[i].first->output());
  }
  // qparams first: exposing the values adds uses to them
  json ops = json::array();
  for (size_t i = 0; i < ordered.size(); ++i) {
    Node* node = ordered[i].first;
    json entry = {{"op", node->kind().toQualString()},
                  {"module", module_path(node)},
                  {"input", dequantized_input(node, 0, converted)},
                  {"weight", takes_weight(node) ? dequantized_input(node, 1, converted) : json()},
                  {"output", output_qparams(node, converted)},
                  {"sqnr_db", "unmatched"}};
    if (entry["input"].is_null()) {
      // e.g. add whose first operand stays float: report the quantized one
      for (size_t k = 1; k < node->inputs().size() && entry["input"].is_null(); ++k) {
        if (!(takes_weight(node) && k == 1)) entry["input"] = dequantized_input(node, k, converted);
      }
    }
    ops.push_back(entry);
  }
  if (float_values.empty()) return ops;

  // One run of each graph per batch yields every op's output (and the
  // converted model's own result, last), rather than one run per op.
  return_values(*float_graph, float_values);
  dequantize_weights_once(*quantized_graph, converted);
  quantized_values.push_back(converted_output);
  return_values(*quantized_graph, quantized_values);
  torch::jit::GraphFunction float_function("pt2e_quantize_float_ops", float_graph, nullptr);
  torch::jit::GraphFunction quantized_function("pt2e_quantize_quantized_ops", quantized_graph, nullptr);
  std::vector<SqnrAccumulator> sqnr(float_values.size());
  for (const Batch& batch : batches) {
    const auto reference = run_graph(float_function, prepared, batch);
    const auto quantized = run_graph(quantized_function, converted, batch);
    for (size_t i = 0; i < sqnr.size(); ++i) sqnr[i].add(reference[i].toTensor(), quantized[i].toTensor());
    if (converted_outputs) {
      converted_outputs->emplace_back();
      flatten_tensors(quantized.back(), converted_outputs->back());
    }
  }
  for (size_t i = 0; i < ordered.size(); ++i) {
    if (measured_index[i] >= 0) ops[i]["sqnr_db"] = db_json(sqnr[measured_index[i]].db());
  }
  return ops;
}

double model_sqnr_db(const Module& reference, const Module& quantized, const std::vector<Batch>& batches) {
  std::vector<std::vector<at::Tensor>> quantized_outputs;
  for (const Batch& batch : batches) {
    quantized_outputs.emplace_back();
    flatten_tensors(Module(quantized).forward(batch), quantized_outputs.back());
  }
  return model_sqnr_db(reference, quantized_outputs, batches);
}

double model_sqnr_db(const Module& reference, const std::vector<std::vector<at::Tensor>>& quantized_outputs,
                     const std::vector<Batch>& batches) {
  TORCH_CHECK(quantized_outputs.size() == batches.size(), "model SQNR: quantized outputs of ",
              quantized_outputs.size(), " batches for ", batches.size(), " batches");
  SqnrAccumulator sqnr;
  for (size_t b = 0; b < batches.size(); ++b) {
    std::vector<at::Tensor> expected;
    flatten_tensors(Module(reference).forward(batches[b]), expected);
    const auto& actual = quantized_outputs[b];
    TORCH_CHECK(expected.size() == actual.size(), "the float model returns ", expected.size(),
                " tensors but the quantized model ", actual.size());
    for (size_t i = 0; i < expected.size(); ++i) sqnr.add(expected[i], actual[i]);
  }
  return sqnr.db();
}

std::string format_report(const json& report) {
  std::vector<std::vector<std::string>> rows = {
      {"#", "op", "module", "input scale / zp", "weight scale / zp", "output scale / zp", "SQNR dB"}};
  int index = 0;
  for (const auto& op : report["ops"]) {
    const auto& db = op["sqnr_db"];
    rows.push_back({std::to_string(index++), op["op"].get<std::string>(),
                    op["module"].get<std::string>().empty() ? "<top>" : op["module"].get<std::string>(),
                    format_qparams(op["input"]), format_qparams(op["weight"]), format_qparams(op["output"]),
                    db.is_string() ? db.get<std::string>() : format_db(db)});
  }
  std::vector<size_t> widths(rows.front().size(), 0);
  for (const auto& row : rows) {
    for (size_t c = 0; c < row.size(); ++c) widths[c] = std::max(widths[c], row[c].size());
  }
  std::ostringstream out;
  for (size_t r = 0; r < rows.size(); ++r) {
    for (size_t c = 0; c < rows[r].size(); ++c) {
      out << (c ? "  " : "") << rows[r][c] << std::string(widths[c] - rows[r][c].size(), ' ');
    }
    out << "\n";
    if (r == 0) {
      size_t total = 0;
      for (size_t w : widths) total += w + 2;
      out << std::string(total - 2, '-') << "\n";
    }
  }
  out << "\nquantized ops: " << report["ops"].size() << "\n";
  out << "whole-model SQNR: " << format_db(report["model_sqnr_db"]) << " dB over "
      << report["calibration"]["batches"].get<int64_t>() << " calibration batches\n";
  const auto& size = report["size_bytes"];
  out << "model size: " << format_bytes(size["float"].get<int64_t>()) << " -> "
      << format_bytes(size["quantized"].get<int64_t>()) << "\n";
  out << "time:";
  for (const char* stage : {"load", "prepare", "calibrate", "convert", "report", "save"}) {
    if (report["seconds"].contains(stage)) {
      out << " " << stage << " " << format_number(report["seconds"][stage].get<double>()) << " s;";
    }
  }
  out << "\n";
  return out.str();
}

}  // namespace cli
}  // namespace torch_pt2e
