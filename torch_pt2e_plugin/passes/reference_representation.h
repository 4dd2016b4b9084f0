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

// Which arithmetic the replacements use.
enum class ReferenceNumerics {
  // Upstream's rewrite.py, bit for bit: requantization by float multiply and
  // truncation, quantize by division, the bias quantized to x_scale*w_scale.
  kUpstream,
  // The quantize/dequantize ops' arithmetic: integer tensors and integer
  // accumulation as above, but every requantization dequantizes with float32
  // scales and quantizes once like quantize_per_tensor (multiply by the
  // reciprocal scale, round half to even), the bias added in float. add,
  // add_relu, max_pool2d, quantize and dequantize are then bit-identical to the
  // q/dq model; linear and conv2d differ only by float32 accumulation order.
  // Truncation compounds through deep networks (docs/reference_representation.md,
  // "Accuracy"); this is the representation to lower to integer kernels that
  // round, as integer backends do.
  kQuantizeDequantize,
};

// "upstream" or "qdq"; anything else is an error naming the value.
ReferenceNumerics parse_reference_numerics(const std::string& name);

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
const std::vector<ReferenceRewrite>& reference_rewrites(ReferenceNumerics numerics = ReferenceNumerics::kUpstream);

// Applies one rewrite to every match that meets its requirements; returns the
// number of matches rewritten.
int64_t apply_reference_rewrite(std::shared_ptr<torch::jit::Graph>& graph, const ReferenceRewrite& rewrite);

// Applies every rewrite in order; returns the number of matches rewritten.
int64_t reference_representation(std::shared_ptr<torch::jit::Graph>& graph,
                                 ReferenceNumerics numerics = ReferenceNumerics::kUpstream);

}  // namespace passes
}  // namespace torch_pt2e
