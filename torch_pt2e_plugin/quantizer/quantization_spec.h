// The annotation vocabulary of PT2E quantizers (upstream's
// torchao/quantization/pt2e/quantizer/quantizer.py), on TorchScript graphs.
//
// An input edge is (producer value, consumer node); a node output is the
// node's output value. Annotations live in an AnnotationTable keyed by node.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>
#include <c10/core/QScheme.h>
#include <c10/core/ScalarType.h>
#include <c10/util/Optional.h>
#include <nlohmann/json.hpp>
#include <torch/csrc/jit/api/module.h>
#include <torch/csrc/jit/ir/ir.h>

namespace torch_pt2e {
namespace quantizer {

// An input edge (value -> consumer) or, with consumer == nullptr, the output
// `value` of its node.
struct EdgeOrNode {
  torch::jit::Value* value = nullptr;
  torch::jit::Node* consumer = nullptr;

  static EdgeOrNode edge(torch::jit::Value* v, torch::jit::Node* n) { return {v, n}; }
  static EdgeOrNode output(torch::jit::Value* v) { return {v, nullptr}; }
  bool is_edge() const { return consumer != nullptr; }
  bool operator==(const EdgeOrNode& other) const { return value == other.value && consumer == other.consumer; }
  bool operator!=(const EdgeOrNode& other) const { return !(*this == other); }
  std::string describe() const;
};

struct EdgeOrNodeHash {
  size_t operator()(const EdgeOrNode& k) const {
    return std::hash<const void*>()(k.value) * 31 + std::hash<const void*>()(k.consumer);
  }
};

// `Observer.with_args(**kwargs)`: the observer (or fake-quantize) class by
// its upstream name and the keyword arguments bound to it. The spec's own
// fields (dtype, quant_min, ...) are added when the observer is created.
struct ObserverCtor {
  std::string name;  // e.g. "HistogramObserver", "PerChannelMinMaxObserver", "FusedMovingAvgObsFakeQuantize"
  nlohmann::json kwargs = nlohmann::json::object();

  ObserverCtor with_args(const nlohmann::json& more) const;
  bool operator==(const ObserverCtor& other) const { return name == other.name && kwargs == other.kwargs; }
};

enum class SpecKind { kQuantization, kFixedQParams, kShared, kDerived };

struct QuantizationSpecBase {
  virtual ~QuantizationSpecBase() = default;
  virtual SpecKind kind() const = 0;
};
using QuantizationSpecPtr = std::shared_ptr<const QuantizationSpecBase>;

// QuantizationSpec(dtype, observer_or_fake_quant_ctr, quant_min, quant_max, qscheme, ch_axis, is_dynamic)
struct QuantizationSpec final : QuantizationSpecBase {
  at::ScalarType dtype = at::kChar;
  ObserverCtor observer_or_fake_quant_ctr;
  c10::optional<int64_t> quant_min;
  c10::optional<int64_t> quant_max;
  c10::optional<c10::QScheme> qscheme;
  c10::optional<int64_t> ch_axis;
  bool is_dynamic = false;

  SpecKind kind() const override { return SpecKind::kQuantization; }
  // Upstream's __post_init__ checks (quant_min <= quant_max, ch_axis >= 0), as errors.
  void validate() const;
};

// FixedQParamsQuantizationSpec(dtype, scale, zero_point, quant_min, quant_max, qscheme, is_dynamic)
struct FixedQParamsQuantizationSpec final : QuantizationSpecBase {
  at::ScalarType dtype = at::kByte;
  double scale = 1.0;
  int64_t zero_point = 0;
  c10::optional<int64_t> quant_min;
  c10::optional<int64_t> quant_max;
  c10::optional<c10::QScheme> qscheme;
  bool is_dynamic = false;

  SpecKind kind() const override { return SpecKind::kFixedQParams; }
};

// SharedQuantizationSpec(edge_or_node): use the observer of another edge/output.
struct SharedQuantizationSpec final : QuantizationSpecBase {
  EdgeOrNode edge_or_node;

