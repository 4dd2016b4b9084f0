#include "torch_pt2e_plugin/passes/insert_observers.h"

#include <unordered_map>
#include <unordered_set>

#include <c10/util/Exception.h>
#include <nlohmann/json.hpp>

#include "torch_pt2e_plugin/observers/derived_observer.h"
#include "torch_pt2e_plugin/observers/fake_quantize.h"
#include "torch_pt2e_plugin/observers/observer.h"
#include "torch_pt2e_plugin/observers/observer_config.h"
#include "torch_pt2e_plugin/passes/attribute_groups.h"
#include "torch_pt2e_plugin/passes/graph_utils.h"
#include "torch_pt2e_plugin/passes/observer_calls.h"
#include "torch_pt2e_plugin/passes/prepare_state.h"
#include "torch_pt2e_plugin/passes/sharing_groups.h"

namespace torch_pt2e {
namespace passes {
namespace {

using quantizer::EdgeOrNode;
using quantizer::QuantizationSpecPtr;
using quantizer::SpecKind;
using torch::jit::Graph;
using torch::jit::Module;
using torch::jit::Node;
using torch::jit::Value;

constexpr const char* kObserverPrefix = "activation_post_process_";

// The observer configuration for a plain spec: the constructor's bound
// arguments, overridden by the spec's fields (upstream's
// `ctr.with_args(**asdict(spec))`, ch_axis only for per-channel classes).
observers::ObserverConfig config_for(const quantizer::QuantizationSpec& spec) {
  nlohmann::json args = spec.observer_or_fake_quant_ctr.kwargs;
  args["kind"] = spec.observer_or_fake_quant_ctr.name;
  args["dtype"] = observers::dtype_name(spec.dtype);
  if (spec.quant_min) args["quant_min"] = *spec.quant_min;
  if (spec.quant_max) args["quant_max"] = *spec.quant_max;
  if (spec.qscheme) args["qscheme"] = observers::qscheme_name(*spec.qscheme);
  args["is_dynamic"] = spec.is_dynamic;
  if (spec.observer_or_fake_quant_ctr.name.find("PerChannel") != std::string::npos && spec.ch_axis) {
    args["ch_axis"] = *spec.ch_axis;
  }
  return args.get<observers::ObserverConfig>();
}

// The fake-quantize configuration for a spec whose constructor names a
// fake-quantize class: its keyword arguments, overridden by the spec's
// fields, which upstream's constructors hand to the observer.
observers::FakeQuantizeConfig fake_quantize_config_for(const quantizer::QuantizationSpec& spec) {
  nlohmann::json args = spec.observer_or_fake_quant_ctr.kwargs;
  if (args.is_null()) args = nlohmann::json::object();
  args["dtype"] = observers::dtype_name(spec.dtype);
  if (spec.quant_min) args["quant_min"] = *spec.quant_min;
  if (spec.quant_max) args["quant_max"] = *spec.quant_max;
  if (spec.qscheme) args["qscheme"] = observers::qscheme_name(*spec.qscheme);
  args["is_dynamic"] = spec.is_dynamic;
  return observers::fake_quantize_config(spec.observer_or_fake_quant_ctr.name, args);
}

observers::ObserverConfig config_for(const quantizer::FixedQParamsQuantizationSpec& spec) {
  nlohmann::json args = {{"kind", "FixedQParamsObserver"},
                         {"dtype", observers::dtype_name(spec.dtype)},
                         {"scale", spec.scale},
                         {"zero_point", spec.zero_point},
                         {"is_dynamic", spec.is_dynamic}};
  if (spec.quant_min) args["quant_min"] = *spec.quant_min;
  if (spec.quant_max) args["quant_max"] = *spec.quant_max;
  if (spec.qscheme) args["qscheme"] = observers::qscheme_name(*spec.qscheme);
  return args.get<observers::ObserverConfig>();
}

class ObserverInserter {
 public:
  ObserverInserter(Module& module, const quantizer::AnnotationTable& annotations, bool is_qat)
      : module_(module),
        graph_(*module.get_method("forward").graph()),
        annotations_(annotations),
        is_qat_(is_qat) {}

  InsertObserversResult run() {
    const std::vector<Node*> nodes(graph_.nodes().begin(), graph_.nodes().end());
    // Before anything is rewired: every annotated input must be an input of its node.
    for (Node* node : nodes) {
      if (const auto* annotation = annotations_.find(node)) check_inputs_belong(node, *annotation);
    }
    groups_ = compute_sharing_groups(graph_, annotations_);
    instances_.resize(groups_.num_groups);
    key_instance_.assign(groups_.keys.size(), -1);
    group_instance_.assign(groups_.num_groups, kUnplanned);
    for (size_t i = 0; i < groups_.keys.size(); ++i) plan_instance(static_cast<int64_t>(i));
    // Observers and fake quantizers go on the top module, or into groups
    // when there are very many (passes/attribute_groups.h); derived
    // observers, which the Python package looks up by name, stay on it.
    int64_t grouped = 0;
    for (const Instance& instance : instances_) {
      grouped += instance.spec != nullptr && instance.spec->kind() != SpecKind::kDerived;
    }
    holders_.emplace(module_, graph_, kObserverGroupsAttribute, grouped);

    PrepareState state;
    state.is_qat = is_qat_;
    int64_t ordinal = -1;
    for (Node* node : nodes) {
      if (is_operator_node(node)) ++ordinal;
      const auto* annotation = annotations_.find(node);
      if (!annotation) continue;
      TORCH_CHECK(is_operator_node(node), "prepare_pt2e: only operator nodes can be annotated, got ",
                  node->kind().toQualString());
      AnnotatedNodeRecord record;
      record.ordinal = ordinal;
      record.kind = node->kind().toQualString();
      record.valid = annotation->is_valid();
      insert_input_observers(node, *annotation, record);
      record.output = insert_output_observer(node);
      state.annotated.push_back(std::move(record));
    }
    store_prepare_state(module_, state);
    return result_;
  }

