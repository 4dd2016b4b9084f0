// XNNPACKQuantizer (ExecuTorch's backends/xnnpack/quantizer/xnnpack_quantizer.py)
// on canonical TorchScript modules.
//
// Configs are chosen per node with ExecuTorch's precedence: module name >
// module type > operator type > global; within each, patterns run in
// SUPPORTED_PATTERNS order and the first config that annotates a node wins.
// A dynamic config runs the dynamic patterns (linear, conv, conv_transpose),
// a QAT config also the conv + batch norm patterns, a static config all.
// After the patterns, propagate_annotation lets observer-sharing ops follow
// their producer.
//
// Differences from torch 2.6's XNNPACKQuantizer (docs/quantizer.md):
// set_operator_type is honoured (torch 2.6 stores it and never reads it), the
// static/dynamic choice is made per config (torch 2.6 asks the global config
// only), and module filters accept weights (TorchScript GetAttr nodes carry
// their module's call stack; FX get_attr nodes have no nn_module_stack, so
// torch 2.6 never annotates a conv under a module-name or module-type config).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "torch_pt2e_plugin/quantizer/quantization_config.h"
#include "torch_pt2e_plugin/quantizer/quantizer.h"
#include "torch_pt2e_plugin/quantizer/xnnpack_quantizer_utils.h"

namespace torch_pt2e {
namespace quantizer {

class XNNPACKQuantizer : public Quantizer {
 public:
  struct Pattern {
    const char* name;
    bool is_dynamic;
    bool is_qat;
  };
  // ExecuTorch's SUPPORTED_PATTERNS, in order.
  static const std::vector<Pattern>& supported_patterns();

  // A null config leaves the nodes it would select unannotated.
  XNNPACKQuantizer& set_global(QuantizationConfigPtr config);
  // `op` is an operator kind ("aten::conv2d": every overload) or one
  // overload ("aten::add.Tensor"; "aten::conv2d.default" is the unnamed
  // one). Throws if no XNNPACK pattern annotates that operator.
  XNNPACKQuantizer& set_operator_type(const std::string& op, QuantizationConfigPtr config);
  // `type` is a module class's TorchScript name ("__torch__.torch.nn.modules.linear.Linear",
  // or without the __torch__ prefix); TorchScript's ___torch_mangle_N parts are ignored.
  XNNPACKQuantizer& set_module_type(const std::string& type, QuantizationConfigPtr config);
  // `name` is a submodule path ("layer1.0.conv1"); the config must not be null.
  XNNPACKQuantizer& set_module_name(const std::string& name, QuantizationConfigPtr config);
  // Only nodes the filter accepts are annotated (AND-ed with the config filters).
  XNNPACKQuantizer& set_filter_function(NodeFilter filter);

  // Scalar operands of add/mul become observable float32 buffers
  // (quantizer/convert_scalars_to_attrs.h).
  torch::jit::Module transform_for_annotation(torch::jit::Module module) override;
  void annotate(torch::jit::Module& module, AnnotationTable& annotations) override;

  // {"global": config or null, "operator_type": [[op, config or null], ...],
  //  "module_type": [[type, config or null], ...], "module_name": [[name, config], ...]}
  nlohmann::json to_json() const;
  static XNNPACKQuantizer from_json(const nlohmann::json& data);

  // Every config with where it is set: "global", "operator_type/<i>",
  // "module_type/<i>", "module_name/<i>" (i in setting order, as in to_json).
  std::vector<std::pair<std::string, QuantizationConfigPtr>> configs() const;

 private:
  void annotate_all_patterns(torch::jit::Module& module, AnnotationTable& annotations,
                             const QuantizationConfigPtr& config, const NodeFilter& filter,
                             const std::string* operator_type) const;

  QuantizationConfigPtr global_config_;
  std::vector<std::pair<std::string, QuantizationConfigPtr>> operator_type_config_;
  std::vector<std::pair<std::string, QuantizationConfigPtr>> module_type_config_;
  std::vector<std::pair<std::string, QuantizationConfigPtr>> module_name_config_;
  NodeFilter filter_;
};

}  // namespace quantizer
}  // namespace torch_pt2e
