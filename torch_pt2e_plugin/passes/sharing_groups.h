// Which annotated edges and outputs share one observer (upstream's
// _get_edge_or_node_to_group_id in pt2e/prepare.py).
//
// Keys are every annotated input edge and output, in graph order (per node:
// its inputs in annotation order, then its output). Groups come from a
// union-find over them: SharedQuantizationSpec joins a key to the key it
// names; an input edge of a node that allows implicit sharing also joins
// the other user edges of the same producer and the producer's output, when
// their root specs agree on dtype, is_dynamic, quant_min, quant_max,
// qscheme, ch_axis, scale and zero_point. Linear in the number of keys plus
// producer uses.
#pragma once

#include <unordered_map>
#include <vector>

#include "torch_pt2e_plugin/quantizer/quantization_spec.h"

namespace torch_pt2e {
namespace passes {

struct SharingGroups {
  // Every key, in graph order; a key's index is its position here.
  std::vector<quantizer::EdgeOrNode> keys;
  // By key index: its spec (possibly null: "no observer") and its group id.
  // Group ids are dense, numbered in key order.
  std::vector<quantizer::QuantizationSpecPtr> key_spec;
  std::vector<int64_t> key_group;
  std::unordered_map<quantizer::EdgeOrNode, int64_t, quantizer::EdgeOrNodeHash> index;
  int64_t num_groups = 0;

  // The key's index, or -1 for a key that is not annotated.
  int64_t index_of(const quantizer::EdgeOrNode& key) const {
    const auto it = index.find(key);
    return it == index.end() ? -1 : it->second;
  }
  // The group of an annotated key (throws for another key).
  int64_t group_of(const quantizer::EdgeOrNode& key) const;
};

// The users of `value` as upstream counts them: distinct consumer nodes in
// order, where a use by a prim::ListConstruct counts as a use by the node
// consuming the list (aten::cat's inputs are its input edges).
std::vector<torch::jit::Node*> effective_users(torch::jit::Value* value);

SharingGroups compute_sharing_groups(torch::jit::Graph& graph, const quantizer::AnnotationTable& annotations);

}  // namespace passes
}  // namespace torch_pt2e
