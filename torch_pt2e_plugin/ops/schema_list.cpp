#include "torch_pt2e_plugin/ops/schema_list.h"

namespace torch_pt2e {
namespace ops {
namespace {

std::vector<std::string> quantized_decomposed_schemas() { return plugin_schemas("quantized_decomposed"); }

}  // namespace

OpFamily schema_list_ops() {
  OpFamily family;
  family.ns = "torch_pt2e";
  family.name = "schema_list";
  family.schemas = {"quantized_decomposed_schemas() -> str[]"};
  family.register_definer_kernels = [](torch::Library& lib, const std::vector<std::string>& defined) {
    if (defined_by_plugin(defined, "quantized_decomposed_schemas")) {
      lib.impl("quantized_decomposed_schemas", TORCH_FN(quantized_decomposed_schemas));
    }
  };
  return family;
}

}  // namespace ops
}  // namespace torch_pt2e
