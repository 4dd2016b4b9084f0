#include "torch_pt2e_plugin/passes/convert_observers.h"

#include <algorithm>
#include <cstring>
#include <functional>
#include <initializer_list>
#include <map>
#include <unordered_map>
#include <unordered_set>

#include <c10/util/Exception.h>
#include <torch/csrc/jit/api/function_impl.h>
#include <torch/csrc/jit/ir/constants.h>

#include "kernels/checks.h"
#include "torch_pt2e_plugin/jit/class_attributes.h"
#include "torch_pt2e_plugin/observers/derived_observer.h"
#include "torch_pt2e_plugin/observers/fake_quantize.h"
#include "torch_pt2e_plugin/observers/observer.h"
#include "torch_pt2e_plugin/observers/observer_config.h"
#include "torch_pt2e_plugin/passes/attribute_groups.h"
#include "torch_pt2e_plugin/passes/graph_utils.h"
#include "torch_pt2e_plugin/passes/observer_calls.h"
#include "torch_pt2e_plugin/passes/qdq_nodes.h"

namespace torch_pt2e {
namespace passes {
namespace {

using torch::jit::Graph;
using torch::jit::Module;
using torch::jit::Node;
using torch::jit::Value;

const c10::Symbol kChooseQParams = c10::Symbol::fromQualString("quantized_decomposed::choose_qparams");
const c10::Symbol kChooseQParamsSymmetric =
    c10::Symbol::fromQualString("quantized_decomposed::choose_qparams_symmetric");

// The static dtypes convert handles (upstream's SUPPORTED_QDTYPES): the
// quantized dtypes and every dtype quantize_per_tensor has bounds for.
bool is_supported_static_dtype(at::ScalarType dtype) {
  return dtype == at::kQUInt8 || dtype == at::kQInt8 || dtype == at::kQInt32 ||
         kernels::quant_dtype_bounds(dtype).has_value();
}

// What convert needs of an observer, whichever kind it is.
struct ObserverFacts {
  at::ScalarType dtype;
  c10::QScheme qscheme;
  bool is_dynamic = false;
  c10::optional<std::pair<int64_t, int64_t>> range;
  int64_t ch_axis = 0;
  double eps = observers::kFloat32Eps;
  bool derived = false;
  // Set for a LearnableFakeQuantize: its trained parameters give the qparams.
  c10::optional<Module> learned_from;
};

ObserverFacts facts_of(const Module& observer) {
  ObserverFacts facts;
  if (observers::is_derived_observer(observer)) {
    const auto config = observers::read_derived_config(observer);
    facts.dtype = config.dtype;
    facts.qscheme = config.qscheme;
    facts.is_dynamic = config.is_dynamic;
    if (config.quant_min && config.quant_max) facts.range = std::make_pair(*config.quant_min, *config.quant_max);
    facts.ch_axis = config.ch_axis.value_or(0);
    facts.derived = true;
    return facts;
  }
  const auto config = observers::read_config(observer);
  facts.dtype = config.dtype;
  facts.qscheme = config.qscheme;
  facts.is_dynamic = config.is_dynamic;
  facts.range = observers::quant_range(config);
  facts.ch_axis = config.ch_axis;
  facts.eps = config.eps;
  return facts;
}

std::tuple<at::Tensor, at::Tensor> qparams_of(const Module& observer, const ObserverFacts& facts) {
  if (facts.learned_from) return observers::learnable_qparams(*facts.learned_from);
  return facts.derived ? observers::derived_qparams(observer) : observers::calculate_qparams(observer);
}

// Whether `module`'s attribute in `slot` is an observer, a derived observer
// or a fake quantizer.
bool slot_holds_observer(const Module& module, size_t slot) {
  const c10::IValue& value = module._ivalue()->getSlot(slot);
  if (!value.isObject() || !module.type()->getAttribute(slot)->cast<c10::ClassType>()) return false;
  const Module child(value.toObject());
  return observers::is_observer(child) || observers::is_derived_observer(child) || observers::is_fake_quantize(child);
}

class ObserverConverter {
 public:
  // Converts calls in `graph`, a graph of `module`, whose observers are
  // looked up on `module` and then on `observers`.
  ObserverConverter(Module& module, Graph& graph, const Module& observers)
      : module_(module), graph_(graph) {
    // Objects by name, looked up once: Module::attr scans every attribute,
    // and observers are thousands of attributes of one module. An observer
    // module has (convert_pt2e clones those it sets qparams on) comes
    // first, then one of observers.
    for (const Module* owner : {static_cast<const Module*>(&module), &observers}) {
      for (const Module& holder : attribute_holders(*owner, kObserverGroupsAttribute)) {
        const auto& type = *holder.type();
        for (size_t i = 0; i < type.numAttributes(); ++i) {
          const c10::IValue& value = holder._ivalue()->getSlot(i);
          if (value.isObject()) objects_.emplace(type.getAttributeName(i), value.toObject());
        }
      }
    }
  }

