// How an observer call looks in a prepared graph, in one place:
//
//   %obs = prim::GetAttr[name="activation_post_process_3"](%self)
//   %y   = prim::CallMethod[name="forward"](%obs, %x)
#pragma once

#include <string>

#include <c10/util/Optional.h>
#include <torch/csrc/jit/ir/ir.h>

namespace torch_pt2e {
namespace passes {

// Inserts a call of the top module's submodule `attribute` (of class `type`)
// on `input`, right after `input` is defined (at the start of the graph for
// graph inputs), and returns the call's output. Uses of `input` are not
// changed.
torch::jit::Value* insert_observer_call(torch::jit::Graph& graph, const std::string& attribute,
                                        const c10::TypePtr& type, torch::jit::Value* input);

// The submodule name if `node` calls forward of a direct submodule of the
// graph's `self` (the shape of an observer call), else nullopt.
c10::optional<std::string> observer_call_name(const torch::jit::Node* node);

}  // namespace passes
}  // namespace torch_pt2e
