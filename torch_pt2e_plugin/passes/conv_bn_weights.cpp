#include "torch_pt2e_plugin/passes/conv_bn_weights.h"

#include <vector>

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

namespace torch_pt2e {
namespace passes {

std::pair<at::Tensor, at::Tensor> fuse_conv_bn_weights(const at::Tensor& conv_w, const c10::optional<at::Tensor>& conv_b,
                                                       const at::Tensor& running_mean, const at::Tensor& running_var,
                                                       double eps, const c10::optional<at::Tensor>& gamma,
                                                       const c10::optional<at::Tensor>& beta, bool transpose,
                                                       WeightArena* arena) {
  at::NoGradGuard no_grad;
  const at::Tensor b = conv_b ? *conv_b : at::zeros_like(running_mean);
  const at::Tensor g = gamma ? *gamma : at::ones_like(running_mean);
  const at::Tensor bt = beta ? *beta : at::zeros_like(running_mean);
  const at::Tensor var_rsqrt = at::rsqrt(running_var + eps);
  std::vector<int64_t> shape(conv_w.dim(), 1);
  shape[transpose ? 1 : 0] = -1;
  const at::Tensor factor = (g * var_rsqrt).reshape(shape);
  at::Tensor fused_w;
  if (arena != nullptr && conv_w.device().is_cpu() && conv_w.scalar_type() == at::kFloat &&
      factor.scalar_type() == at::kFloat && conv_w.is_contiguous()) {
    // The same elementwise product, written where the arena says.
    fused_w = arena->empty(conv_w.sizes(), at::kFloat);
    at::mul_out(fused_w, conv_w, factor);
  } else {
    fused_w = (conv_w * factor).to(conv_w.scalar_type());
  }
  at::Tensor fused_b = ((b - running_mean) * var_rsqrt * g + bt).to(conv_b ? conv_b->scalar_type() : conv_w.scalar_type());
  return {fused_w, fused_b};
}

}  // namespace passes
}  // namespace torch_pt2e