  // The observer `node` calls and its name, where it is a call of a known observer.
  struct Called {
    Module observer;
    std::string name;
  };
  c10::optional<Called> called_observer(const Node* node) const {
    auto name = observer_call_name(node);
    if (!name) return c10::nullopt;
    const auto it = objects_.find(*name);
    if (it == objects_.end()) return c10::nullopt;
    return Called{Module(it->second), std::move(*name)};
  }

  // Once, before converting `calls` calls: per-channel scales and zero
  // points, two per call at most, go on the module or, for very many, into
  // groups (passes/attribute_groups.h) read at the graph's start.
  void expect_calls(size_t calls) {
    qparam_holders_.emplace(module_, graph_, kQParamGroupsAttribute, 2 * static_cast<int64_t>(calls));
  }

  // The in-place pass: every call in the graph's top-level block.
  std::vector<ConvertedObserver> run() {
    std::vector<std::pair<Node*, Called>> calls;
    for (Node* node : graph_.nodes()) {
      if (auto called = called_observer(node)) calls.emplace_back(node, std::move(*called));
    }
    expect_calls(calls.size());
    std::vector<ConvertedObserver> converted;
    converted.reserve(calls.size());
    for (const auto& [call, called] : calls) {
      torch::jit::WithInsertPoint guard(call);
      converted.push_back(convert(call->input(1), called.observer, called.name));
      call->output()->replaceAllUsesWith(replacement(converted.back()));
      destroy_observer_call(call);
    }
    return converted;
  }

  // The nodes standing for a call of `called` (named `name`) on `input`,
  // inserted at the graph's insert point.
  ConvertedObserver convert(Value* input, const Module& called, const std::string& name) {
    // A fake-quantize module converts as its observer (upstream's
    // FakeQuantize.calculate_qparams is its observer's).
    const Module observer = observers::is_fake_quantize(called) ? observers::fake_quantize_observer(called) : called;
    ObserverFacts facts = facts_of(observer);
    // A learnable fake quantize's qparams are its trained parameters.
    if (observers::is_fake_quantize(called) &&
        observers::read_fake_quantize_config(called).kind == observers::FakeQuantizeKind::kLearnableFakeQuantize) {
      facts.learned_from = called;
    }
    ConvertedObserver result;
    result.input = input;
    if (is_supported_static_dtype(facts.dtype) && !facts.is_dynamic) {
      convert_static(observer, facts, input, result);
    } else if (facts.is_dynamic) {
      convert_dynamic(facts, input, result, name);
    } else if (facts.dtype == at::kHalf) {
      Value* to_half = graph_.insert(qdq_kinds().convert_element_type, {input, static_cast<int64_t>(at::kHalf)});
      Value* back = graph_.insert(qdq_kinds().convert_element_type, {to_half, static_cast<int64_t>(at::kFloat)});
      result.quantize = to_half->node();
      result.dequantize = back->node();
    }
    return result;
  }

  // What the call's users read instead: the dequantize, or the input where
  // the observer was removed.
  static Value* replacement(const ConvertedObserver& converted) {
    return converted.dequantize ? converted.dequantize->output() : converted.input;
  }

 private:
  std::pair<int64_t, int64_t> range_or_fail(const ObserverFacts& facts, const std::string& what) const {
    TORCH_CHECK(facts.range.has_value(), "convert_pt2e: the ", what, " observer has no quant_min/quant_max");
    return *facts.range;
  }

  // dequantize's out_dtype: the observed value's dtype when it is known and
  // not float32, else its default (None).
  Value* dequantize_out_dtype(Value* input) {
    const auto type = input->type()->cast<c10::TensorType>();
    if (type && type->scalarType() && *type->scalarType() != at::kFloat) {
      return constant(static_cast<int64_t>(*type->scalarType()));
    }
    return constant(c10::IValue());
  }