  SpecKind kind() const override { return SpecKind::kShared; }
};

// DerivedQuantizationSpec: qparams computed at convert time by a function of
// the observers of `derived_from`. The function is referred to by name: C++
// functions are registered with register_derive_qparams_fn; the Python
// package registers Python callables under their qualified names.
struct DerivedQuantizationSpec final : QuantizationSpecBase {
  std::vector<EdgeOrNode> derived_from;
  std::string derive_qparams_fn;
  at::ScalarType dtype = at::kInt;
  c10::optional<int64_t> quant_min;
  c10::optional<int64_t> quant_max;
  c10::optional<c10::QScheme> qscheme;
  c10::optional<int64_t> ch_axis;
  bool is_dynamic = false;

  SpecKind kind() const override { return SpecKind::kDerived; }
};

// Called with the observers of `derived_from` (in order); returns (scale, zero_point).
using DeriveQParamsFn = std::function<std::tuple<at::Tensor, at::Tensor>(std::vector<torch::jit::Module>& observers)>;
void register_derive_qparams_fn(const std::string& name, DeriveQParamsFn fn);
const DeriveQParamsFn* find_derive_qparams_fn(const std::string& name);

// QuantizationAnnotation(input_qspec_map, output_qspec, allow_implicit_sharing, _annotated)
struct QuantizationAnnotation {
  // In insertion order, as upstream's dict; a value appears at most once.
  std::vector<std::pair<torch::jit::Value*, QuantizationSpecPtr>> input_qspec_map;
  QuantizationSpecPtr output_qspec;
  bool allow_implicit_sharing = true;
  bool annotated = false;

  // Adds or replaces the spec of an input.
  void set_input(torch::jit::Value* input, QuantizationSpecPtr spec);
  QuantizationSpecPtr input_spec(torch::jit::Value* input) const;
  // Upstream's "valid" annotation (DuplicateDQ, metadata porting): a non-empty
  // input map or an output spec.
  bool is_valid() const { return !input_qspec_map.empty() || output_qspec != nullptr; }
};

// Annotations of the nodes of one graph.
class AnnotationTable {
 public:
  bool has(const torch::jit::Node* node) const { return annotations_.count(node) != 0; }
  const QuantizationAnnotation* find(const torch::jit::Node* node) const;
  QuantizationAnnotation* find(const torch::jit::Node* node);
  // Creates an empty annotation if the node has none.
  QuantizationAnnotation& at(const torch::jit::Node* node) { return annotations_[node]; }
  void set(const torch::jit::Node* node, QuantizationAnnotation annotation) {
    annotations_[node] = std::move(annotation);
  }
  void erase(const torch::jit::Node* node) { annotations_.erase(node); }
  size_t size() const { return annotations_.size(); }
  bool empty() const { return annotations_.empty(); }

  // Values a quantizer took into a pattern without annotating a node for
  // them (a weight's prim::GetAttr, a graph input): upstream marks such FX
  // nodes `_annotated`, so later patterns containing them are skipped.
  void mark(const torch::jit::Value* value) { marked_.insert(value); }
  bool is_marked(const torch::jit::Value* value) const { return marked_.count(value) != 0; }
  const std::unordered_set<const torch::jit::Value*>& marked() const { return marked_; }

 private:
  std::unordered_map<const torch::jit::Node*, QuantizationAnnotation> annotations_;
  std::unordered_set<const torch::jit::Value*> marked_;
};

// Upstream names of dtypes and qschemes ("int8", "quint8", "per_tensor_affine", ...).
std::string dtype_name(at::ScalarType dtype);
at::ScalarType parse_dtype(const std::string& name);
std::string qscheme_name(c10::QScheme qscheme);
c10::QScheme parse_qscheme(const std::string& name);

}  // namespace quantizer
}  // namespace torch_pt2e
