#include "torch_pt2e_plugin/ops/convert_element_type.h"

#include <ATen/ATen.h>

namespace torch_pt2e {
namespace ops {
namespace {

// Byte-identical to upstream's schema (tests/ops/test_schemas.py compares).
constexpr const char* kNoFuse = "convert_element_type.no_fuse(Tensor input, ScalarType dtype) -> Tensor";

at::Tensor no_fuse_meta(const at::Tensor& input, at::ScalarType dtype) {
  return at::empty_like(input, input.options().dtype(dtype));
}

}  // namespace

OpFamily convert_element_type_ops() {
  OpFamily family;
  family.name = "convert_element_type";
  family.schemas = {kNoFuse};
  family.register_definer_kernels = [](torch::Library& lib, const std::vector<std::string>& defined) {
    impl_if_defined(lib, defined, "convert_element_type.no_fuse", c10::DispatchKey::Meta, TORCH_FN(no_fuse_meta));
  };
  return family;
}

at::Tensor convert_element_type_no_fuse(const at::Tensor& input, at::ScalarType dtype) {
  static const auto op = find_op<at::Tensor(const at::Tensor&, at::ScalarType)>(
      "quantized_decomposed::convert_element_type", "no_fuse");
  return op.call(input, dtype);
}

}  // namespace ops
}  // namespace torch_pt2e