 private:
  struct Instance {
    QuantizationSpecPtr spec;                  // the spec the instance is built from
    std::vector<EdgeOrNode> derived_from;      // resolved to instances at registration
    std::string name;                          // attribute name once registered
    c10::optional<Module> module;
    Value* holder = nullptr;                   // what the graph reads the module from
  };

  // Upstream's _create_obs_or_fq_from_qspec, deferred: which instance each
  // key (by index) uses (-1: no observer). The group's first key decides.
  void plan_instance(int64_t key) {
    const int64_t group = groups_.key_group[key];
    if (group_instance_[group] == kUnplanned) {
      const QuantizationSpecPtr& spec = groups_.key_spec[key];
      if (!spec) {
        group_instance_[group] = -1;
      } else if (spec->kind() == SpecKind::kShared) {
        const EdgeOrNode& target = static_cast<const quantizer::SharedQuantizationSpec&>(*spec).edge_or_node;
        const int64_t target_index = groups_.index_of(target);
        TORCH_CHECK(target_index >= 0 && target_index < key, "prepare_pt2e: ", groups_.keys[key].describe(),
                    " shares the observer of ", target.describe(),
                    ", which has no observer yet; make sure only to refer to an edge or output that is annotated "
                    "earlier in graph order with a quantization spec");
        group_instance_[group] = key_instance_[target_index];
      } else {
        instances_[group].spec = spec;
        group_instance_[group] = group;
      }
    }
    key_instance_[key] = group_instance_[group];
  }

  // Registers the instance's module on the model the first time it is used.
  Module& instance_module(int64_t id) {
    Instance& instance = instances_[id];
    if (instance.module) return *instance.module;
    instance.name = fresh_observer_name();
    const QuantizationSpecPtr& spec = instance.spec;
    // (derived observers stay on the top module)
    Module owner = module_;
    instance.holder = graph_.inputs()[0];
    if (spec->kind() != SpecKind::kDerived) {
      AttributeGroups::Holder holder = holders_->next();
      owner = holder.module;
      instance.holder = holder.read;
    }
    switch (spec->kind()) {
      case SpecKind::kQuantization: {
        const auto& plain = static_cast<const quantizer::QuantizationSpec&>(*spec);
        if (observers::is_fake_quantize_kind_name(plain.observer_or_fake_quant_ctr.name)) {
          instance.module = observers::add_fake_quantize(owner, instance.name, fake_quantize_config_for(plain));
        } else {
          instance.module = observers::add_observer_with_new_name(owner, instance.name, cached_config_for(plain));
        }
        break;
      }
      case SpecKind::kFixedQParams: {
        const auto observer = config_for(static_cast<const quantizer::FixedQParamsQuantizationSpec&>(*spec));
        if (is_qat_) {
          // Upstream's prepare: FixedQParamsFakeQuantize over the same observer.
          observers::FakeQuantizeConfig fixed;
          fixed.kind = observers::FakeQuantizeKind::kFixedQParamsFakeQuantize;
          fixed.observer = observer;
          instance.module = observers::add_fake_quantize(owner, instance.name, fixed);
        } else {
          instance.module = observers::add_observer_with_new_name(owner, instance.name, observer);
        }
        break;
      }
      case SpecKind::kDerived: {
        const auto& derived = static_cast<const quantizer::DerivedQuantizationSpec&>(*spec);
        std::vector<Module> sources;
        for (const auto& source : derived.derived_from) {
          const int64_t source_instance = instance_for(source);
          TORCH_CHECK(source_instance >= 0, "prepare_pt2e: DerivedQuantizationSpec derives ", "from ",
                      source.describe(), ", which has no observer");
          sources.push_back(instance_module(source_instance));
        }
        observers::DerivedObserverConfig config;
        config.dtype = derived.dtype;
        config.qscheme = derived.qscheme.value_or(c10::kPerTensorAffine);
        config.quant_min = derived.quant_min;
        config.quant_max = derived.quant_max;
        config.ch_axis = derived.ch_axis;
        config.is_dynamic = derived.is_dynamic;
        config.derive_qparams_fn = derived.derive_qparams_fn;
        instance.module = observers::add_derived_observer(module_, instance.name, config, sources);
        break;
      }
      case SpecKind::kShared:
        TORCH_CHECK(false, "internal: a shared spec has no instance of its own");
    }
    call_names_[instance.name] = id;
    ++result_.observers;
    return *instance.module;
  }

