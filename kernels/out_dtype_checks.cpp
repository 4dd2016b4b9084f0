#include "kernels/out_dtype_checks.h"

#include <algorithm>

#include <c10/core/DefaultDtype.h>
#include <c10/util/Exception.h>

namespace torch_pt2e {
namespace kernels {
namespace {

// Position in torch._prims_common.get_higher_dtype's order; -1 for dtypes
// it does not know (quantized, float8, uint16 ...).
int promotion_level(at::ScalarType dtype) {
  switch (dtype) {
    case at::kBool:
      return 0;
    case at::kByte:
    case at::kChar:
      return 1;
    case at::kShort:
      return 2;
    case at::kInt:
      return 3;
    case at::kLong:
      return 4;
    case at::kHalf:
    case at::kBFloat16:
      return 5;
    case at::kFloat:
      return 6;
    case at::kDouble:
      return 7;
    case at::kComplexHalf:
      return 8;
    case at::kComplexFloat:
      return 9;
    case at::kComplexDouble:
      return 10;
    default:
      return -1;
  }
}

constexpr at::ScalarType kFirstOfLevel[] = {at::kBool,  at::kByte,   at::kShort,       at::kInt,
                                            at::kLong,  at::kHalf,   at::kFloat,       at::kDouble,
                                            at::kComplexHalf, at::kComplexFloat, at::kComplexDouble};

enum Category : int { kBoolCategory = 0, kIntegerCategory = 1, kFloatCategory = 2, kComplexCategory = 3 };

int category(at::ScalarType dtype) {
  const int level = promotion_level(dtype);
  if (level == 0) return kBoolCategory;
  if (level <= 4) return kIntegerCategory;
  if (level <= 7) return kFloatCategory;
  return kComplexCategory;
}

// get_higher_dtype: the higher of two dtypes; two different dtypes of one
// level (uint8/int8, float16/bfloat16) promote to the next level's first.
at::ScalarType higher_dtype(at::ScalarType a, at::ScalarType b) {
  if (a == b) return a;
  const int la = promotion_level(a), lb = promotion_level(b);
  if (la == lb) return kFirstOfLevel[la + 1];
  return la > lb ? a : b;
}

at::ScalarType corresponding_complex(at::ScalarType dtype) {
  switch (dtype) {
    case at::kHalf:
      return at::kComplexHalf;
    case at::kBFloat16:
    case at::kFloat:
      return at::kComplexFloat;
    case at::kDouble:
      return at::kComplexDouble;
    default:
      return dtype;
  }
}

at::ScalarType default_float_dtype() { return c10::typeMetaToScalarType(c10::get_default_dtype()); }

// Whether a tensor of sizes `from` broadcasts to `to` without growing it.
bool broadcasts_to(at::IntArrayRef from, at::IntArrayRef to) {
  if (from.size() > to.size()) return false;
  const size_t lead = to.size() - from.size();
  for (size_t i = 0; i < from.size(); ++i) {
    if (from[i] != 1 && from[i] != to[lead + i]) return false;
  }
  return true;
}

}  // namespace

OutDtypePromotion::OutDtypePromotion(const char* op, at::ScalarType out_dtype) : op_(op) {
  TORCH_CHECK(promotion_level(out_dtype) >= 0, op, ": out_dtype must be a bool, integer, floating or complex dtype ",
              "that torch's type promotion orders, got ", out_dtype);
  tensors_.push_back({out_dtype, false});  // upstream's ones(1, dtype=out_dtype)
}

OutDtypePromotion& OutDtypePromotion::tensor(const char* name, const at::Tensor& value) {
  TORCH_CHECK(promotion_level(value.scalar_type()) >= 0, op_, ": ", name,
              " must have a bool, integer, floating or complex dtype that torch's type promotion orders, got ",
              value.scalar_type());
  tensors_.push_back({value.scalar_type(), value.dim() == 0});
  return *this;
}

OutDtypePromotion& OutDtypePromotion::tensor(const char* name, const c10::optional<at::Tensor>& value) {
  if (value.has_value() && value->defined()) tensor(name, *value);
  return *this;
}

OutDtypePromotion& OutDtypePromotion::number(const c10::Scalar& value) {
  const int kind = value.isComplex() ? kComplexCategory
                   : value.isFloatingPoint() ? kFloatCategory
                   : value.isBoolean()       ? kBoolCategory
                                             : kIntegerCategory;
  number_category_ = std::max(number_category_, kind);
  return *this;
}

OutDtypePromotion& OutDtypePromotion::integer_number() {
  number_category_ = std::max<int>(number_category_, kIntegerCategory);
  return *this;
}

at::ScalarType OutDtypePromotion::compute_dtype() const {
  int highest = number_category_;
  for (const auto& t : tensors_) highest = std::max(highest, category(t.dtype));

  // Highest dtype passing `keep` among tensors with dimensions, else among 0-dim ones.
  auto highest_tensor_dtype = [&](auto keep, bool float_as_complex) -> c10::optional<at::ScalarType> {
    c10::optional<at::ScalarType> dims, zero_dim;
    for (const auto& t : tensors_) {
      if (!keep(t.dtype)) continue;
      const at::ScalarType dtype = float_as_complex ? corresponding_complex(t.dtype) : t.dtype;
      auto& slot = t.zero_dim ? zero_dim : dims;
      slot = slot.has_value() ? higher_dtype(*slot, dtype) : dtype;
    }
    return dims.has_value() ? dims : zero_dim;
  };

  at::ScalarType result = at::kBool;
  if (highest == kFloatCategory) {
    result = highest_tensor_dtype([](at::ScalarType d) { return category(d) == kFloatCategory; }, false)
                 .value_or(default_float_dtype());
  } else if (highest == kComplexCategory) {
    result = highest_tensor_dtype([](at::ScalarType d) { return category(d) >= kFloatCategory; }, true)
                 .value_or(corresponding_complex(default_float_dtype()));
  } else if (highest == kIntegerCategory) {
    result = highest_tensor_dtype([](at::ScalarType d) { return category(d) == kIntegerCategory; }, false)
                 .value_or(at::kLong);
  }
  // The DEFAULT kind's computation dtype ("op math").
  if (result == at::kHalf || result == at::kBFloat16) return at::kFloat;
  if (result == at::kComplexHalf) return at::kComplexFloat;
  return result;
}

std::vector<int64_t> out_dtype_mm_sizes(const char* op, const at::Tensor& self, const at::Tensor& mat2) {
  TORCH_CHECK(self.dim() == 2, op, ": self must be a 2-D tensor, got shape ", self.sizes());
  TORCH_CHECK(mat2.dim() == 2, op, ": mat2 must be a 2-D tensor, got shape ", mat2.sizes());
  TORCH_CHECK(self.size(1) == mat2.size(0), op, ": self and mat2 shapes cannot be multiplied (", self.size(0), "x",
              self.size(1), " and ", mat2.size(0), "x", mat2.size(1), ")");
  return {self.size(0), mat2.size(1)};
}

std::vector<int64_t> out_dtype_linear_sizes(const char* op, const at::Tensor& input, const at::Tensor& weight,
                                            const c10::optional<at::Tensor>& bias) {
  TORCH_CHECK(input.dim() >= 1, op, ": input must have at least one dimension, got a 0-d tensor");
  TORCH_CHECK(weight.dim() == 1 || weight.dim() == 2, op, ": weight must be a 1-D or 2-D tensor, got shape ",
              weight.sizes());
  TORCH_CHECK(input.size(-1) == weight.size(-1), op, ": input's last dimension (", input.size(-1),
              ") must equal weight's (", weight.size(-1), "); input is ", input.sizes(), ", weight is ",
              weight.sizes());
  std::vector<int64_t> sizes(input.sizes().begin(), input.sizes().end() - 1);
  if (weight.dim() == 2) sizes.push_back(weight.size(0));
  if (bias.has_value() && bias->defined()) {
    TORCH_CHECK(broadcasts_to(bias->sizes(), sizes), op, ": bias of shape ", bias->sizes(),
                " cannot be added to the output of shape ", at::IntArrayRef(sizes));
  }
  return sizes;
}

std::vector<int64_t> expand_conv_param(at::IntArrayRef values, int64_t spatial_dims) {
  if (values.size() == 1) return std::vector<int64_t>(spatial_dims, values[0]);
  return values.vec();
}

std::vector<int64_t> out_dtype_convolution_sizes(const char* op, const at::Tensor& input, const at::Tensor& weight,
                                                 const c10::optional<at::Tensor>& bias, at::IntArrayRef stride,
                                                 at::IntArrayRef padding, at::IntArrayRef dilation, bool transposed,
                                                 at::IntArrayRef output_padding, int64_t groups) {
  TORCH_CHECK(weight.dim() >= 3 && weight.dim() <= 5, op,
              ": weight must be 3-D, 4-D or 5-D (1-d, 2-d or 3-d convolution), got shape ", weight.sizes());
  TORCH_CHECK(input.dim() == weight.dim(), op, ": expected ", weight.dim(), "-dimensional input for ", weight.dim(),
              "-dimensional weight ", weight.sizes(), ", got input of shape ", input.sizes());
  const int64_t dims = weight.dim() - 2;
  auto param = [&](const char* name, at::IntArrayRef values) {
    TORCH_CHECK(values.size() == 1 || static_cast<int64_t>(values.size()) == dims, op, ": ", name,
                " must have 1 or ", dims, " elements, got ", values);
    return expand_conv_param(values, dims);
  };
  const auto strides = param("stride", stride);
  const auto pads = param("padding", padding);
  const auto dilations = param("dilation", dilation);
  const auto out_pads = param("output_padding", output_padding);
  TORCH_CHECK(groups > 0, op, ": groups must be > 0, got ", groups);
  for (int64_t d = 0; d < dims; ++d) {
    TORCH_CHECK(strides[d] > 0, op, ": stride must be > 0, got ", stride);
    TORCH_CHECK(dilations[d] > 0, op, ": dilation must be > 0, got ", dilation);
    TORCH_CHECK(pads[d] >= 0, op, ": padding must be >= 0, got ", padding);
    TORCH_CHECK(out_pads[d] >= 0, op, ": output_padding must be >= 0, got ", output_padding);
    if (transposed) {
      TORCH_CHECK(out_pads[d] < strides[d] || out_pads[d] < dilations[d], op,
                  ": output_padding must be smaller than either stride or dilation, got output_padding ",
                  output_padding, ", stride ", stride, ", dilation ", dilation);
    }
  }
  int64_t out_channels = 0;
  if (transposed) {
    TORCH_CHECK(weight.size(0) == input.size(1), op, ": transposed weight of shape ", weight.sizes(),
                " expects input with ", weight.size(0), " channels, got input of shape ", input.sizes());
    TORCH_CHECK(weight.size(0) % groups == 0, op, ": weight's first dimension (", weight.size(0),
                ") must be divisible by groups (", groups, ")");
    out_channels = weight.size(1) * groups;
  } else {
    TORCH_CHECK(input.size(1) == weight.size(1) * groups, op, ": weight of shape ", weight.sizes(), " with groups=",
                groups, " expects input with ", weight.size(1) * groups, " channels, got input of shape ",
                input.sizes());
    TORCH_CHECK(weight.size(0) % groups == 0, op, ": weight's first dimension (", weight.size(0),
                ") must be divisible by groups (", groups, ")");
    out_channels = weight.size(0);
  }
  if (bias.has_value() && bias->defined()) {
    TORCH_CHECK(bias->dim() == 1 && bias->size(0) == out_channels, op, ": bias must be 1-D with ", out_channels,
                " elements (one per output channel), got shape ", bias->sizes());
  }
  std::vector<int64_t> sizes = {input.size(0), out_channels};
  for (int64_t d = 0; d < dims; ++d) {
    const int64_t in = input.size(d + 2), kernel = weight.size(d + 2);
    const int64_t span = dilations[d] * (kernel - 1) + 1;
    int64_t out = 0;
    if (transposed) {
      out = (in - 1) * strides[d] - 2 * pads[d] + span + out_pads[d];
    } else {
      TORCH_CHECK(in + 2 * pads[d] >= span, op, ": padded input size per channel (", input.sizes().slice(2),
                  " with padding ", padding, ") is smaller than the dilated kernel (", weight.sizes().slice(2),
                  " with dilation ", dilation, ")");
      out = (in + 2 * pads[d] - span) / strides[d] + 1;
    }
    TORCH_CHECK(out > 0, op, ": the output would have size ", out, " in spatial dimension ", d, "; input ",
                input.sizes(), ", weight ", weight.sizes());
    sizes.push_back(out);
  }
  return sizes;
}

std::vector<int64_t> out_dtype_broadcast_sizes(const char* op, const at::Tensor& self, const at::Tensor& other) {
  const std::vector<int64_t> a = self.sizes().vec(), b = other.sizes().vec();
  const size_t dims = std::max(a.size(), b.size());
  std::vector<int64_t> sizes(dims);
  for (size_t i = 0; i < dims; ++i) {
    const int64_t x = i < dims - a.size() ? 1 : a[i - (dims - a.size())];
    const int64_t y = i < dims - b.size() ? 1 : b[i - (dims - b.size())];
    TORCH_CHECK(x == y || x == 1 || y == 1, op, ": self of shape ", self.sizes(), " and other of shape ",
                other.sizes(), " do not broadcast (dimension ", i, ": ", x, " vs ", y, ")");
    sizes[i] = x == 1 ? y : x;
  }
  return sizes;
}

}  // namespace kernels
}  // namespace torch_pt2e
