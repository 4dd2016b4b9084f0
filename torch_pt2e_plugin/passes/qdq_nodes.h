// Recognizers for the quantized_decomposed nodes the convert passes work on.
#pragma once

#include <torch/csrc/jit/ir/ir.h>

namespace torch_pt2e {
namespace passes {

// The kinds of the quantized_decomposed nodes convert makes and reads, as
// interned symbols (comparing kinds by string costs an allocation per node).
struct QdqKinds {
  c10::Symbol quantize_per_tensor;
  c10::Symbol quantize_per_channel;
  c10::Symbol dequantize_per_tensor;
  c10::Symbol dequantize_per_channel;
  c10::Symbol convert_element_type;
};
const QdqKinds& qdq_kinds();

// quantize_per_tensor (default, .tensor, .tensor2) or quantize_per_channel.
bool is_quantize(const torch::jit::Node* node);
// dequantize_per_tensor (default, .tensor, .tensor2) or dequantize_per_channel.
bool is_dequantize(const torch::jit::Node* node);
// The overloads upstream's DuplicateDQPass handles: dequantize_per_tensor
// (default, .tensor) and dequantize_per_channel.
bool is_duplicable_dequantize(const torch::jit::Node* node);
// Whether the node's operator is known and has this overload name ("": the
// overload without a name).
bool has_overload(const torch::jit::Node* node, const char* overload);
// quantized_decomposed::choose_qparams.tensor (not the symmetric variant).
bool is_choose_qparams(const torch::jit::Node* node);
// Nodes that only read a tensor's shape (upstream ignores sym_size users).
bool is_shape_query(const torch::jit::Node* node);

}  // namespace passes
}  // namespace torch_pt2e
