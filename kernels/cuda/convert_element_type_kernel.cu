// CUDA kernel of convert_element_type.no_fuse: as on the CPU
// (kernels/cpu/convert_element_type_kernel.cpp), a new tensor of `dtype`
// with the input's layout, filled by ATen's own conversion copy, here its
// CUDA kernel.
#include <ATen/ATen.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

namespace torch_pt2e {
namespace kernels {
namespace cuda {
namespace {

at::Tensor convert_element_type_no_fuse(const at::Tensor& input, at::ScalarType dtype) {
  c10::cuda::OptionalCUDAGuard guard(input.device());
  return at::empty_like(input, input.options().dtype(dtype)).copy_(input);
}

}  // namespace

TORCH_LIBRARY_IMPL(quantized_decomposed, CUDA, m) {
  m.impl("convert_element_type.no_fuse", TORCH_FN(convert_element_type_no_fuse));
}

}  // namespace cuda
}  // namespace kernels
}  // namespace torch_pt2e
