// How an observer call looks in a prepared graph, in one place:
//
//   %obs = prim::GetAttr[name="activation_post_process_3"](%self)
//   %y   = prim::CallMethod[name="forward"](%obs, %x)
//
// or, where prepare made more observers than flat_attribute_limit()
// (passes/attribute_groups.h), with the observer in a group:
//
//   %groups = prim::GetAttr[name="activation_post_process_groups"](%self)
//   %g7     = prim::GetAttr[name="g7"](%groups)
//   %obs    = prim::GetAttr[name="activation_post_process_1800"](%g7)
//   %y      = prim::CallMethod[name="forward"](%obs, %x)
#pragma once

#include <string>

#include <c10/util/Optional.h>
#include <torch/csrc/jit/ir/ir.h>

namespace torch_pt2e {
namespace passes {

// The submodule of the top module holding the observer groups.
constexpr const char* kObserverGroupsAttribute = "activation_post_process_groups";

// Inserts a call of `holder`'s submodule `attribute` (of class `type`) on
// `input`, where both are defined (right after the later of the two; graph
// inputs count as defined at the start), and returns the call's output.
// `holder` is the graph's `self` or a group's read. Uses of `input` are not
// changed.
torch::jit::Value* insert_observer_call(torch::jit::Graph& graph, torch::jit::Value* holder,
                                        const std::string& attribute, const c10::TypePtr& type,
                                        torch::jit::Value* input);

// The observer's name if `node` calls forward of a direct submodule of the
// graph's `self` or of an observer group (the shape of an observer call),
// else nullopt. Names are unique over the top module and its groups.
c10::optional<std::string> observer_call_name(const torch::jit::Node* node);

// Destroys an observer call whose output has no uses any more, and the
// reads of the observer and its group that nothing else uses.
void destroy_observer_call(torch::jit::Node* call);

}  // namespace passes
}  // namespace torch_pt2e
