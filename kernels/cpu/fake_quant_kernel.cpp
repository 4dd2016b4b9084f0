// CPU kernels of fake_quant_per_channel: the forward alone (the op's CPU
// kernel) and the forward with its gradient mask (torch_pt2e's
// fake_quant_per_channel_forward, which the plugin's Autograd kernel calls).
#include <ATen/ATen.h>
#include <torch/library.h>

#include "kernels/checks.h"
#include "kernels/cpu/cpu_kernel_utils.h"
#include "kernels/cpu/loops.h"

namespace torch_pt2e {
namespace kernels {
namespace cpu {
namespace {

// Both kernels name the public op in their messages (the forward op is its
// autograd implementation).
constexpr const char* kOp = "quantized_decomposed::fake_quant_per_channel";

// Runs the loop; mask may be undefined (no mask wanted).
at::Tensor fake_quantize(const char* op, const at::Tensor& input, const at::Tensor& scales,
                         const at::Tensor& zero_points, int64_t axis, int64_t quant_min, int64_t quant_max,
                         at::Tensor* mask) {
  axis = check_fake_quant_per_channel_args(op, input, scales, zero_points, axis, quant_min, quant_max);
  // Upstream converts scales to float32 and zero points to int32 first.
  const at::Tensor scales_f32 = scales.to(at::kFloat);
  const at::Tensor zero_points_i32 = zero_points.to(at::kInt);
  check_scale_values(op, "scales (as float32)", scales_f32);
  check_zero_point_values(op, zero_points_i32, quant_min, quant_max);
  const at::Tensor src = dense(input);
  const at::Tensor out = at::empty_like(src);
  if (mask != nullptr) *mask = at::empty_like(src, src.options().dtype(at::kBool));
  if (src.numel() == 0) return out;

  const ParamPlan plan = plan_params(src.size(axis), channel_run(src, axis));
  const int64_t channels = src.size(axis);
  const ParamArray inv({scales_f32, at::kFloat, /*reciprocal=*/true}, channels, plan);
  const ParamArray zp({zero_points_i32, at::kFloat}, channels, plan);
  const ParamArray s({scales_f32, at::kFloat}, channels, plan);
  FakeQuantParams params;
  params.inv_scale = static_cast<const float*>(inv.data());
  params.zero_point = static_cast<const float*>(zp.data());
  params.scale = static_cast<const float*>(s.data());
  params.layout = plan.layout;
  params.quant_min = static_cast<float>(quant_min);
  params.quant_max = static_cast<float>(quant_max);
  const float* in_ptr = src.data_ptr<float>();
  float* out_ptr = out.data_ptr<float>();
  bool* mask_ptr = mask != nullptr ? mask->data_ptr<bool>() : nullptr;
  const FakeQuantizeChannelsFn fn = loops().fake_quantize_channels;
  parallel_over(src.numel(), [&](int64_t begin, int64_t end) { fn(in_ptr, out_ptr, mask_ptr, begin, end, params); });
  return out;
}

at::Tensor fake_quant_per_channel(const at::Tensor& input, const at::Tensor& scales, const at::Tensor& zero_points,
                                  int64_t axis, int64_t quant_min, int64_t quant_max) {
  return fake_quantize(kOp, input, scales, zero_points, axis, quant_min, quant_max, nullptr);
}

std::tuple<at::Tensor, at::Tensor> fake_quant_per_channel_forward(const at::Tensor& input, const at::Tensor& scales,
                                                                  const at::Tensor& zero_points, int64_t axis,
                                                                  int64_t quant_min, int64_t quant_max) {
  at::Tensor mask;
  at::Tensor out = fake_quantize(kOp, input, scales, zero_points, axis, quant_min, quant_max, &mask);
  return {out, mask};
}

}  // namespace

TORCH_LIBRARY_IMPL(quantized_decomposed, CPU, m) {
  m.impl("fake_quant_per_channel", TORCH_FN(fake_quant_per_channel));
}

TORCH_LIBRARY_IMPL(torch_pt2e, CPU, m) {
  m.impl("fake_quant_per_channel_forward", TORCH_FN(fake_quant_per_channel_forward));
}

}  // namespace cpu
}  // namespace kernels
}  // namespace torch_pt2e