  // A buffer of the module (or of a group) under a fresh name from `base`,
  // read at the insert point.
  Value* qparam_attribute(const std::string& base, const at::Tensor& value) {
    if (!names_) names_.emplace(module_);
    const std::string name = names_->take_unique(base);
    const AttributeGroups::Holder holder = qparam_holders_->next();
    jit::append_attribute(holder.module, name, c10::TensorType::get(), value, c10::AttributeKind::BUFFER);
    // At the insert point (the call), like constant().
    Node* read = graph_.insertNode(create_get_attr(graph_, holder.read, name, c10::TensorType::get()));
    read->output()->setDebugName(name);
    return read->output();
  }

  // A quantize / dequantize node with every argument of its schema given, in
  // schema order, at the insert point. Graph::insert would find the overload
  // by matching each candidate schema against the arguments, which on a large
  // model is a good part of convert; the kind alone is given here and the
  // overload is found from the inputs' types when a pass asks for the schema
  // (checked once per kind, so an unregistered op still fails here).
  Value* insert_op(c10::Symbol kind, std::initializer_list<Value*> inputs) {
    Node* node = graph_.insertNode(graph_.create(kind, inputs, /*num_outputs=*/1));
    node->output()->setType(c10::TensorType::get());
    if (checked_kinds_.insert(kind).second) {
      TORCH_CHECK(node->maybeSchema() != nullptr, "convert_pt2e: no schema of ", kind.toQualString(),
                  " takes these arguments; is the quantized_decomposed library loaded?");
    }
    return node->output();
  }

  // Constant nodes for literal arguments, at the first call needing them, each shared
  // by up to kConstantUses uses. Graph::insert adds a constant for each
  // literal argument of each call, about ten per q/dq pair, and every pass
  // after convert walks them until constant pooling merges them (on a
  // 30k-node graph: 175k nodes instead of 70k). The cap: destroying a node
  // looks its use up in each input's list of uses, so a constant with
  // thousands of uses would make DuplicateDQ and fold_quantize, which
  // destroy a node per q/dq, quadratic.
  static constexpr size_t kConstantUses = 64;
  Value* constant(const c10::IValue& value) {
    std::pair<int, int64_t> key;
    if (value.isNone()) {
      key = {0, 0};
    } else if (value.isInt()) {
      key = {1, value.toInt()};
    } else {
      TORCH_CHECK(value.isDouble(), "internal: convert_observers caches int, float and None constants, got ",
                  value.tagKind());
      const double d = value.toDouble();
      int64_t bits = 0;
      static_assert(sizeof(bits) == sizeof(d), "double is 64 bits");
      std::memcpy(&bits, &d, sizeof(d));
      key = {2, bits};
    }
    auto& cached = constants_[key];
    if (cached == nullptr || cached->uses().size() >= kConstantUses) {
      // At the insert point (before the observer call, in the graph's own
      // block): calls are converted in graph order, so it comes before every
      // later use. Not at the graph's start: see pool_constants
      // (graph_utils.h); inserting before the first node, once LibTorch has
      // renumbered the graph, renumbers all of it per insertion.
      cached = graph_.insertConstant(value);
    }
    return cached;
  }

  void convert_static(const Module& observer, const ObserverFacts& facts, Value* input, ConvertedObserver& result) {
    const auto [scale, zero_point] = qparams_of(observer, facts);
    const auto range = range_or_fail(facts, "static");
    const int64_t dtype = static_cast<int64_t>(observers::integer_dtype(facts.dtype));
    if (observers::is_per_channel(facts.qscheme)) {
      const std::string index = std::to_string(per_channel_++);
      Value* scale_value = qparam_attribute("_scale_" + index, scale);
      Value* zp_value = qparam_attribute("_zero_point_" + index, zero_point);
      Value* axis = constant(facts.ch_axis);
      Value* qmin = constant(range.first);
      Value* qmax = constant(range.second);
      Value* dtype_value = constant(dtype);
      Value* q = insert_op(qdq_kinds().quantize_per_channel, {input, scale_value, zp_value, axis, qmin, qmax, dtype_value});
      Value* dq = insert_op(qdq_kinds().dequantize_per_channel,
                            {q, scale_value, zp_value, axis, qmin, qmax, dtype_value, dequantize_out_dtype(input)});
      result.quantize = q->node();
      result.dequantize = dq->node();
      return;
    }
    TORCH_CHECK(scale.numel() == 1 && zero_point.numel() == 1, "convert_pt2e: a per-tensor observer returned ",
                scale.numel(), " scales and ", zero_point.numel(), " zero points");
    Value* scale_literal = constant(scale.item<double>());
    Value* zp_literal = constant(zero_point.item<int64_t>());
    Value* qmin = constant(range.first);
    Value* qmax = constant(range.second);
    Value* dtype_value = constant(dtype);
    Value* q = insert_op(qdq_kinds().quantize_per_tensor, {input, scale_literal, zp_literal, qmin, qmax, dtype_value});
    Value* dq = insert_op(qdq_kinds().dequantize_per_tensor,
                          {q, scale_literal, zp_literal, qmin, qmax, dtype_value, dequantize_out_dtype(input)});
    result.quantize = q->node();
    result.dequantize = dq->node();
  }

