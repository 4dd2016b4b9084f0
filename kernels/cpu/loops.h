// Element loops of the CPU kernels, one table per instruction set.
//
// The loops are plain C++ over raw pointers, written with the scalar helpers
// of kernels/numerics.h. loops_impl.h is compiled three times (baseline
// x86-64, AVX2+FMA+F16C, AVX-512 F/BW/VL/DQ) into separate namespaces, and the
// compiler vectorizes each copy for its instruction set. `loops()` returns the
// best table the running CPU supports (see cpu_capability.h); the ATen-facing
// kernels split the work across threads and call into the table.
#pragma once

#include <cstdint>

namespace torch_pt2e {
namespace kernels {
namespace cpu {

// Storage types of floating-point tensors the loops read or write.
enum class FloatType : int { kFloat = 0, kHalf, kBFloat16, kDouble, kCount };
// Storage types of quantized values.
enum class QuantType : int { kUInt8 = 0, kInt8, kUInt16, kInt16, kInt32, kCount };

constexpr int kFloatTypes = static_cast<int>(FloatType::kCount);
constexpr int kQuantTypes = static_cast<int>(QuantType::kCount);

// Per-tensor (and per-run) affine parameters in the fp32 compute type.
struct AffineQuantParams {
  float inv_scale;
  float zero_point;
  float quant_min;
  float quant_max;
  int64_t quant_min_int;
  int64_t quant_max_int;
};

struct AffineDequantParams {
  float scale;
  float zero_point;
  double scale_double;       // used when the output is float64
  double zero_point_double;
};

// out[i] = quantize(in[i]), round-then-add order (numerics::quantize_round_then_add).
using QuantizeFn = void (*)(const void* in, void* out, int64_t n, const AffineQuantParams& p);
// out[i] = dequantize(in[i]) as dequantize_per_tensor does it for the output type.
using DequantizeFn = void (*)(const void* in, void* out, int64_t n, const AffineDequantParams& p);

// ---- parameters that vary along the tensor (per channel, token, group) -----
//
// The element at memory offset o (of a dense tensor) uses parameter entry
// (o / inner) % entries: runs of `inner` elements share one entry. The
// callers expand short runs into one entry per element of a period
// (inner == 1), so every loop either broadcasts one entry over a long run or
// walks parameter arrays in step with the data; both vectorize.

// The dtype per-channel/per-token/per-group arithmetic is done in: torch's
// promotion of the input, scales and zero points (see docs/numerics.md).
// bfloat16/float16 chains compute each op in float and round to the dtype.
enum class ComputeType : int { kFloat = 0, kDouble, kBFloat16, kHalf, kCount };
// quantize_per_channel rounds then adds the zero point; quantize_per_token and
// quantize_per_channel_group add it before rounding.
enum class RoundingOrder : int { kRoundThenAdd = 0, kAddThenRound, kCount };
// The dtype of `q - zero_point` in dequantize: exact integer (integer or no
// zero points), or the floating dtype of the zero points.
enum class DifferenceType : int { kInteger = 0, kFloat, kDouble, kBFloat16, kHalf, kCount };

constexpr int kComputeTypes = static_cast<int>(ComputeType::kCount);
constexpr int kRoundingOrders = static_cast<int>(RoundingOrder::kCount);
constexpr int kDifferenceTypes = static_cast<int>(DifferenceType::kCount);

struct ParamLayout {
  int64_t entries;  // parameter entries (channels, tokens, groups, or a period)
  int64_t inner;    // elements sharing one entry in a run
};

// Parameter arrays hold values of the compute dtype, stored as float for
// bfloat16/float16 (the loops' arithmetic type), else as that dtype.
struct ChannelQuantParams {
  const void* inv_scale;   // [entries]
  const void* zero_point;  // [entries]
  ParamLayout layout;
  double quant_min;  // clamp bounds, converted to the compute type by the loop
  double quant_max;
  int64_t quant_min_int;
  int64_t quant_max_int;
};

struct ChannelDequantParams {
  const void* scale;       // [entries]
  const void* zero_point;  // [entries]: int32 for kInteger, else like scale; never null
  ParamLayout layout;
};

struct FakeQuantParams {
  const float* inv_scale;
  const float* zero_point;
  const float* scale;
  ParamLayout layout;
  float quant_min;
  float quant_max;
};

// Elements [begin, end) of the tensors at `in` and `out` (base pointers).
using QuantizeChannelsFn = void (*)(const void* in, void* out, int64_t begin, int64_t end,
                                    const ChannelQuantParams& p);
using DequantizeChannelsFn = void (*)(const void* in, void* out, int64_t begin, int64_t end,
                                      const ChannelDequantParams& p);
// `mask` (may be null) receives qmin <= t <= qmax for the gradient.
using FakeQuantizeChannelsFn = void (*)(const float* in, float* out, bool* mask, int64_t begin, int64_t end,
                                        const FakeQuantParams& p);

// ---- reductions for choose_qparams* ------------------------------------------

struct MinMax {
  double min;  // of the non-NaN elements (+inf/-inf when there are none)
  double max;
  bool has_nan;
};
struct AbsMax {
  double max;  // of |x| over the non-NaN elements (0 when there are none)
  bool has_nan;
};
using MinMaxFn = MinMax (*)(const void* in, int64_t n);
using AbsMaxFn = AbsMax (*)(const void* in, int64_t n);

struct Loops {
  const char* isa_name;
  QuantizeFn quantize_per_tensor[kFloatTypes][kQuantTypes];      // [input][output]
  DequantizeFn dequantize_per_tensor[kQuantTypes][kFloatTypes];  // [input][output]
  // [order][compute][input][output]; null where the input is not promoted
  // exactly to the compute type (float64 input in float32; bfloat16/float16
  // compute only takes inputs of that dtype).
  QuantizeChannelsFn quantize_channels[kRoundingOrders][kComputeTypes][kFloatTypes][kQuantTypes];
  // [difference][compute][input][output]; null where the compute type is
  // not the promotion of the difference with some scale dtype.
  DequantizeChannelsFn dequantize_channels[kDifferenceTypes][kComputeTypes][kQuantTypes][kFloatTypes];
  FakeQuantizeChannelsFn fake_quantize_channels;  // float32 only, as upstream
  MinMaxFn min_max[kFloatTypes];
  AbsMaxFn abs_max[kFloatTypes];
};

// The table for the running CPU, or the one forced by TORCH_PT2E_CPU_CAPABILITY.
const Loops& loops();

// Each instruction-set variant (for tests that compare them).
const Loops& loops_default();
const Loops& loops_avx2();
const Loops& loops_avx512();

}  // namespace cpu
}  // namespace kernels
}  // namespace torch_pt2e
