// The XNNPACK annotators (upstream's xnnpack_quantizer_utils.py, ExecuTorch
// version), by name, on canonical TorchScript graphs (passes/canonicalize.h).
//
// Each annotator walks the forward graph, matches its pattern, and records
// annotations built from a QuantizationConfig's specs:
//
//   linear                 x, w, b -> aten::linear -> out
//   linear_relu            aten::linear (one user) -> relu: inputs on linear, output on relu
//   conv                   aten::conv{1,2,3}d (not when its only user is a relu)
//   conv_relu              conv (one user) -> relu
//   conv_transpose[_relu]  aten::conv_transpose{1,2,3}d, groups 1, weight per output channel (ch_axis 1)
//   conv_bn[_relu]         conv (one user) -> aten::batch_norm [-> relu]: QAT graphs, where batch norm is kept
//   conv_transpose_bn[_relu]
//   gru_io_only            aten::gru.input: input and hidden state, both outputs
//   adaptive_avg_pool2d    output shares the input's observer
//   add, add_relu, mul, mul_relu  (Tensor and Scalar overloads, in place or not)
//   cat                    every input and the output share one observer
//
// A pattern is skipped when one of its nodes is already annotated (so the
// first config that annotates a node wins) or when the filter rejects one of
// its nodes. Filters see a pattern's nodes as values: an operator node by its
// first output, a weight or bias by the value it reads (a prim::GetAttr's
// output, a graph input).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <torch/csrc/jit/api/module.h>

#include "torch_pt2e_plugin/quantizer/quantization_config.h"
#include "torch_pt2e_plugin/quantizer/quantization_spec.h"

namespace torch_pt2e {
namespace quantizer {

using NodeFilter = std::function<bool(torch::jit::Value*)>;

// The nodes of one matched pattern, as filters see them.
using Partition = std::vector<torch::jit::Value*>;

// `config` may be null (upstream's None: annotations without specs).
// Returns the partitions it annotated.
using Annotator = std::function<std::vector<Partition>(torch::jit::Module& module, AnnotationTable& annotations,
                                                       const QuantizationConfig* config, const NodeFilter& filter)>;

// Annotator names in registration order.
const std::vector<std::string>& annotator_names();

// Throws, listing the names, if there is no annotator `name`.
const Annotator& find_annotator(const std::string& name);

// Upstream's propagate_annotation: an unannotated observer-sharing op
// (relu, hardtanh, max_pool2d, mean, permute, transpose, squeeze,
// adaptive_avg_pool2d, view, reshape, slice, flatten) whose first input comes
// from a node with an output spec shares that node's output observer for its
// input and output.
void propagate_annotation(torch::jit::Module& module, AnnotationTable& annotations);

// The operator spellings each annotator matches ("aten::conv2d",
// "aten::add.Tensor", ...), the sets XNNPACKQuantizer.set_operator_type
// selects patterns by.
const std::vector<std::string>& pattern_operators(const std::string& annotator);

// While one is alive, the annotators (and propagate_annotation) running on
// `graph` share one index of its nodes by kind instead of each walking every
// node: XNNPACKQuantizer::annotate runs about twenty of them on one graph,
// and a walk of a 100k-node graph is mostly cache misses. The graph must not
// gain or lose nodes meanwhile (annotators only annotate).
class NodeIndexScope {
 public:
  explicit NodeIndexScope(torch::jit::Graph& graph);
  ~NodeIndexScope();
  NodeIndexScope(const NodeIndexScope&) = delete;
  NodeIndexScope& operator=(const NodeIndexScope&) = delete;

  struct Index;

 private:
  std::unique_ptr<Index> index_;
  const Index* previous_;
};

// Whether `node` is one of the observer-sharing ops propagate_annotation follows.
bool is_share_obs_or_fq_op(const torch::jit::Node* node);

}  // namespace quantizer
}  // namespace torch_pt2e