  void convert_dynamic(const ObserverFacts& facts, Value* input, ConvertedObserver& result,
                       const std::string& name) {
    const at::ScalarType dtype = observers::integer_dtype(facts.dtype);
    TORCH_CHECK(dtype == at::kByte || dtype == at::kChar, "convert_pt2e: dynamic quantization supports uint8 and ",
                "int8, but observer ", name, " has dtype ", facts.dtype);
    const auto range = range_or_fail(facts, "dynamic");
    const bool symmetric = facts.qscheme == c10::kPerTensorSymmetric;
    Node* choose = graph_.create(symmetric ? kChooseQParamsSymmetric : kChooseQParams, 2);
    choose->addInput(input);
    Value* qmin = constant(range.first);
    Value* qmax = constant(range.second);
    Value* dtype_value = constant(static_cast<int64_t>(dtype));
    choose->addInput(qmin);
    choose->addInput(qmax);
    choose->addInput(constant(facts.eps));
    choose->addInput(dtype_value);
    choose->output(0)->setType(c10::TensorType::get());
    choose->output(1)->setType(c10::TensorType::get());
    graph_.insertNode(choose);
    TORCH_CHECK(choose->maybeSchema() != nullptr, "convert_pt2e: quantized_decomposed::choose_qparams",
                symmetric ? "_symmetric" : "", ".tensor is not registered");
    Value* q = insert_op(qdq_kinds().quantize_per_tensor, {input, choose->output(0), choose->output(1), qmin, qmax, dtype_value});
    Value* dq = insert_op(qdq_kinds().dequantize_per_tensor, {q, choose->output(0), choose->output(1), qmin, qmax, dtype_value,
                                                 dequantize_out_dtype(input)});
    result.quantize = q->node();
    result.dequantize = dq->node();
  }

  Module& module_;
  Graph& graph_;
  std::unordered_map<std::string, c10::intrusive_ptr<c10::ivalue::Object>> objects_;  // observers by name
  std::map<std::pair<int, int64_t>, Value*> constants_;  // by kind (None, int, float) and value bits
  std::unordered_set<c10::Symbol> checked_kinds_;         // kinds insert_op has found a schema for
  int64_t per_channel_ = 0;
  c10::optional<AttributeNames> names_;  // made on the first per-channel observer
  c10::optional<AttributeGroups> qparam_holders_;  // made once the calls are known
};

}  // namespace

std::vector<ConvertedObserver> convert_observers(Module& module) { return convert_observers(module, module); }

std::vector<ConvertedObserver> convert_observers(Module& module, const Module& observers) {
  return ObserverConverter(module, *module.get_method("forward").graph(), observers).run();
}

namespace {

// What convert_observers destroys in `source`'s top-level block: the calls it
// converts and, once they are gone, the observers' reads and their groups'
// (see destroy_observer_call). They are calls and reads of one output each,
// marked by its Value::unique().
class LeftOut {
 public:
  struct Call {
    const Node* node;
    Module observer;
    std::string name;
  };

  LeftOut(Graph& source, const ObserverConverter& converter, size_t value_count) : marks_(value_count, 0) {
    // Uses come after definitions, so walking back decides every use of a
    // read before the read.
    for (auto it = source.nodes().rbegin(); it != source.nodes().rend(); ++it) {
      const Node* node = *it;
      if (auto called = converter.called_observer(node)) {
        calls_.push_back({node, std::move(called->observer), std::move(called->name)});
        marks_[node->output()->unique()] = 1;
      } else if (node->kind() == c10::prim::GetAttr && all_uses_left_out(node)) {
        const auto& first_use = node->output()->uses()[0];
        const bool observer_read = first_use.user->kind() == c10::prim::CallMethod && first_use.offset == 0;
        if (observer_read || reads_attribute_group(node, kObserverGroupsAttribute)) {
          marks_[node->output()->unique()] = 1;
        }
      }
    }
  }

