#include "torch_pt2e_plugin/quantizer/xnnpack_quantizer_utils.h"

#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <map>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include <c10/util/Exception.h>

#include "torch_pt2e_plugin/passes/graph_utils.h"
#include "torch_pt2e_plugin/passes/prepare_state.h"
#include "torch_pt2e_plugin/passes/qdq_nodes.h"
#include "torch_pt2e_plugin/passes/sharing_groups.h"

namespace torch_pt2e {
namespace quantizer {
namespace {

using torch::jit::Graph;
using torch::jit::Module;
using torch::jit::Node;
using torch::jit::Value;

// Operator spellings ("aten::add.Tensor") and the node kinds they belong to
// ("aten::add"): is_op tests a node's kind, an interned symbol, before
// building its schema name, since every annotator asks about every node.
struct OpSet {
  OpSet(std::initializer_list<std::string> operator_names) : names(operator_names) {
    for (const std::string& name : names) {
      const c10::Symbol kind = c10::Symbol::fromQualString(name.substr(0, name.find('.')));
      if (std::find(kinds.begin(), kinds.end(), kind) == kinds.end()) kinds.push_back(kind);
    }
  }
  std::vector<std::string> names;
  std::vector<c10::Symbol> kinds;
};

// Operator spellings of canonical TorchScript graphs (scripted and traced).
// FX's add.Tensor(x, 2) is TorchScript's add.Scalar(x, 2); in-place forms
// remain where canonicalization could not make them functional.
const OpSet kLinear = {"aten::linear"};
const OpSet kRelu = {"aten::relu", "aten::relu_"};
// conv3d and the .padding overloads as torchao's newer _is_conv_node (torch 2.6: conv1d, conv2d).
const OpSet kConv = {"aten::conv1d",         "aten::conv2d",         "aten::conv3d",
                     "aten::conv1d.padding", "aten::conv2d.padding", "aten::conv3d.padding"};
const OpSet kConvTranspose = {"aten::conv_transpose1d", "aten::conv_transpose2d.input",
                              "aten::conv_transpose3d.input"};
const OpSet kBatchNorm = {"aten::batch_norm"};
const OpSet kAdd = {"aten::add.Tensor", "aten::add_.Tensor", "aten::add.Scalar", "aten::add_.Scalar"};
const OpSet kMul = {"aten::mul.Tensor", "aten::mul_.Tensor", "aten::mul.Scalar", "aten::mul_.Scalar"};
const OpSet kCat = {"aten::cat"};
const OpSet kAdaptiveAvgPool2d = {"aten::adaptive_avg_pool2d"};
const OpSet kGru = {"aten::gru.input"};
// relu_ is here because canonicalization turns most relu_ into relu; upstream lists relu only.
const OpSet kShareObserverOps = {
    "aten::relu",      "aten::relu_",       "aten::hardtanh",    "aten::hardtanh_", "aten::max_pool2d",
    "aten::mean",      "aten::mean.dim",    "aten::permute",     "aten::transpose.int",
    "aten::squeeze.dim", "aten::adaptive_avg_pool2d", "aten::view", "aten::reshape", "aten::slice.Tensor",
    "aten::flatten.using_ints",
};

// Argument slots.
constexpr size_t kInput = 0, kWeight = 1, kBias = 2;
constexpr size_t kConvGroups = 6;  // conv{N}d and conv_transpose{N}d alike
// torch.histc, which HistogramObserver uses, works up to this magnitude.
constexpr double kHistcUpperBound = 3.4028235e15;

bool is_op(const Node* node, const OpSet& ops) {
  if (std::find(ops.kinds.begin(), ops.kinds.end(), node->kind()) == ops.kinds.end()) return false;
  const std::string name = passes::schema_name(node);
  return std::find(ops.names.begin(), ops.names.end(), name) != ops.names.end();
}

// The value standing for an operator node in partitions and filters.
Value* rep(Node* node) { return node->outputs().empty() ? nullptr : node->output(0); }

// The operator node producing `value`, if `value` is its first output.
Node* op_node(Value* value) {
  Node* node = value->node();
  return passes::is_operator_node(node) && !node->outputs().empty() && node->output(0) == value ? node : nullptr;
}

// The users of a value as upstream's FX graphs have them: shape queries
// (scripted functions check input sizes; export has no nodes for those) do not count.
std::vector<Node*> users_of(Value* value) {
  std::vector<Node*> users;
  for (Node* user : passes::effective_users(value)) {
    if (!passes::is_shape_query(user)) users.push_back(user);
  }
  return users;
}

size_t num_users(Value* value) { return users_of(value).size(); }

}  // namespace

// The top block's nodes by kind, each list in graph order with positions.
struct NodeIndexScope::Index {
  explicit Index(Graph& g) : graph(&g) {
    int64_t position = 0;
    for (Node* node : g.nodes()) by_kind[node->kind()].emplace_back(position++, node);
  }
  const Graph* graph;
  std::unordered_map<c10::Symbol, std::vector<std::pair<int64_t, Node*>>> by_kind;
};

namespace {

thread_local const NodeIndexScope::Index* current_index = nullptr;

// The top block's nodes whose kind is one of `ops`' kinds, in graph order.
std::vector<Node*> nodes_of(Graph& graph, const OpSet& ops) {
  std::vector<std::pair<int64_t, Node*>> found;
  if (current_index != nullptr && current_index->graph == &graph) {
    for (const c10::Symbol kind : ops.kinds) {
      const auto it = current_index->by_kind.find(kind);
      if (it != current_index->by_kind.end()) found.insert(found.end(), it->second.begin(), it->second.end());
    }
    if (ops.kinds.size() > 1) std::sort(found.begin(), found.end());
  } else {
    int64_t position = 0;
    for (Node* node : graph.nodes()) {
      if (std::find(ops.kinds.begin(), ops.kinds.end(), node->kind()) != ops.kinds.end()) {
        found.emplace_back(position, node);
      }
      ++position;
    }
  }
  std::vector<Node*> nodes;
  nodes.reserve(found.size());
  for (const auto& entry : found) nodes.push_back(entry.second);
  return nodes;
}

class Annotating {
 public:
  Annotating(Module& module, AnnotationTable& table, const QuantizationConfig* config, const NodeFilter& filter)
      : module_(module), graph_(*module.get_method("forward").graph()), table_(table), config_(config),
        filter_(filter) {
    if (config_) config_->validate();
  }

