// CPU kernel of convert_element_type.no_fuse: prims.convert_element_type,
// i.e. a new tensor of `dtype` with the input's layout, filled by ATen's own
// (vectorized, multithreaded) conversion copy.
#include <ATen/ATen.h>
#include <torch/library.h>

namespace torch_pt2e {
namespace kernels {
namespace cpu {
namespace {

at::Tensor convert_element_type_no_fuse(const at::Tensor& input, at::ScalarType dtype) {
  return at::empty_like(input, input.options().dtype(dtype)).copy_(input);
}

}  // namespace

TORCH_LIBRARY_IMPL(quantized_decomposed, CPU, m) {
  m.impl("convert_element_type.no_fuse", TORCH_FN(convert_element_type_no_fuse));
}

}  // namespace cpu
}  // namespace kernels
}  // namespace torch_pt2e
