// Type promotion, argument checks and result sizes of the torch_pt2e
// out_dtype ops, shared by the CPU, CUDA and Meta kernels so every device
// computes in the same dtype and rejects the same inputs with the same message.
#pragma once

#include <cstdint>
#include <vector>

#include <ATen/core/Tensor.h>
#include <c10/core/Scalar.h>
#include <c10/core/ScalarType.h>
#include <c10/util/ArrayRef.h>
#include <c10/util/Optional.h>

namespace torch_pt2e {
namespace kernels {

// Upstream's out_dtype (torch/_higher_order_ops/out_dtype.py) runs the op on
// every tensor argument cast to
//   elementwise_dtypes(*args, ones(1, dtype=out_dtype), DEFAULT)[0]
// (torch._prims_common): the highest category (bool < integer < float <
// complex) among all tensors and numbers, then the highest dtype of that
// category among tensors with dimensions, else among 0-dim tensors, else the
// default dtype (float), int64 (integer) or the default complex dtype; finally
// float16/bfloat16 compute in float32. This class collects the same arguments.
class OutDtypePromotion {
 public:
  OutDtypePromotion(const char* op, at::ScalarType out_dtype);
  OutDtypePromotion& tensor(const char* name, const at::Tensor& value);
  OutDtypePromotion& tensor(const char* name, const c10::optional<at::Tensor>& value);
  // A Python number argument (Scalar), or int / int[] arguments. bool
  // arguments (convolution's `transposed`) take part too, but bool is the
  // lowest category and never changes the result.
  OutDtypePromotion& number(const c10::Scalar& value);
  OutDtypePromotion& integer_number();
  at::ScalarType compute_dtype() const;

 private:
  struct TensorArg {
    at::ScalarType dtype;
    bool zero_dim;
  };
  const char* op_;
  std::vector<TensorArg> tensors_;
  int number_category_ = 0;
};

// Result sizes; each raises a c10::Error naming the op, the argument, what
// was expected and what was found.
std::vector<int64_t> out_dtype_mm_sizes(const char* op, const at::Tensor& self, const at::Tensor& mat2);
std::vector<int64_t> out_dtype_linear_sizes(const char* op, const at::Tensor& input, const at::Tensor& weight,
                                            const c10::optional<at::Tensor>& bias);
std::vector<int64_t> out_dtype_convolution_sizes(const char* op, const at::Tensor& input, const at::Tensor& weight,
                                                 const c10::optional<at::Tensor>& bias, at::IntArrayRef stride,
                                                 at::IntArrayRef padding, at::IntArrayRef dilation, bool transposed,
                                                 at::IntArrayRef output_padding, int64_t groups);
std::vector<int64_t> out_dtype_broadcast_sizes(const char* op, const at::Tensor& self, const at::Tensor& other);

// A convolution parameter list of length 1 (repeated) or `spatial_dims`, as ATen expands it.
std::vector<int64_t> expand_conv_param(at::IntArrayRef values, int64_t spatial_dims);

}  // namespace kernels
}  // namespace torch_pt2e