  Graph& graph() { return graph_; }
  AnnotationTable& table() { return table_; }

  QuantizationSpecPtr input_act() const { return config_ ? config_->input_activation : nullptr; }
  QuantizationSpecPtr output_act() const { return config_ ? config_->output_activation : nullptr; }
  QuantizationSpecPtr weight() const { return config_ ? config_->weight : nullptr; }
  QuantizationSpecPtr bias() const { return config_ ? config_->bias : nullptr; }
  bool dynamic() const { return config_ && config_->is_dynamic(); }

  // Upstream's change_quantization_config(weight, ch_axis=1) for transposed convolutions.
  QuantizationSpecPtr transposed_weight() const {
    const auto& spec = config_ ? config_->weight : nullptr;
    if (!spec) return nullptr;
    auto changed = std::make_shared<QuantizationSpec>(*spec);
    changed->ch_axis = 1;
    return changed;
  }

  bool passes(const Partition& partition) const {
    if (!filter_) return true;
    return std::all_of(partition.begin(), partition.end(), [&](Value* v) { return filter_(v); });
  }
  bool passes(Value* value) const { return !filter_ || filter_(value); }

  // Upstream's _is_annotated: an operator node with `_annotated`, or a marked
  // value. Reads of one attribute count as one node, as FX has one get_attr
  // node per attribute.
  bool is_annotated(const Partition& partition) const {
    for (Value* value : partition) {
      if (Node* node = op_node(value)) {
        const auto* annotation = table_.find(node);
        if (annotation && annotation->annotated) return true;
      } else if (is_marked(value)) {
        return true;
      }
    }
    return false;
  }

  void mark_annotated(const Partition& partition) {
    for (Value* value : partition) {
      if (Node* node = op_node(value)) {
        table_.at(node).annotated = true;
      } else {
        table_.mark(value);
        if (marked_paths_) {
          if (const auto path = attribute_path(value)) marked_paths_->insert(*path);
        }
      }
    }
  }

