// Reference representation (upstream's pt2e/representation/rewrite.py): int8
// quantized patterns of a converted graph become integer arithmetic with
// torch_pt2e::out_dtype_* accumulation and float-multiply requantization.
//
// Matches, in this order (upstream's), each a TorchScript IR pattern:
//   choose_qparams -> q -> dq, dq(w) -> linear           (dynamic linear)
//   dq(x), dq(w) -> linear -> q                          (static linear)
//   dq(x), dq(w) -> conv2d -> q                          (static conv2d)
//   dq(x), dq(y) -> add -> relu -> q,  dq(x), dq(y) -> add -> q
//   dq(x) -> max_pool2d -> q
//   quantize/dequantize_per_tensor, quantize/dequantize_per_channel
// all with dtype int8; weights may be folded (GetAttr int8 -> dq) or not
// (GetAttr fp32 -> q -> dq). Dequantizes must have one user each (convert's
// duplicate_dequantize); constants are pooled here before matching.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <torch/csrc/jit/ir/ir.h>

namespace torch_pt2e {
namespace passes {

// What a pattern input must be for a match to be rewritten.
enum class Requirement {
  kInt8,     // the constant torch.int8
  kNone,     // None (an absent bias, a dequantize's default out_dtype)
  kTensor,   // a Tensor, never None (a present bias)
  kFloat,    // a Python float (a per-tensor scale that is not a Tensor)
  kOne,      // the constant 1 (aten::add's alpha)
  kIntList,  // an int[] (conv2d's padding, not "same"/"valid")
};

struct ValueRequirement {
  std::string value;  // name of a pattern input
  Requirement requirement;
};

struct ReferenceRewrite {
  std::string name;
  std::string pattern;      // TorchScript IR
  std::string replacement;  // TorchScript IR with the pattern's inputs
  std::vector<ValueRequirement> requirements;
};

// The rewrites in the order they are applied.
const std::vector<ReferenceRewrite>& reference_rewrites();

// Applies one rewrite to every match that meets its requirements; returns the
// number of matches rewritten.
int64_t apply_reference_rewrite(std::shared_ptr<torch::jit::Graph>& graph, const ReferenceRewrite& rewrite);

// Applies every rewrite in order; returns the number of matches rewritten.
int64_t reference_representation(std::shared_ptr<torch::jit::Graph>& graph);

}  // namespace passes
}  // namespace torch_pt2e