  bool contains(const Node* node) const {
    return node->outputs().size() == 1 && node->output()->unique() < marks_.size() && marks_[node->output()->unique()];
  }
  size_t call_count() const { return calls_.size(); }
  // The call `node` if it is the next call left out in graph order (else an observer's read).
  const Call* next_call(const Node* node) const {
    return !calls_.empty() && calls_.back().node == node ? &calls_.back() : nullptr;
  }
  void pop_call() { calls_.pop_back(); }

 private:
  bool all_uses_left_out(const Node* node) const {
    const auto& uses = node->output()->uses();
    return !uses.empty() &&
           std::all_of(uses.begin(), uses.end(), [&](const torch::jit::Use& use) { return contains(use.user); });
  }

  std::vector<char> marks_;
  std::vector<Call> calls_;  // last first
};

}  // namespace

std::vector<ConvertedObserver> copy_converting_observers(Module& module, const Module& prepared,
                                                         const jit::ClassClones& classes,
                                                         const std::function<void(const Node*, Node*)>& copied) {
  const torch::jit::Function& forward = prepared.get_method("forward").function();
  Graph& source = *torch::jit::toGraphFunction(forward).graph();
  auto graph = std::make_shared<Graph>();
  // The top-level block's values (the only ones looked up here: createClone
  // maps a nested block's own values itself) by Value::unique(), which a
  // graph hands out densely as it makes values.
  size_t value_count = 0;
  for (const Value* input : source.inputs()) value_count = std::max(value_count, input->unique() + 1);
  for (const Node* node : source.nodes()) {
    for (const Value* output : node->outputs()) value_count = std::max(value_count, output->unique() + 1);
  }
  std::vector<Value*> env(value_count, nullptr);
  const auto lookup = [&](Value* value) {
    Value* copy = value->unique() < env.size() ? env[value->unique()] : nullptr;
    TORCH_INTERNAL_ASSERT(copy != nullptr, "copy_converting_observers: %", value->debugName(), " has no copy");
    return copy;
  };
  for (Value* input : source.inputs()) env[input->unique()] = graph->addInput()->copyMetadata(input);
  ObserverConverter converter(module, *graph, prepared);
  LeftOut left_out(source, converter, value_count);
  converter.expect_calls(left_out.call_count());

  std::vector<ConvertedObserver> converted;
  converted.reserve(left_out.call_count());
  for (Node* node : source.nodes()) {
    if (left_out.contains(node)) {
      if (const auto* call = left_out.next_call(node)) {
        // Appended, as the call's copy would be.
        converted.push_back(converter.convert(lookup(node->input(1)), call->observer, call->name));
        env[node->output()->unique()] = ObserverConverter::replacement(converted.back());
        left_out.pop_call();
      }
      continue;
    }
    Node* copy = graph->insertNode(graph->createClone(node, lookup));
    for (size_t i = 0; i < node->outputs().size(); ++i) env[node->output(i)->unique()] = copy->output(i);
    if (copied) copied(node, copy);
  }
  for (Value* output : source.outputs()) graph->registerOutput(lookup(output));
  jit::add_cloned_method(module, forward, std::move(graph), classes);
  return converted;
}

std::vector<std::string> observer_attribute_names(const Module& module) {
  std::vector<std::string> names;
  const auto& type = module.type();
  for (size_t slot = 0; slot < type->numAttributes(); ++slot) {
    if (slot_holds_observer(module, slot) || type->getAttributeName(slot) == kObserverGroupsAttribute) {
      names.push_back(type->getAttributeName(slot));
    }
  }
  return names;
}

void remove_observer_modules(Module& module) {
  // By slot, last first (observers were appended last, so each removal
  // moves few slots); removing by name would scan the slots once more each.
  const auto& type = module.type();
  for (size_t slot = type->numAttributes(); slot-- > 0;) {
    if (slot_holds_observer(module, slot) || type->getAttributeName(slot) == kObserverGroupsAttribute) {
      const std::string name = type->getAttributeName(slot);
      module._ivalue()->unsafeRemoveSlot(slot);
      type->unsafeRemoveAttribute(name);
    }
  }
}

}  // namespace passes
}  // namespace torch_pt2e