  // A None argument (a constant None, or an Optional attribute holding None).
  bool is_none(Value* value) const {
    if (value->type()->kind() == c10::TypeKind::NoneType) return true;
    if (const auto constant = passes::constant_value(value)) return constant->isNone();
    if (const auto attribute = passes::attribute_value(value, module_)) return attribute->isNone();
    return false;
  }

  // What FX calls a Node argument: anything but a literal (XNNPACKQuantizer's
  // transform_for_annotation turns scalar literals into buffers first).
  bool is_node_argument(Value* value) const { return value->node()->kind() != c10::prim::Constant; }

  c10::optional<at::Tensor> tensor_of(Value* value) const {
    if (const auto attribute = passes::attribute_tensor(value, module_)) return attribute;
    if (value->node()->kind() == c10::prim::unchecked_cast) return passes::attribute_tensor(value->node()->input(), module_);
    const auto constant = passes::constant_value(value);
    if (constant && constant->isTensor()) return constant->toTensor();
    return c10::nullopt;
  }

  // Upstream's _is_input_large_scalar.
  bool is_large_scalar(Value* value) const {
    const auto tensor = tensor_of(value);
    return tensor && tensor->numel() == 1 && std::abs(tensor->item<double>()) > kHistcUpperBound;
  }

  // Upstream's _is_input_non_float_tensor. A tensor whose dtype the graph does
  // not know (scripted models without example inputs) counts as float32.
  bool is_non_float_tensor(Value* value) const {
    if (const auto tensor = tensor_of(value)) return tensor->scalar_type() != at::kFloat;
    const auto type = value->type()->cast<c10::TensorType>();
    if (!type) return true;
    const auto dtype = type->scalarType();
    return dtype.has_value() && *dtype != at::kFloat;
  }

  c10::optional<std::vector<int64_t>> shape_of(Value* value) const {
    if (const auto tensor = tensor_of(value)) return tensor->sizes().vec();
    const auto type = value->type()->cast<c10::TensorType>();
    if (type) {
      if (const auto sizes = type->sizes().concrete_sizes()) return *sizes;
    }
    return c10::nullopt;
  }

  c10::optional<int64_t> groups(Node* conv) const {
    if (conv->inputs().size() <= kConvGroups) return c10::nullopt;
    const auto constant = passes::constant_value(conv->input(kConvGroups));
    if (!constant || !constant->isInt()) return c10::nullopt;
    return constant->toInt();
  }

  // The annotation of the node producing `value`, if it is an annotated
  // operator node with an output spec.
  bool has_annotated_output(Value* value) const {
    Node* node = op_node(value);
    if (!node) return false;
    const auto* annotation = table_.find(node);
    return annotation && annotation->annotated && annotation->output_qspec;
  }

 private:
  bool is_marked(Value* value) const {
    if (table_.is_marked(value)) return true;
    const auto path = attribute_path(value);
    if (!path) return false;
    // Resolving every marked value's path per query made annotation quadratic;
    // the paths are resolved once, and mark_annotated keeps them current.
    if (!marked_paths_) {
      marked_paths_.emplace();
      for (const Value* marked : table_.marked()) {
        if (const auto other = attribute_path(const_cast<Value*>(marked))) marked_paths_->insert(*other);
      }
    }
    return marked_paths_->count(*path) != 0;
  }

  c10::optional<std::string> attribute_path(Value* value) const {
    if (value->node()->kind() == c10::prim::unchecked_cast) value = value->node()->input();
    const auto ref = passes::resolve_attribute(value, module_);
    if (!ref) return c10::nullopt;
    return ref->path;
  }

