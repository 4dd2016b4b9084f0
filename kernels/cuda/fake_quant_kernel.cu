// CUDA kernels of fake_quant_per_channel: the forward alone (the op's CUDA
// kernel) and the forward with its gradient mask (torch_pt2e's
// fake_quant_per_channel_forward, which the plugin's Autograd kernel calls),
// with the CPU kernels' rules (kernels/cpu/fake_quant_kernel.cpp).
#include <ATen/ATen.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include "kernels/checks.h"
#include "kernels/cuda/cuda_kernel_utils.h"
#include "kernels/cuda/loops.cuh"
#include "kernels/kernel_utils.h"
#include "kernels/numerics.h"

namespace torch_pt2e {
namespace kernels {
namespace cuda {
namespace {

// Both kernels name the public op in their messages (the forward op is its
// autograd implementation).
constexpr const char* kOp = "quantized_decomposed::fake_quant_per_channel";

constexpr int kElementsPerThread = 4;

// `mask` may be null (no mask wanted).
__global__ void __launch_bounds__(kThreads)
    fake_quantize_kernel(const float* __restrict__ in, float* __restrict__ out, bool* __restrict__ mask, int64_t n,
                         const float* __restrict__ inv_scale, const float* __restrict__ zero_point,
                         const float* __restrict__ scale, ChannelLayout layout, float lo, float hi) {
  const int64_t steps = (n + kElementsPerThread - 1) / kElementsPerThread;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t p = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; p < steps; p += stride) {
    const int64_t base = p * kElementsPerThread;
    ChannelCursor cursor(base, layout);
#pragma unroll
    for (int k = 0; k < kElementsPerThread; ++k) {
      const int64_t o = base + k;
      if (o < n) {
        const int64_t e = cursor.entry;
        const float t = nm::fake_quantize_unclamped(in[o], inv_scale[e], zero_point[e]);
        out[o] = nm::fake_quantize_output(t, zero_point[e], scale[e], lo, hi);
        if (mask != nullptr) mask[o] = (t >= lo) & (t <= hi);
      }
      cursor.advance(layout);
    }
  }
}

at::Tensor fake_quantize(const char* op, const at::Tensor& input, const at::Tensor& scales_arg,
                         const at::Tensor& zero_points_arg, int64_t axis, int64_t quant_min, int64_t quant_max,
                         at::Tensor* mask) {
  axis = check_fake_quant_per_channel_args(op, input, scales_arg, zero_points_arg, axis, quant_min, quant_max);
  check_cuda_input(op, input);
  c10::cuda::CUDAGuard guard(input.device());
  // Upstream converts scales to float32 and zero points to int32 first.
  const at::Tensor scales_f32 = on_input_device(op, "scales", scales_arg, input).to(at::kFloat);
  const at::Tensor zero_points_i32 = on_input_device(op, "zero_points", zero_points_arg, input).to(at::kInt);
  DeviceFlag flag(op, input);
  queue_scale_checks(flag, op, "scales (as float32)", scales_f32);
  queue_zero_point_checks(flag, op, zero_points_i32, quant_min, quant_max);
  flag.queue_readback();

  const at::Tensor src = dense(input);
  const at::Tensor out = at::empty_like(src);
  if (mask != nullptr) *mask = at::empty_like(src, src.options().dtype(at::kBool));
  if (src.numel() > 0) {
    const at::Tensor inv = at::reciprocal(scales_f32).contiguous();
    const at::Tensor zp = zero_points_i32.to(at::kFloat).contiguous();
    const at::Tensor s = scales_f32.contiguous();
    const ChannelLayout layout{src.size(axis), channel_run(src, axis)};
    const int64_t steps = (src.numel() + kElementsPerThread - 1) / kElementsPerThread;
    fake_quantize_kernel<<<static_cast<unsigned>(grid_size(steps)), kThreads, 0, at::cuda::getCurrentCUDAStream()>>>(
        src.data_ptr<float>(), out.data_ptr<float>(), mask != nullptr ? mask->data_ptr<bool>() : nullptr,
        src.numel(), inv.data_ptr<float>(), zp.data_ptr<float>(), s.data_ptr<float>(), layout,
        static_cast<float>(quant_min), static_cast<float>(quant_max));
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
  raise_if_failed(flag, op, [&] {
    check_scale_values(op, "scales (as float32)", scales_f32);
    check_zero_point_values(op, zero_points_i32, quant_min, quant_max);
  });
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

TORCH_LIBRARY_IMPL(quantized_decomposed, CUDA, m) {
  m.impl("fake_quant_per_channel", TORCH_FN(fake_quant_per_channel));
}

TORCH_LIBRARY_IMPL(torch_pt2e, CUDA, m) {
  m.impl("fake_quant_per_channel_forward", TORCH_FN(fake_quant_per_channel_forward));
}

}  // namespace cuda
}  // namespace kernels
}  // namespace torch_pt2e