  // config_for(spec), made once per spec: specs are shared by many
  // instances (a quantizer's config has a few), and each config is a JSON
  // round trip.
  const observers::ObserverConfig& cached_config_for(const quantizer::QuantizationSpec& spec) {
    auto it = configs_.find(&spec);
    if (it == configs_.end()) it = configs_.emplace(&spec, config_for(spec)).first;
    return it->second;
  }

  // unique_attribute_name's choice, without its scan of the module per name.
  std::string fresh_observer_name() {
    if (!taken_names_) taken_names_.emplace(module_);
    return taken_names_->take_unique(kObserverPrefix + std::to_string(next_index_++));
  }

  // The instance a call node runs, or -1 if the node is not an observer call.
  int64_t instance_of_call(const Node* node) const {
    const auto name = observer_call_name(node);
    if (!name) return -1;
    const auto it = call_names_.find(*name);
    return it == call_names_.end() ? -1 : it->second;
  }

  int64_t instance_for(const EdgeOrNode& key) const {
    const int64_t index = groups_.index_of(key);
    return index < 0 ? -1 : key_instance_[index];
  }

  Value* insert_call(int64_t id, Value* input) {
    const Module& observer = instance_module(id);
    ++result_.observer_calls;
    return insert_observer_call(graph_, instances_[id].holder, instances_[id].name, observer.type(), input);
  }

  void check_inputs_belong(Node* node, const quantizer::QuantizationAnnotation& annotation) const {
    for (const auto& entry : annotation.input_qspec_map) {
      bool found = false;
      for (Value* input : node->inputs()) {
        if (input == entry.first) found = true;
        if (input->node()->kind() == c10::prim::ListConstruct) {
          for (Value* element : input->node()->inputs()) found |= element == entry.first;
        }
      }
      TORCH_CHECK(found, "prepare_pt2e: the annotation of ", node->kind().toQualString(), " (%",
                  node->outputs().empty() ? std::string("?") : node->output(0)->debugName(),
                  ") names input %", entry.first->debugName(), ", which is not one of its inputs");
    }
  }

  // Upstream's _maybe_insert_input_observer_for_arg_or_kwarg for one use.
  bool observe_use(Node* consumer, Node* user, size_t input_index) {
    Value* arg = user->input(input_index);
    Value* original = arg;
    while (instance_of_call(original->node()) >= 0) original = original->node()->input(1);
    const int64_t id = instance_for(EdgeOrNode::edge(original, consumer));
    if (id < 0) return false;
    if (instance_for(EdgeOrNode::output(original)) == id) return true;
    for (const auto& use : arg->uses()) {
      if (instance_of_call(use.user) == id) {
        user->replaceInput(input_index, use.user->output());
        return true;
      }
    }
    user->replaceInput(input_index, insert_call(id, arg));
    return true;
  }

  void insert_input_observers(Node* node, const quantizer::QuantizationAnnotation& annotation,
                              AnnotatedNodeRecord& record) {
    for (size_t i = 0; i < node->inputs().size(); ++i) {
      Node* list = node->input(i)->node();
      if (list->kind() == c10::prim::ListConstruct) {
        for (size_t j = 0; j < list->inputs().size(); ++j) {
          if (observe_use(node, list, j)) record.inputs.emplace_back(i, j);
        }
      } else if (observe_use(node, node, i)) {
        record.inputs.emplace_back(i, -1);
      }
    }
    (void)annotation;
  }

  bool insert_output_observer(Node* node) {
    if (node->outputs().size() != 1) return false;
    Value* output = node->output();
    if (!output->type()->isSubtypeOf(*c10::TensorType::get())) return false;
    const int64_t id = instance_for(EdgeOrNode::output(output));
    if (id < 0) return false;
    Value* observed = insert_call(id, output);
    output->replaceAllUsesAfterNodeWith(observed->node(), observed);
    return true;
  }

  Module& module_;
  Graph& graph_;
  const quantizer::AnnotationTable& annotations_;
  bool is_qat_;
  SharingGroups groups_;
  std::vector<Instance> instances_;
  static constexpr int64_t kUnplanned = -2;
  std::vector<int64_t> group_instance_;  // by group: its instance, -1 (none) or kUnplanned
  std::vector<int64_t> key_instance_;  // by key index
  std::unordered_map<std::string, int64_t> call_names_;
  c10::optional<AttributeGroups> holders_;  // made once the instances are planned
  std::unordered_map<const quantizer::QuantizationSpec*, observers::ObserverConfig> configs_;
  c10::optional<AttributeNames> taken_names_;  // made on the first fresh name
  int64_t next_index_ = 0;
  InsertObserversResult result_;
};

}  // namespace

InsertObserversResult insert_observers(Module& module, const quantizer::AnnotationTable& annotations, bool is_qat) {
  return ObserverInserter(module, annotations, is_qat).run();
}

}  // namespace passes
}  // namespace torch_pt2e
