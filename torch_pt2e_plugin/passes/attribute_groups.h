// Where a pass puts the many attributes it adds to the top module, and the
// value its graph reads them from.
//
// TorchScript finds an attribute by scanning its class's names: compiling a
// graph (its first run), loading a saved module and LibTorch's name lookups
// all cost the number of attributes per read. A 100k-node model gives the
// top module ~42k observers at prepare and ~42k folded weights and per-channel
// qparams at convert, which made the first calibration batch of such a
// model take 20 s and its first quantized run 11 s. Up to `flat_limit` new
// attributes go on the top module itself, upstream's layout
// (`activation_post_process_3`, `_frozen_param0`); more go into group
// submodules of at most kAttributeGroupSize each:
//
//   self.<container>.g<K>.<name>
//   %groups = prim::GetAttr[name="<container>"](%self)     (at the graph start)
//   %g7     = prim::GetAttr[name="g7"](%groups)             (right after it)
//   %obs    = prim::GetAttr[name="activation_post_process_1800"](%g7)
//
// so that no class has more than a few hundred attributes.
//
// The constructor makes every group the expected attributes need, and the
// destructor removes the ones no attribute went into. Made one at a time,
// each group's read would go into the same ever smaller gap of the graph's
// topological numbering right after the container's read, and every ~40
// groups LibTorch would renumber the whole graph (Block::reIndexTopology;
// 14-47 ms each at 97k nodes, 0.16 s of a prepare + convert). Made together,
// their reads are inserted middle first.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <ATen/core/ivalue.h>
#include <torch/csrc/jit/api/module.h>
#include <torch/csrc/jit/ir/ir.h>

namespace torch_pt2e {
namespace passes {

// Attributes one pass may add to the top module itself; beyond, all go into
// groups. flat_attribute_limit() is this, or the environment variable
// TORCH_PT2E_FLAT_ATTRIBUTE_LIMIT where set (tests set 0 to run small models
// through the grouped layout).
constexpr int64_t kFlatAttributeLimit = 4096;
constexpr int64_t kAttributeGroupSize = 256;
int64_t flat_attribute_limit();

class AttributeGroups {
 public:
  // `expected`: how many attributes the pass will add (more than
  // `flat_limit` puts every one of them in groups); `container` names the
  // submodule holding the groups, which must not exist yet.
  AttributeGroups(torch::jit::Module& module, torch::jit::Graph& graph, std::string container, int64_t expected,
                  int64_t flat_limit = flat_attribute_limit());
  // Removes the groups made for expected attributes that never came.
  ~AttributeGroups();
  AttributeGroups(const AttributeGroups&) = delete;
  AttributeGroups& operator=(const AttributeGroups&) = delete;

  bool grouped() const { return grouped_; }

  // Where the next attribute goes: the top module or a group with room,
  // and the value the graph reads it from (`self`, or the group's read at
  // the start of the graph). Call once per attribute, then add it to
  // `module` under a name unique over the whole module (groups included).
  struct Holder {
    torch::jit::Module module;
    torch::jit::Value* read;
  };
  Holder next();

  // next(), then `value` appended to the holder under `name`; returns the
  // holder's read.
  torch::jit::Value* add(const std::string& name, const c10::TypePtr& type, c10::IValue value,
                         c10::AttributeKind kind = c10::AttributeKind::REGULAR_ATTRIBUTE);

 private:
  // Group `index` (`g<index>`), appended to the container.
  torch::jit::Module make_group(int64_t index);
  // The read of made group `index`, not inserted yet.
  torch::jit::Node* create_read(int64_t index);
  // The reads of groups [first, last), inserted before `before` (in
  // descending order, see the constructor).
  void insert_reads(int64_t first, int64_t last, torch::jit::Node* before);

  torch::jit::Module& module_;
  torch::jit::Graph& graph_;
  std::string container_name_;
  bool grouped_;
  c10::optional<torch::jit::Module> container_;
  torch::jit::Node* container_read_ = nullptr;
  // Groups made (in the constructor, for the expected attributes, and one
  // at a time beyond), of which the first `used_` hold attributes.
  std::vector<Holder> made_;
  size_t used_ = 0;
  int64_t in_last_group_ = 0;
};

// The modules a module holds under `container` (its groups) and the
// module itself: where an attribute added through AttributeGroups lives.
std::vector<torch::jit::Module> attribute_holders(const torch::jit::Module& module, const std::string& container);

// Whether `get` is a prim::GetAttr of a group under `container`
// (self.<container>.g<K>), or of `container` itself.
bool reads_attribute_group(const torch::jit::Node* get, const std::string& container);

}  // namespace passes
}  // namespace torch_pt2e
