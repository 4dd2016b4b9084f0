// PortNodeMetaForQDQ (upstream's quantizer/port_metadata_pass.py): the
// quantize/dequantize nodes of an annotated op take the op's metadata, which
// in TorchScript is its source range, scope and inlined call stack (so error
// messages, profiles and module paths point at the op the user wrote).
//
// Matches, for each annotated node N:
//   dq -> N            on an annotated input edge: dq (and a dynamic
//                      choose_qparams -> q chain feeding it) take N's metadata
//   q(weight) -> dq    q takes the metadata of the attribute read it quantizes
//   N -> q             on an annotated output whose only user is q: q takes N's
#pragma once

#include <unordered_map>

#include <torch/csrc/jit/ir/ir.h>

#include "torch_pt2e_plugin/passes/prepare_state.h"

namespace torch_pt2e {
namespace passes {

// Returns whether any node's metadata changed.
bool port_metadata(torch::jit::Graph& graph,
                   const std::unordered_map<const torch::jit::Node*, AnnotatedNodeRecord>& annotated);

}  // namespace passes
}  // namespace torch_pt2e
