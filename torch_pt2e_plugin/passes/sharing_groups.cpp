#include "torch_pt2e_plugin/passes/sharing_groups.h"

#include <unordered_set>

#include <c10/util/Exception.h>

namespace torch_pt2e {
namespace passes {
namespace {

using quantizer::EdgeOrNode;
using quantizer::EdgeOrNodeHash;
using quantizer::QuantizationSpecPtr;
using quantizer::SpecKind;
using torch::jit::Node;
using torch::jit::Value;

// Over key indices; the keys themselves only for lookups and messages.
class UnionFind {
 public:
  explicit UnionFind(const SharingGroups& groups) : groups_(groups), parent_(groups.keys.size()) {
    for (size_t i = 0; i < parent_.size(); ++i) parent_[i] = static_cast<int64_t>(i);
  }

  int64_t index_or_fail(const EdgeOrNode& key) const {
    const int64_t i = groups_.index_of(key);
    TORCH_CHECK(i >= 0, "prepare_pt2e: a SharedQuantizationSpec refers to ", key.describe(),
                ", which has no quantization annotation; share with an annotated input edge or output");
    return i;
  }

  // Iterative find with path compression (sharing chains can be long).
  int64_t find(int64_t i) {
    int64_t root = i;
    while (parent_[root] != root) root = parent_[root];
    while (parent_[i] != root) {
      const int64_t next = parent_[i];
      parent_[i] = root;
      i = next;
    }
    return root;
  }

  // Root spec of a key's spec, following SharedQuantizationSpec chains.
  QuantizationSpecPtr unwrap(QuantizationSpecPtr spec) {
    for (size_t steps = 0; spec && spec->kind() == SpecKind::kShared; ++steps) {
      TORCH_CHECK(steps <= parent_.size(), "prepare_pt2e: SharedQuantizationSpec references form a cycle");
      const auto& shared = static_cast<const quantizer::SharedQuantizationSpec&>(*spec);
      spec = groups_.key_spec[find(index_or_fail(shared.edge_or_node))];
    }
    return spec;
  }

  // The root of `child` joins the root of `parent`, unless the parent's root
  // is itself shared with the child's root (then the reverse, which avoids
  // a cycle; torchao's rule).
  void unite(int64_t parent, int64_t child) {
    const int64_t root_parent = find(parent);
    const int64_t root_child = find(child);
    if (root_parent == root_child) return;
    const QuantizationSpecPtr& parent_spec = groups_.key_spec[root_parent];
    if (parent_spec && parent_spec->kind() == SpecKind::kShared &&
        static_cast<const quantizer::SharedQuantizationSpec&>(*parent_spec).edge_or_node ==
            groups_.keys[root_child]) {
      parent_[root_parent] = root_child;
    } else {
      parent_[root_child] = root_parent;
    }
  }

