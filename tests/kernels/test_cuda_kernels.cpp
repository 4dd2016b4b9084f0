// CUDA kernels (kernels/cuda/) against the CPU kernels, bit for bit, through
// the dispatcher. Every test ends in _CUDA and skips, saying why, without a
// CUDA device or without a CUDA build of the plugin; tools/gpu_check.sh runs
// them on a GPU machine (CMake build with CUDA, then ctest).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <tuple>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/core/stack.h>
#include <c10/util/Exception.h>

#include "tests/common/kernel_test_utils.h"

namespace {

using torch_pt2e::testing::error_of;

// Why the CUDA tests cannot run here, or "" when they can.
std::string cuda_unavailable() {
  if (!at::hasCUDA()) {
    return "no CUDA device or a CPU-only LibTorch; run tools/gpu_check.sh on a GPU machine";
  }
  const auto op = c10::Dispatcher::singleton().findSchema({"quantized_decomposed::quantize_per_tensor", ""});
  if (!op || !op->hasKernelForDispatchKey(c10::DispatchKey::CUDA)) {
    return "the plugin was built without its CUDA kernels; build with CMake against a CUDA LibTorch "
           "(tools/gpu_check.sh does)";
  }
  return "";
}

#define SKIP_WITHOUT_CUDA()                                   \
  do {                                                        \
    const std::string reason = cuda_unavailable();            \
    if (!reason.empty()) GTEST_SKIP() << reason;              \
  } while (0)

c10::OperatorHandle op(const char* name, const char* overload = "") {
  const auto handle = c10::Dispatcher::singleton().findSchema({name, overload});
  TORCH_CHECK(handle.has_value(), "operator ", name, ".", overload, " is not registered");
  return *handle;
}

// Calls the op with `args` (tensors as they are) and returns its outputs.
std::vector<at::Tensor> call(const c10::OperatorHandle& handle, std::vector<c10::IValue> args) {
  torch::jit::Stack stack(args.begin(), args.end());
  handle.callBoxed(&stack);
  std::vector<at::Tensor> outputs;
  for (const auto& value : stack) outputs.push_back(value.toTensor());
  return outputs;
}

// The same arguments with every tensor copied to the GPU.
std::vector<c10::IValue> on_cuda(const std::vector<c10::IValue>& args) {
  std::vector<c10::IValue> moved;
  for (const auto& value : args) moved.push_back(value.isTensor() ? c10::IValue(value.toTensor().cuda()) : value);
  return moved;
}

// Bitwise equality (NaNs equal when their bits are) and the same strides.
void expect_same(const at::Tensor& gpu, const at::Tensor& cpu, const std::string& context) {
  SCOPED_TRACE(context);
  ASSERT_TRUE(gpu.is_cuda());
  ASSERT_EQ(gpu.scalar_type(), cpu.scalar_type());
  ASSERT_EQ(gpu.sizes(), cpu.sizes());
  if (cpu.numel() > 1) {
    EXPECT_EQ(gpu.strides(), cpu.strides());
  }
  const at::Tensor g = gpu.cpu().contiguous(), c = cpu.contiguous();
  const auto bytes = static_cast<size_t>(c.numel()) * c.element_size();
  EXPECT_EQ(std::memcmp(g.data_ptr(), c.data_ptr(), bytes), 0);
}

void expect_parity(const char* name, const char* overload, const std::vector<c10::IValue>& args,
                   const std::string& context) {
  const auto handle = op(name, overload);
  const auto cpu = call(handle, args);
  const auto gpu = call(handle, on_cuda(args));
  ASSERT_EQ(cpu.size(), gpu.size());
  for (size_t i = 0; i < cpu.size(); ++i) expect_same(gpu[i], cpu[i], context + " output " + std::to_string(i));
}

at::Tensor inputs(at::IntArrayRef shape, at::ScalarType dtype = at::kFloat) {
  at::manual_seed(0);
  at::Tensor x = at::randn(shape) * 40;
  at::Tensor flat = x.view({-1});
  // Exact halves (round-half-to-even ties) and the edge values.
  const std::vector<float> edges = {0.5f, -2.5f, 1e30f, -1e30f, INFINITY, -INFINITY, -0.0f, 3.5f};
  for (int64_t i = 0; i < std::min<int64_t>(flat.numel(), edges.size()); ++i) flat[i] = edges[i];
  return x.to(dtype);
}

TEST(CudaPerTensor, QuantizeDequantizeEveryDtype_CUDA) {
  SKIP_WITHOUT_CUDA();
  const std::vector<std::tuple<at::ScalarType, int64_t, int64_t>> quant = {
      {at::kByte, 0, 255}, {at::kChar, -128, 127}, {at::kShort, -32768, 32767}, {at::kInt, INT32_MIN, INT32_MAX}};
  for (const auto input_dtype : {at::kFloat, at::kHalf, at::kBFloat16}) {
    for (const int64_t numel : {1, 15, 17, 100003}) {
      const at::Tensor x = inputs({numel}, input_dtype);
      for (const auto& [dtype, qmin, qmax] : quant) {
        const std::string context = std::string(c10::toString(input_dtype)) + " -> " + c10::toString(dtype) +
                                    " n=" + std::to_string(numel);
        expect_parity("quantized_decomposed::quantize_per_tensor", "", {x, 0.037, qmin + 3, qmin, qmax, dtype},
                      context);
        const at::Tensor q = call(op("quantized_decomposed::quantize_per_tensor"), {x, 0.037, qmin + 3, qmin, qmax,
                                                                                     dtype})[0];
        for (const auto out : {at::kFloat, at::kDouble, at::kHalf, at::kBFloat16}) {
          expect_parity("quantized_decomposed::dequantize_per_tensor", "",
                        {q, 0.037, qmin + 3, qmin, qmax, dtype, out}, context + " dequantize");
        }
      }
    }
  }
}

TEST(CudaPerTensor, ChannelsLastKeepsItsLayout_CUDA) {
  SKIP_WITHOUT_CUDA();
  const at::Tensor x = inputs({2, 3, 9, 7}).contiguous(at::MemoryFormat::ChannelsLast);
  expect_parity("quantized_decomposed::quantize_per_tensor", "", {x, 0.1, 0, -128, 127, at::kChar}, "channels-last");
  expect_parity("quantized_decomposed::quantize_per_tensor", "",
                {x.transpose(0, 3), 0.1, 0, -128, 127, at::kChar}, "non-dense");
}

TEST(CudaPerTensor, GpuParameterErrorsMatchTheCpu_CUDA) {
  SKIP_WITHOUT_CUDA();
  const at::Tensor x = inputs({64});
  const auto handle = op("quantized_decomposed::quantize_per_tensor", "tensor");
  for (const double scale : {0.0, -1.0, static_cast<double>(NAN)}) {
    const at::Tensor s = at::full({}, scale, at::kDouble), z = at::zeros({}, at::kLong);
    const std::string cpu = error_of([&] { call(handle, {x, s, z, -128, 127, at::kChar}); });
    const std::string gpu = error_of([&] { call(handle, {x.cuda(), s.cuda(), z.cuda(), -128, 127, at::kChar}); });
    EXPECT_NE(cpu, "no error");
    EXPECT_EQ(gpu, cpu);
  }
}

TEST(CudaPerChannel, QuantizeDequantize_CUDA) {
  SKIP_WITHOUT_CUDA();
  const at::Tensor x = inputs({3, 5, 7, 11});
  for (const int64_t axis : {0, 1, 3}) {
    const int64_t channels = x.size(axis);
    const at::Tensor scales = at::rand({channels}, at::kDouble) * 0.5 + 0.01;
    const at::Tensor zero_points = at::randint(-50, 50, {channels}, at::kLong);
    for (const auto& layout : {x, x.contiguous(at::MemoryFormat::ChannelsLast)}) {
      const std::string context = "axis " + std::to_string(axis);
      expect_parity("quantized_decomposed::quantize_per_channel", "",
                    {layout, scales, zero_points, axis, -128, 127, at::kChar}, context);
      const at::Tensor q = call(op("quantized_decomposed::quantize_per_channel"),
                                {layout, scales, zero_points, axis, -128, 127, at::kChar})[0];
      expect_parity("quantized_decomposed::dequantize_per_channel", "",
                    {q, scales, zero_points, axis, -128, 127, at::kChar, at::kHalf}, context + " dequantize");
    }
  }
}

TEST(CudaPerToken, QuantizeDequantizeAndChooseQparams_CUDA) {
  SKIP_WITHOUT_CUDA();
  for (const auto dtype : {at::kFloat, at::kHalf, at::kBFloat16}) {
    const at::Tensor x = (inputs({33, 4099}).clamp(-1e4, 1e4) * 0.01).to(dtype);
    const std::string context = c10::toString(dtype);
    expect_parity("quantized_decomposed::choose_qparams_per_token", "", {x, at::kChar}, context);
    expect_parity("quantized_decomposed::choose_qparams_per_token_asymmetric", "", {x, at::kChar}, context);
    const auto qparams = call(op("quantized_decomposed::choose_qparams_per_token_asymmetric"), {x, at::kChar});
    expect_parity("quantized_decomposed::quantize_per_token", "", {x, qparams[0], qparams[1], -128, 127, at::kChar},
                  context);
    const at::Tensor q = call(op("quantized_decomposed::quantize_per_token"),
                              {x, qparams[0], qparams[1], -128, 127, at::kChar})[0];
    expect_parity("quantized_decomposed::dequantize_per_token", "",
                  {q, qparams[0], qparams[1], -128, 127, at::kChar, dtype}, context + " dequantize");
  }
}

TEST(CudaPerChannelGroup, QuantizeDequantize_CUDA) {
  SKIP_WITHOUT_CUDA();
  const at::Tensor x = inputs({8, 256}).clamp(-1e4, 1e4);
  const at::Tensor scales = at::rand({64}) * 0.3 + 0.01;
  const at::Tensor zero_points = at::randint(-8, 8, {64}).to(at::kFloat);
  expect_parity("quantized_decomposed::quantize_per_channel_group", "",
                {x, scales, zero_points, -8, 7, at::kChar, 32}, "quantize");
  const at::Tensor q = call(op("quantized_decomposed::quantize_per_channel_group"),
                            {x, scales, zero_points, -8, 7, at::kChar, 32})[0];
  expect_parity("quantized_decomposed::dequantize_per_channel_group", "",
                {q, scales, zero_points, -8, 7, at::kChar, 32, at::kFloat}, "dequantize");
}

TEST(CudaChooseQparams, TensorAndSymmetric_CUDA) {
  SKIP_WITHOUT_CUDA();
  for (const int64_t numel : {1, 4097, (1 << 22) + 3}) {
    const at::Tensor x = inputs({numel}).clamp(-1e4, 1e4);
    const std::string context = "n=" + std::to_string(numel);
    expect_parity("quantized_decomposed::choose_qparams", "tensor", {x, -128, 127, 1e-5, at::kChar}, context);
    expect_parity("quantized_decomposed::choose_qparams_symmetric", "tensor", {x, -128, 127, 1e-5, at::kChar},
                  context);
  }
  const at::Tensor nan = at::full({100}, NAN);
  const auto handle = op("quantized_decomposed::choose_qparams", "tensor");
  EXPECT_EQ(error_of([&] { call(handle, {nan.cuda(), -128, 127, 1e-5, at::kChar}); }),
            error_of([&] { call(handle, {nan, -128, 127, 1e-5, at::kChar}); }));
}

TEST(CudaFakeQuant, PerChannel_CUDA) {
  SKIP_WITHOUT_CUDA();
  const at::Tensor x = inputs({4, 3, 9, 17});
  const at::Tensor scales = at::tensor({0.1f, 0.25f, 0.03f});
  const at::Tensor zero_points = at::tensor({0, 5, -7}, at::kInt);
  expect_parity("quantized_decomposed::fake_quant_per_channel", "", {x, scales, zero_points, 1, -128, 127}, "");
}

TEST(CudaConvertElementType, NoFuse_CUDA) {
  SKIP_WITHOUT_CUDA();
  const at::Tensor x = inputs({4, 3, 8, 5}).clamp(-6e4, 6e4).contiguous(at::MemoryFormat::ChannelsLast);
  for (const auto dtype : {at::kHalf, at::kBFloat16, at::kDouble}) {
    expect_parity("quantized_decomposed::convert_element_type", "no_fuse", {x, dtype}, c10::toString(dtype));
  }
}

TEST(CudaOutDtype, IntegerMmConvAndRequantize_CUDA) {
  SKIP_WITHOUT_CUDA();
  at::manual_seed(0);
  const at::Tensor a = at::randint(-128, 128, {37, 300}, at::kChar);
  const at::Tensor b = at::randint(0, 256, {300, 45}, at::kByte);
  expect_parity("torch_pt2e::out_dtype_mm", "", {a, b, at::kInt}, "mm");
  expect_parity("torch_pt2e::out_dtype_mm", "", {a, b.t().contiguous().t(), at::kInt}, "mm, column-major mat2");
  const at::Tensor x = at::randint(0, 256, {2, 6, 11, 9}, at::kByte);
  const at::Tensor w = at::randint(-128, 128, {8, 3, 3, 3}, at::kChar);
  const at::Tensor bias = at::randint(-1000, 1000, {8}, at::kInt);
  expect_parity("torch_pt2e::out_dtype_convolution", "",
                {x, w, bias, std::vector<int64_t>{2, 1}, std::vector<int64_t>{1, 2}, std::vector<int64_t>{1, 2},
                 false, std::vector<int64_t>{0, 0}, int64_t{2}, at::kInt},
                "grouped conv");
  const at::Tensor acc = at::randint(-1000000, 1000000, {1031}, at::kInt);
  expect_parity("torch_pt2e::out_dtype_mul", "Scalar", {acc, 0.0123, at::kInt}, "mul");
  expect_parity("torch_pt2e::out_dtype_div", "Tensor", {acc, at::full({}, 7.5f), at::kInt}, "div");
}

}  // namespace
