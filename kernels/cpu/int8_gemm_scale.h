// The out_dtype mul/div loop (an int32 accumulator or a float32 tensor times
// or divided by one float32 factor, truncated to int32), included by each
// instruction set's int8_gemm_<isa>.cpp so the compiler vectorizes it for that
// set. Internal linkage: every including file gets its own copy.
#pragma once

#include <cstdint>

#include "kernels/cpu/int8_gemm_microkernels.h"
#include "kernels/numerics.h"

namespace torch_pt2e {
namespace kernels {
namespace cpu {
namespace {

template <typename S, bool kDivide>
void scale_to_int32(const void* in, int32_t* __restrict out, int64_t n, float factor) {
  const S* __restrict src = static_cast<const S*>(in);
  for (int64_t i = 0; i < n; ++i) {
    const float x = static_cast<float>(src[i]);
    out[i] = numerics::truncate_to_int32(kDivide ? x / factor : x * factor);
  }
}

constexpr void fill_scale_table(Int8GemmIsa& isa) {
  isa.scale_to_int32[0][0] = scale_to_int32<int32_t, false>;
  isa.scale_to_int32[0][1] = scale_to_int32<int32_t, true>;
  isa.scale_to_int32[1][0] = scale_to_int32<float, false>;
  isa.scale_to_int32[1][1] = scale_to_int32<float, true>;
}

}  // namespace
}  // namespace cpu
}  // namespace kernels
}  // namespace torch_pt2e