  Module& module_;
  Graph& graph_;
  AnnotationTable& table_;
  const QuantizationConfig* config_;
  const NodeFilter& filter_;
  mutable c10::optional<std::unordered_set<std::string>> marked_paths_;
};

std::shared_ptr<SharedQuantizationSpec> shared_with(EdgeOrNode key) {
  auto spec = std::make_shared<SharedQuantizationSpec>();
  spec->edge_or_node = key;
  return spec;
}

// The input edges of a linear or convolution `op` (activation, weight, and
// bias unless it is None) with their specs, and the pattern's partition:
// `pattern` (the pattern's nodes) followed by the weight and bias.
struct WeightedPattern {
  QuantizationAnnotation inputs;
  Partition partition;
};

WeightedPattern weighted_pattern(Annotating& a, Node* op, QuantizationSpecPtr weight_spec, Partition pattern) {
  WeightedPattern result{QuantizationAnnotation(), std::move(pattern)};
  result.inputs.set_input(op->input(kInput), a.input_act());
  result.inputs.set_input(op->input(kWeight), std::move(weight_spec));
  result.partition.push_back(op->input(kWeight));
  if (op->inputs().size() > kBias && !a.is_none(op->input(kBias))) {
    result.inputs.set_input(op->input(kBias), a.bias());
    result.partition.push_back(op->input(kBias));
  }
  return result;
}

// Records an accepted pattern: its input edges on `first`, the output spec
// on `last` (the same node for single-op patterns), both `_annotated`, and
// marks the partition.
void annotate_pattern(Annotating& a, const Partition& partition, Node* first, QuantizationAnnotation inputs,
                      Node* last) {
  inputs.annotated = true;
  if (first == last) inputs.output_qspec = a.output_act();
  a.table().set(first, std::move(inputs));
  if (first != last) {
    QuantizationAnnotation output;
    output.output_qspec = a.output_act();
    output.annotated = true;
    a.table().set(last, std::move(output));
  }
  a.mark_annotated(partition);
}

std::vector<Partition> annotate_linear(Annotating& a) {
  std::vector<Partition> partitions;
  for (Node* node : nodes_of(a.graph(), kLinear)) {
    if (!is_op(node, kLinear) || !a.passes(rep(node))) continue;
    if (a.is_annotated({rep(node)})) continue;
    WeightedPattern pattern = weighted_pattern(a, node, a.weight(), {rep(node)});
    // Like upstream's _annotate_input_qspec_map, this adds to an existing
    // (not yet `_annotated`) annotation of the node.
    QuantizationAnnotation& annotation = a.table().at(node);
    for (auto& entry : pattern.inputs.input_qspec_map) annotation.set_input(entry.first, std::move(entry.second));
    annotation.output_qspec = a.output_act();
    a.mark_annotated(pattern.partition);
    partitions.push_back(std::move(pattern.partition));
  }
  return partitions;
}

std::vector<Partition> annotate_linear_relu(Annotating& a) {
  std::vector<Partition> partitions;
  for (Node* relu : nodes_of(a.graph(), kRelu)) {
    if (!is_op(relu, kRelu)) continue;
    Node* linear = op_node(relu->input(kInput));
    if (!linear || !is_op(linear, kLinear) || num_users(linear->output()) > 1) continue;
    WeightedPattern pattern = weighted_pattern(a, linear, a.weight(), {rep(relu), rep(linear)});
    if (a.is_annotated(pattern.partition) || !a.passes(pattern.partition)) continue;
    annotate_pattern(a, pattern.partition, linear, std::move(pattern.inputs), relu);
    partitions.push_back(std::move(pattern.partition));
  }
  return partitions;
}

// Upstream's _do_annotate_conv.
std::vector<Partition> annotate_conv(Annotating& a, bool transpose) {
  const OpSet& convs = transpose ? kConvTranspose : kConv;
  std::vector<Partition> partitions;
  for (Node* conv : nodes_of(a.graph(), convs)) {
    if (!is_op(conv, convs)) continue;
    // conv -> relu is left to conv_relu.
    const auto users = users_of(conv->output());
    if (users.size() == 1 && is_op(users[0], kRelu)) continue;
    Value* weight = conv->input(kWeight);
    bool skip = transpose && a.groups(conv).value_or(0) != 1;
    if (a.dynamic()) {
      // Dynamically quantized convolutions: 2-d, not depthwise (upstream's
      // is_depthwise_conv(weight_shape, groups=1): one input channel per group).
      const auto shape = a.shape_of(weight);
      skip = skip || (shape && shape->size() != 4);
      skip = skip || (!transpose && shape && shape->size() >= 2 && (*shape)[1] == 1);
    }
    WeightedPattern pattern = weighted_pattern(a, conv, transpose ? a.transposed_weight() : a.weight(), {rep(conv)});
    if (a.is_annotated(pattern.partition) || skip || !a.passes(pattern.partition)) continue;
    annotate_pattern(a, pattern.partition, conv, std::move(pattern.inputs), conv);
    partitions.push_back(std::move(pattern.partition));
  }
  return partitions;
}

// Upstream's _do_annotate_conv_relu.
std::vector<Partition> annotate_conv_relu(Annotating& a, bool transpose) {
  const OpSet& convs = transpose ? kConvTranspose : kConv;
  std::vector<Partition> partitions;
  for (Node* relu : nodes_of(a.graph(), kRelu)) {
    if (!is_op(relu, kRelu)) continue;
    Node* conv = op_node(relu->input(kInput));
    if (!conv || !is_op(conv, convs) || num_users(conv->output()) > 1) continue;
    WeightedPattern pattern =
        weighted_pattern(a, conv, transpose ? a.transposed_weight() : a.weight(), {rep(relu), rep(conv)});
    if (a.is_annotated(pattern.partition)) continue;
    if (transpose && a.groups(conv).value_or(0) != 1) continue;
    if (!a.passes(pattern.partition)) continue;
    annotate_pattern(a, pattern.partition, conv, std::move(pattern.inputs), relu);
    partitions.push_back(std::move(pattern.partition));
  }
  return partitions;
}

// Upstream's _do_annotate_conv_bn: conv -> batch_norm [-> relu], where only
// the pattern reads the conv (and, with relu, the batch norm) output. Like
// upstream's matcher (ignore_literals=True), the batch norm's training flag
// is not looked at, and the weight spec is the config's own (also for
// transposed convolutions).
std::vector<Partition> annotate_conv_bn(Annotating& a, bool has_relu, bool transpose) {
  const OpSet& convs = transpose ? kConvTranspose : kConv;
  std::vector<Partition> partitions;
  for (Node* conv : nodes_of(a.graph(), convs)) {
    if (!is_op(conv, convs)) continue;
    const auto conv_users = users_of(conv->output());
    if (conv_users.size() != 1 || !is_op(conv_users[0], kBatchNorm)) continue;
    Node* bn = conv_users[0];
    if (bn->input(kInput) != conv->output()) continue;
    Node* output = bn;
    if (has_relu) {
      const auto bn_users = users_of(bn->output());
      if (bn_users.size() != 1 || !is_op(bn_users[0], kRelu)) continue;
      output = bn_users[0];
    }
    WeightedPattern pattern = weighted_pattern(a, conv, a.weight(), {rep(conv)});
    if (a.is_annotated(pattern.partition) || !a.passes(pattern.partition)) continue;
    annotate_pattern(a, pattern.partition, conv, std::move(pattern.inputs), output);
    partitions.push_back(std::move(pattern.partition));
  }
  return partitions;
}

// Upstream's _annotate_gru_io_only on aten::gru.input(input, hx, params, ...):
// the input and hidden-state edges get the input spec. TorchScript keeps
// GRU's two results as two outputs of one node, which annotations cannot
// carry, so each result's spec goes on the input edges of its users.
std::vector<Partition> annotate_gru_io_only(Annotating& a) {
  std::vector<Partition> partitions;
  for (Node* gru : nodes_of(a.graph(), kGru)) {
    if (!is_op(gru, kGru)) continue;
    const Partition partition = {gru->input(0), gru->input(1), rep(gru)};
    if (a.is_annotated(partition) || !a.passes(rep(gru))) continue;
    partitions.push_back(partition);
    QuantizationAnnotation inputs;
    inputs.set_input(gru->input(0), a.input_act());
    inputs.set_input(gru->input(1), a.input_act());
    inputs.annotated = true;
    a.table().set(gru, std::move(inputs));
    for (Value* output : gru->outputs()) {
      for (Node* user : passes::effective_users(output)) {
        if (passes::is_operator_node(user)) a.table().at(user).set_input(output, a.output_act());
      }
    }
  }
  return partitions;
}

std::vector<Partition> annotate_adaptive_avg_pool2d(Annotating& a) {
  std::vector<Partition> partitions;
  for (Node* pool : nodes_of(a.graph(), kAdaptiveAvgPool2d)) {
    if (!is_op(pool, kAdaptiveAvgPool2d) || !a.passes(rep(pool))) continue;
    if (a.is_annotated({rep(pool)})) continue;
    partitions.push_back({rep(pool)});
    Value* input = pool->input(kInput);
    // Share the producer's output observer when it has one.
    QuantizationSpecPtr input_spec =
        a.has_annotated_output(input) ? shared_with(EdgeOrNode::output(input)) : a.input_act();
    QuantizationAnnotation annotation;
    annotation.set_input(input, input_spec);
    annotation.output_qspec = shared_with(EdgeOrNode::edge(input, pool));
    annotation.annotated = true;
    a.table().set(pool, std::move(annotation));
  }
  return partitions;
}

// add / mul [-> relu]: the tensor inputs of the op get the input spec (a
// literal scalar gets none); the op is left alone when an input is a huge
// scalar or not a float tensor.
std::vector<Partition> annotate_binary(Annotating& a, const OpSet& ops, bool has_relu, bool is_mul) {
  std::vector<Partition> partitions;
  for (Node* node : nodes_of(a.graph(), has_relu ? kRelu : ops)) {
    Node* op = node;
    Node* relu = nullptr;
    if (has_relu) {
      if (!is_op(node, kRelu)) continue;
      relu = node;
      op = op_node(relu->input(kInput));
      if (!op || !is_op(op, ops) || num_users(op->output()) > 1) continue;
    } else if (!is_op(node, ops)) {
      continue;
    }
    Partition partition = relu ? Partition{rep(relu), rep(op)} : Partition{rep(op)};
    if (a.is_annotated(partition) || !a.passes(partition)) continue;
    QuantizationAnnotation annotation;
    bool skip = false;
    for (size_t i = 0; i < 2 && !skip; ++i) {
      Value* input = op->input(i);
      if (!a.is_node_argument(input)) continue;
      if (a.is_large_scalar(input) || a.is_non_float_tensor(input)) {
        skip = true;
        break;
      }
      annotation.set_input(input, a.input_act());
      // Upstream's mul annotator lists its first input twice (kept for identical partitions).
      partition.push_back(is_mul && !has_relu && i == 1 ? op->input(0) : input);
    }
    if (skip) continue;
    annotation.annotated = true;
    if (relu) {
      a.table().set(op, std::move(annotation));
      QuantizationAnnotation output;
      output.output_qspec = a.output_act();
      output.annotated = true;
      a.table().set(relu, std::move(output));
    } else {
      annotation.output_qspec = a.output_act();
      a.table().set(op, std::move(annotation));
    }
    partitions.push_back(partition);
  }
  return partitions;
}

// Upstream's _has_annotated_qparam_source: through observer-sharing ops back
// to a producer with an annotated output.
bool has_annotated_qparam_source(Annotating& a, Value* value) {
  std::unordered_set<Value*> visited;
  while (visited.insert(value).second) {
    if (a.has_annotated_output(value)) return true;
    Node* node = op_node(value);
    if (!node || !is_share_obs_or_fq_op(node) || node->inputs().empty()) return false;
    value = node->input(kInput);
  }
  return false;
}

std::vector<Partition> annotate_cat(Annotating& a) {
  std::vector<Partition> partitions;
  for (Node* cat : nodes_of(a.graph(), kCat)) {
    if (!is_op(cat, kCat)) continue;
    // The filter applies as in torch 2.6 (ExecuTorch's cat annotator ignores it).
    Node* list = cat->input(0)->node();
    if (list->kind() != c10::prim::ListConstruct || list->inputs().empty()) continue;
    if (a.is_annotated({rep(cat)}) || !a.passes(rep(cat))) continue;
    const std::vector<Value*> inputs(list->inputs().begin(), list->inputs().end());
    partitions.push_back(inputs);
    // ExecuTorch's qparam source (torch 2.6 always takes input 0).
    Value* source = inputs[0];
    for (Value* input : inputs) {
      if (has_annotated_qparam_source(a, input)) {
        source = input;
        break;
      }
    }
    QuantizationAnnotation annotation;
    annotation.set_input(source, a.input_act());
    const auto shared = shared_with(EdgeOrNode::edge(source, cat));
    for (Value* input : inputs) {
      if (!annotation.input_spec(input) && input != source) annotation.set_input(input, shared);
    }
    annotation.output_qspec = shared;
    annotation.annotated = true;
    a.table().set(cat, std::move(annotation));
  }
  return partitions;
}

struct Registered {
  std::string name;
  Annotator annotator;
  const OpSet* operators;
};

Annotator wrap(std::function<std::vector<Partition>(Annotating&)> body) {
  return [body](Module& module, AnnotationTable& table, const QuantizationConfig* config, const NodeFilter& filter) {
    Annotating a(module, table, config, filter);
    return body(a);
  };
}

const std::vector<Registered>& registry() {
  static const auto* entries = new std::vector<Registered>{
      {"linear", wrap(annotate_linear), &kLinear},
      {"linear_relu", wrap(annotate_linear_relu), &kLinear},
      {"conv", wrap([](Annotating& a) { return annotate_conv(a, false); }), &kConv},
      {"conv_relu", wrap([](Annotating& a) { return annotate_conv_relu(a, false); }), &kConv},
      {"conv_transpose", wrap([](Annotating& a) { return annotate_conv(a, true); }), &kConvTranspose},
      {"conv_transpose_relu", wrap([](Annotating& a) { return annotate_conv_relu(a, true); }), &kConvTranspose},
      {"conv_bn", wrap([](Annotating& a) { return annotate_conv_bn(a, false, false); }), &kConv},
      {"conv_bn_relu", wrap([](Annotating& a) { return annotate_conv_bn(a, true, false); }), &kConv},
      {"conv_transpose_bn", wrap([](Annotating& a) { return annotate_conv_bn(a, false, true); }), &kConvTranspose},
      {"conv_transpose_bn_relu", wrap([](Annotating& a) { return annotate_conv_bn(a, true, true); }),
       &kConvTranspose},
      {"gru_io_only", wrap(annotate_gru_io_only), &kGru},
      {"adaptive_avg_pool2d", wrap(annotate_adaptive_avg_pool2d), &kAdaptiveAvgPool2d},
      {"add", wrap([](Annotating& a) { return annotate_binary(a, kAdd, false, false); }), &kAdd},
      {"add_relu", wrap([](Annotating& a) { return annotate_binary(a, kAdd, true, false); }), &kAdd},
      {"mul", wrap([](Annotating& a) { return annotate_binary(a, kMul, false, true); }), &kMul},
      {"mul_relu", wrap([](Annotating& a) { return annotate_binary(a, kMul, true, true); }), &kMul},
      {"cat", wrap(annotate_cat), &kCat},
  };
  return *entries;
}

const Registered& find_registered(const std::string& name) {
  for (const auto& entry : registry()) {
    if (entry.name == name) return entry;
  }
  std::string known;
  for (const auto& entry : registry()) known += (known.empty() ? "" : ", ") + entry.name;
  TORCH_CHECK(false, "no XNNPACK annotator named '", name, "' (annotators: ", known, ")");
}

}  // namespace

const std::vector<std::string>& annotator_names() {
  static const auto* names = [] {
    auto* result = new std::vector<std::string>();
    for (const auto& entry : registry()) result->push_back(entry.name);
    return result;
  }();
  return *names;
}

const Annotator& find_annotator(const std::string& name) { return find_registered(name).annotator; }

const std::vector<std::string>& pattern_operators(const std::string& annotator) {
  return find_registered(annotator).operators->names;
}

bool is_share_obs_or_fq_op(const Node* node) { return is_op(node, kShareObserverOps); }

void propagate_annotation(Module& module, AnnotationTable& annotations) {
  Graph& graph = *module.get_method("forward").graph();
  for (Node* node : nodes_of(graph, kShareObserverOps)) {
    if (!is_share_obs_or_fq_op(node) || node->inputs().empty()) continue;
    Value* previous = node->input(kInput);
    Node* producer = op_node(previous);
    if (!producer) continue;
    const auto* produced = annotations.find(producer);
    if (!produced || !produced->output_qspec) continue;
    const auto* existing = annotations.find(node);
    if (existing && existing->annotated) continue;
    const auto shared = shared_with(EdgeOrNode::output(previous));
    QuantizationAnnotation annotation;
    annotation.set_input(previous, shared);
    annotation.output_qspec = shared;
    annotation.annotated = true;
    annotations.set(node, std::move(annotation));
  }
}

NodeIndexScope::NodeIndexScope(Graph& graph) : index_(new Index(graph)), previous_(current_index) {
  current_index = index_.get();
}

NodeIndexScope::~NodeIndexScope() { current_index = previous_; }

}  // namespace quantizer
}  // namespace torch_pt2e
