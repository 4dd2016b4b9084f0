#include "torch_pt2e_plugin/ops/choose_qparams.h"

#include <ATen/ATen.h>

#include "kernels/checks.h"

namespace torch_pt2e {
namespace ops {
namespace {

namespace k = ::torch_pt2e::kernels;

// Byte-identical to upstream's schemas (tests/ops/test_schemas.py compares).
constexpr const char* kChoose =
    "choose_qparams.tensor(Tensor input, int quant_min, int quant_max, float eps, ScalarType dtype) -> "
    "(Tensor, Tensor)";
constexpr const char* kChooseSymmetric =
    "choose_qparams_symmetric.tensor(Tensor input, int quant_min, int quant_max, float eps, ScalarType dtype) -> "
    "(Tensor, Tensor)";
constexpr const char* kPerToken = "choose_qparams_per_token(Tensor input, ScalarType dtype) -> (Tensor, Tensor)";
constexpr const char* kPerTokenAsymmetricImpl =
    "_choose_qparams_per_token_asymmetric_impl(Tensor input, ScalarType dtype) -> (Tensor, Tensor)";
constexpr const char* kPerTokenAsymmetric =
    "choose_qparams_per_token_asymmetric(Tensor input, ScalarType dtype) -> (Tensor, Tensor)";

using TensorPair = std::tuple<at::Tensor, at::Tensor>;

TensorPair choose_meta(const at::Tensor& input, int64_t quant_min, int64_t quant_max, double eps,
                       at::ScalarType dtype) {
  k::check_choose_qparams_args("quantized_decomposed::choose_qparams.tensor", input, quant_min, quant_max, eps,
                               dtype);
  return {at::empty({1}, input.options().dtype(at::kDouble)), at::empty({1}, input.options().dtype(at::kLong))};
}

TensorPair choose_symmetric_meta(const at::Tensor& input, int64_t quant_min, int64_t quant_max, double eps,
                                 at::ScalarType dtype) {
  k::check_choose_qparams_args("quantized_decomposed::choose_qparams_symmetric.tensor", input, quant_min, quant_max,
                               eps, dtype);
  return {at::empty({1}, input.options().dtype(at::kDouble)), at::empty({1}, input.options().dtype(at::kLong))};
}

// What the CPU kernel returns, as upstream's real kernel does: scales and
// zero points of the input's dtype (float32 for float16 inputs). Upstream's
// own Meta kernel claims (float64, int64) instead; see docs/numerics.md.
TensorPair per_token_meta(const at::Tensor& input, at::ScalarType dtype) {
  constexpr const char* op = "quantized_decomposed::choose_qparams_per_token";
  k::check_choose_qparams_per_token_input(op, input);
  TORCH_CHECK(dtype == at::kChar, op, ": dtype must be int8 (the only one upstream supports), got ", dtype);
  const at::ScalarType scale_dtype = input.scalar_type() == at::kHalf ? at::kFloat : input.scalar_type();
  const auto shape = k::per_token_qparams_shape(input);
  return {at::empty(shape, input.options().dtype(scale_dtype)), at::empty(shape, input.options().dtype(scale_dtype))};
}

TensorPair per_token_asymmetric_meta(const at::Tensor& input, at::ScalarType dtype) {
  k::check_choose_qparams_per_token_input("quantized_decomposed::choose_qparams_per_token_asymmetric", input);
  const auto shape = k::per_token_qparams_shape(input);
  return {at::empty(shape, input.options().dtype(at::kDouble)), at::empty(shape, input.options().dtype(at::kLong))};
}

// Upstream's _impl is CompositeImplicitAutograd: a decomposition into other
// ops. Here it decomposes into the public op, whose kernels do the work.
TensorPair per_token_asymmetric_impl(const at::Tensor& input, at::ScalarType dtype) {
  return choose_qparams_per_token_asymmetric(input, dtype);
}

}  // namespace

OpFamily choose_qparams_ops() {
  OpFamily family;
  family.name = "choose_qparams";
  family.schemas = {kChoose, kChooseSymmetric, kPerToken, kPerTokenAsymmetricImpl, kPerTokenAsymmetric};
  family.register_definer_kernels = [](torch::Library& lib, const std::vector<std::string>& defined) {
    impl_if_defined(lib, defined, "choose_qparams.tensor", c10::DispatchKey::Meta, TORCH_FN(choose_meta));
    impl_if_defined(lib, defined, "choose_qparams_symmetric.tensor", c10::DispatchKey::Meta,
                    TORCH_FN(choose_symmetric_meta));
    impl_if_defined(lib, defined, "choose_qparams_per_token", c10::DispatchKey::Meta, TORCH_FN(per_token_meta));
    impl_if_defined(lib, defined, "_choose_qparams_per_token_asymmetric_impl",
                    c10::DispatchKey::CompositeImplicitAutograd, TORCH_FN(per_token_asymmetric_impl));
    impl_if_defined(lib, defined, "choose_qparams_per_token_asymmetric", c10::DispatchKey::Meta,
                    TORCH_FN(per_token_asymmetric_meta));
  };
  return family;
}

std::tuple<at::Tensor, at::Tensor> choose_qparams(const at::Tensor& input, int64_t quant_min, int64_t quant_max,
                                                  double eps, at::ScalarType dtype) {
  static const auto op = find_op<TensorPair(const at::Tensor&, int64_t, int64_t, double, at::ScalarType)>(
      "quantized_decomposed::choose_qparams", "tensor");
  return op.call(input, quant_min, quant_max, eps, dtype);
}

std::tuple<at::Tensor, at::Tensor> choose_qparams_symmetric(const at::Tensor& input, int64_t quant_min,
                                                            int64_t quant_max, double eps, at::ScalarType dtype) {
  static const auto op = find_op<TensorPair(const at::Tensor&, int64_t, int64_t, double, at::ScalarType)>(
      "quantized_decomposed::choose_qparams_symmetric", "tensor");
  return op.call(input, quant_min, quant_max, eps, dtype);
}

std::tuple<at::Tensor, at::Tensor> choose_qparams_per_token(const at::Tensor& input, at::ScalarType dtype) {
  static const auto op = find_op<TensorPair(const at::Tensor&, at::ScalarType)>(
      "quantized_decomposed::choose_qparams_per_token", "");
  return op.call(input, dtype);
}

std::tuple<at::Tensor, at::Tensor> choose_qparams_per_token_asymmetric(const at::Tensor& input,
                                                                       at::ScalarType dtype) {
  static const auto op = find_op<TensorPair(const at::Tensor&, at::ScalarType)>(
      "quantized_decomposed::choose_qparams_per_token_asymmetric", "");
  return op.call(input, dtype);
}

}  // namespace ops
}  // namespace torch_pt2e
