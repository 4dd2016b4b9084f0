// convert_element_type.no_fuse: `input.to(dtype)` as a new tensor (upstream's
// prims.convert_element_type), kept as its own op so fp16 "quantization"
// pairs are not fused away.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/ScalarType.h>

#include "torch_pt2e_plugin/ops/library.h"

namespace torch_pt2e {
namespace ops {

OpFamily convert_element_type_ops();

at::Tensor convert_element_type_no_fuse(const at::Tensor& input, at::ScalarType dtype);

}  // namespace ops
}  // namespace torch_pt2e
