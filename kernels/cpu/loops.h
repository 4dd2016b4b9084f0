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

struct Loops {
  const char* isa_name;
  QuantizeFn quantize_per_tensor[kFloatTypes][kQuantTypes];      // [input][output]
  DequantizeFn dequantize_per_tensor[kQuantTypes][kFloatTypes];  // [input][output]
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