 private:
  const SharingGroups& groups_;
  std::vector<int64_t> parent_;
};

// Upstream's _has_same_attr over the attributes that decide implicit sharing:
// equal when both specs have the attribute with equal values, or neither has it.
bool same_sharing_attributes(const quantizer::QuantizationSpecBase& a, const quantizer::QuantizationSpecBase& b) {
  struct Attributes {
    c10::optional<at::ScalarType> dtype;
    c10::optional<bool> is_dynamic;
    bool has_quant_range = false;
    c10::optional<int64_t> quant_min, quant_max;
    bool has_qscheme = false;
    c10::optional<c10::QScheme> qscheme;
    bool has_ch_axis = false;
    c10::optional<int64_t> ch_axis;
    bool has_fixed = false;
    double scale = 0;
    int64_t zero_point = 0;
  };
  auto attributes = [](const quantizer::QuantizationSpecBase& spec) {
    Attributes out;
    switch (spec.kind()) {
      case SpecKind::kQuantization: {
        const auto& s = static_cast<const quantizer::QuantizationSpec&>(spec);
        out = {s.dtype, s.is_dynamic, true, s.quant_min, s.quant_max, true, s.qscheme, true, s.ch_axis};
        break;
      }
      case SpecKind::kDerived: {
        const auto& s = static_cast<const quantizer::DerivedQuantizationSpec&>(spec);
        out = {s.dtype, s.is_dynamic, true, s.quant_min, s.quant_max, true, s.qscheme, true, s.ch_axis};
        break;
      }
      case SpecKind::kFixedQParams: {
        const auto& s = static_cast<const quantizer::FixedQParamsQuantizationSpec&>(spec);
        out = {s.dtype, s.is_dynamic, true, s.quant_min, s.quant_max, true, s.qscheme, false, c10::nullopt,
               true,    s.scale,      s.zero_point};
        break;
      }
      case SpecKind::kShared:
        break;
    }
    return out;
  };
  const Attributes x = attributes(a), y = attributes(b);
  return x.dtype == y.dtype && x.is_dynamic == y.is_dynamic && x.has_quant_range == y.has_quant_range &&
         x.quant_min == y.quant_min && x.quant_max == y.quant_max && x.has_qscheme == y.has_qscheme &&
         x.qscheme == y.qscheme && x.has_ch_axis == y.has_ch_axis && x.ch_axis == y.ch_axis &&
         x.has_fixed == y.has_fixed && x.scale == y.scale && x.zero_point == y.zero_point;
}

}  // namespace

std::vector<Node*> effective_users(Value* value) {
  std::vector<Node*> users;
  std::unordered_set<Node*> seen;
  for (const auto& use : value->uses()) {
    Node* user = use.user;
    if (user->kind() == c10::prim::ListConstruct && user->output()->uses().size() == 1) {
      user = user->output()->uses()[0].user;
    }
    if (seen.insert(user).second) users.push_back(user);
  }
  return users;
}

int64_t SharingGroups::group_of(const EdgeOrNode& key) const {
  const int64_t i = index_of(key);
  TORCH_CHECK(i >= 0, "internal: ", key.describe(), " is not an annotated key");
  return key_group[i];
}

SharingGroups compute_sharing_groups(torch::jit::Graph& graph, const quantizer::AnnotationTable& annotations) {
  SharingGroups groups;
  // A key annotated twice keeps its first position and its last spec.
  auto add_key = [&](const EdgeOrNode& key, const QuantizationSpecPtr& spec) {
    const auto inserted = groups.index.emplace(key, static_cast<int64_t>(groups.keys.size()));
    if (inserted.second) {
      groups.keys.push_back(key);
      groups.key_spec.push_back(spec);
    } else {
      groups.key_spec[inserted.first->second] = spec;
    }
  };
  for (Node* node : graph.nodes()) {
    const auto* annotation = annotations.find(node);
    if (!annotation) continue;
    for (const auto& input : annotation->input_qspec_map) add_key(EdgeOrNode::edge(input.first, node), input.second);
    if (annotation->output_qspec) {
      TORCH_CHECK(node->outputs().size() == 1, "prepare_pt2e: ", node->kind().toQualString(), " has ",
                  node->outputs().size(), " outputs; an output_qspec needs a node with exactly one output");
      add_key(EdgeOrNode::output(node->output()), annotation->output_qspec);
    }
  }

  UnionFind sets(groups);
  auto apply_shared = [&](int64_t key, const QuantizationSpecPtr& spec) {
    if (spec && spec->kind() == SpecKind::kShared) {
      sets.unite(sets.index_or_fail(static_cast<const quantizer::SharedQuantizationSpec&>(*spec).edge_or_node), key);
    }
  };
  auto unite_if_compatible = [&](int64_t input_edge, const QuantizationSpecPtr& input_root, const EdgeOrNode& other) {
    const int64_t other_index = groups.index_of(other);
    if (other_index < 0) return;
    const QuantizationSpecPtr other_root = sets.unwrap(groups.key_spec[other_index]);
    if (other_root && input_root && same_sharing_attributes(*other_root, *input_root)) {
      sets.unite(other_index, input_edge);
    }
  };

  for (int64_t i = 0; i < static_cast<int64_t>(groups.keys.size()); ++i) {
    const EdgeOrNode& key = groups.keys[i];
    const QuantizationSpecPtr& spec = groups.key_spec[i];
    if (!key.is_edge()) {
      apply_shared(i, spec);
      continue;
    }
    const QuantizationSpecPtr input_root = sets.unwrap(spec);
    if (annotations.find(key.consumer)->allow_implicit_sharing) {
      // Other users first, then the producer's output ("to avoid cycles").
      for (Node* user : effective_users(key.value)) {
        if (user != key.consumer) unite_if_compatible(i, input_root, EdgeOrNode::edge(key.value, user));
      }
      unite_if_compatible(i, input_root, EdgeOrNode::output(key.value));
    }
    apply_shared(i, spec);
  }

  // Dense ids in key order: a root's id is given when its first key is met.
  std::vector<int64_t> root_group(groups.keys.size(), -1);
  groups.key_group.resize(groups.keys.size());
  for (size_t i = 0; i < groups.keys.size(); ++i) {
    int64_t& id = root_group[sets.find(static_cast<int64_t>(i))];
    if (id < 0) id = groups.num_groups++;
    groups.key_group[i] = id;
  }
  return groups;
}

}  // namespace passes
}  // namespace torch_pt2e
