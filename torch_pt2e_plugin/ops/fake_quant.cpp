#include "torch_pt2e_plugin/ops/fake_quant.h"

#include <ATen/ATen.h>
#include <ATen/core/LegacyTypeDispatch.h>
#include <torch/csrc/autograd/custom_function.h>

#include "kernels/checks.h"

namespace torch_pt2e {
namespace ops {
namespace {

namespace k = ::torch_pt2e::kernels;

// Byte-identical to upstream's schema (tests/ops/test_schemas.py compares).
constexpr const char* kFakeQuant =
    "fake_quant_per_channel(Tensor input, Tensor scales, Tensor zero_points, int axis, int quant_min, "
    "int quant_max) -> Tensor";
constexpr const char* kForward =
    "fake_quant_per_channel_forward(Tensor input, Tensor scales, Tensor zero_points, int axis, int quant_min, "
    "int quant_max) -> (Tensor output, Tensor mask)";

at::Tensor fake_quant_meta(const at::Tensor& input, const at::Tensor& scales, const at::Tensor& zero_points,
                           int64_t axis, int64_t quant_min, int64_t quant_max) {
  k::check_fake_quant_per_channel_args("quantized_decomposed::fake_quant_per_channel", input, scales, zero_points,
                                       axis, quant_min, quant_max);
  return at::empty_like(input);
}

std::tuple<at::Tensor, at::Tensor> forward_meta(const at::Tensor& input, const at::Tensor& scales,
                                                const at::Tensor& zero_points, int64_t axis, int64_t quant_min,
                                                int64_t quant_max) {
  k::check_fake_quant_per_channel_args("quantized_decomposed::fake_quant_per_channel", input, scales, zero_points,
                                       axis, quant_min, quant_max);
  return {at::empty_like(input), at::empty_like(input, input.options().dtype(at::kBool))};
}

class FakeQuantPerChannelFunction : public torch::autograd::Function<FakeQuantPerChannelFunction> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& input, const at::Tensor& scales,
                            const at::Tensor& zero_points, int64_t axis, int64_t quant_min, int64_t quant_max) {
    at::AutoDispatchBelowADInplaceOrView below_autograd;
    auto result = fake_quant_per_channel_forward(input, scales, zero_points, axis, quant_min, quant_max);
    ctx->save_for_backward({std::get<1>(result)});
    return std::get<0>(result);
  }

  // Straight-through: the gradient passes where t was inside [quant_min, quant_max].
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_outputs) {
    const at::Tensor mask = ctx->get_saved_variables()[0];
    return {grad_outputs[0] * mask, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

at::Tensor fake_quant_autograd(const at::Tensor& input, const at::Tensor& scales, const at::Tensor& zero_points,
                               int64_t axis, int64_t quant_min, int64_t quant_max) {
  return FakeQuantPerChannelFunction::apply(input, scales, zero_points, axis, quant_min, quant_max);
}

}  // namespace

OpFamily fake_quant_ops() {
  OpFamily family;
  family.name = "fake_quant";
  family.schemas = {kFakeQuant};
  family.register_definer_kernels = [](torch::Library& lib, const std::vector<std::string>& defined) {
    impl_if_defined(lib, defined, "fake_quant_per_channel", c10::DispatchKey::Meta, TORCH_FN(fake_quant_meta));
    impl_if_defined(lib, defined, "fake_quant_per_channel", c10::DispatchKey::Autograd,
                    TORCH_FN(fake_quant_autograd));
  };
  return family;
}

OpFamily fake_quant_forward_ops() {
  OpFamily family;
  family.ns = "torch_pt2e";
  family.name = "fake_quant_forward";
  family.schemas = {kForward};
  family.register_definer_kernels = [](torch::Library& lib, const std::vector<std::string>& defined) {
    impl_if_defined(lib, defined, "fake_quant_per_channel_forward", c10::DispatchKey::Meta, TORCH_FN(forward_meta));
  };
  return family;
}

at::Tensor fake_quant_per_channel(const at::Tensor& input, const at::Tensor& scales, const at::Tensor& zero_points,
                                  int64_t axis, int64_t quant_min, int64_t quant_max) {
  static const auto op = find_op<at::Tensor(const at::Tensor&, const at::Tensor&, const at::Tensor&, int64_t,
                                            int64_t, int64_t)>("quantized_decomposed::fake_quant_per_channel", "");
  return op.call(input, scales, zero_points, axis, quant_min, quant_max);
}

std::tuple<at::Tensor, at::Tensor> fake_quant_per_channel_forward(const at::Tensor& input, const at::Tensor& scales,
                                                                  const at::Tensor& zero_points, int64_t axis,
                                                                  int64_t quant_min, int64_t quant_max) {
  static const auto op =
      find_op<std::tuple<at::Tensor, at::Tensor>(const at::Tensor&, const at::Tensor&, const at::Tensor&, int64_t,
                                                 int64_t, int64_t)>("torch_pt2e::fake_quant_per_channel_forward", "");
  return op.call(input, scales, zero_points, axis, quant_min, quant_max);
}

}  // namespace ops
}  // namespace torch_pt2e
