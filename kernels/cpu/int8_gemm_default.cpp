// Portable variant of the integer GEMM kernels (int8_gemm_microkernels.h):
// a scalar s16 tile, for CPUs without AVX2. Sums wrap as uint32.
#include <cstring>

#include "kernels/cpu/int8_gemm_microkernels.h"
#include "kernels/cpu/int8_gemm_scale.h"

namespace torch_pt2e {
namespace kernels {
namespace cpu {
namespace {

constexpr int64_t kRows = 4;

int16_t load_i16(const uint8_t* p) {
  int16_t v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

void tile_s16(const Int8GemmTile& t) {
  uint32_t acc[kRows][kInt8GemmBlock] = {};
  for (int64_t g = 0; g < t.k_groups; ++g) {
    const uint8_t* b = t.b + g * t.width * 4;
    for (int64_t m = 0; m < t.rows; ++m) {
      const uint8_t* a = t.a + m * t.lda + g * 4;
      const int32_t a0 = load_i16(a), a1 = load_i16(a + 2);
      for (int64_t n = 0; n < kInt8GemmBlock; ++n) {
        const int32_t b0 = load_i16(b + n * 4), b1 = load_i16(b + n * 4 + 2);
        // Each product fits int32; only their sum can pass 2^31.
        acc[m][n] += static_cast<uint32_t>(a0 * b0) + static_cast<uint32_t>(a1 * b1);
      }
    }
  }
  for (int64_t m = 0; m < t.rows; ++m) {
    const uint32_t row = t.row_offset ? static_cast<uint32_t>(t.row_offset[m]) : 0u;
    for (int64_t n = 0; n < t.cols; ++n) {
      const uint32_t col = t.col_offset ? static_cast<uint32_t>(t.col_offset[n]) : 0u;
      t.c[m * t.ldc + n] = static_cast<int32_t>(acc[m][n] + row + col);
    }
  }
}

constexpr Int8GemmIsa make_table() {
  Int8GemmIsa isa{};
  isa.name = "default";
  isa.s16 = Int8GemmMicrokernel{tile_s16, kRows, 1, 2};
  fill_scale_table(isa);
  return isa;
}

}  // namespace

const Int8GemmIsa& int8_gemm_isa_default() {
  // Built by the compiler: no code compiled for this instruction set runs
  // when the table is read, so any CPU may read it (int8_gemm_isa_supported).
  static constexpr Int8GemmIsa isa = make_table();
  return isa;
}

}  // namespace cpu
}  // namespace kernels
}  // namespace torch_pt2e
