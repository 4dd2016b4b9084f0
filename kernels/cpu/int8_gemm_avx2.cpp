// AVX2 variant of the integer GEMM kernels (int8_gemm_microkernels.h): an
// s16 tile on vpmaddwd, which is exact (int16 x int16 pairs summed into int32
// lanes, wrapping only where the int32 sum itself wraps). int8 operands are
// widened to int16 when packed; vpmaddubsw would be twice as fast but
// saturates its int16 pair sums (255 * -128 * 2 < -32768), so it is not used.
#include <immintrin.h>

#include <cstring>

#include "kernels/cpu/int8_gemm_microkernels.h"
#include "kernels/cpu/int8_gemm_scale.h"

namespace torch_pt2e {
namespace kernels {
namespace cpu {
namespace {

constexpr int kRows = 4;

// The loops over R unroll completely so the accumulators stay in registers.
template <int R>
void tile_s16(const Int8GemmTile& t) {
  __m256i acc[R][2];
#pragma GCC unroll 4
  for (int m = 0; m < R; ++m) {
    acc[m][0] = _mm256_setzero_si256();
    acc[m][1] = _mm256_setzero_si256();
  }
  const uint8_t* a = t.a;
  const int64_t lda = t.lda;
  const uint8_t* b = t.b;
  for (int64_t g = 0; g < t.k_groups; ++g, b += kInt8GemmBlock * 4, a += 4) {
    const __m256i b0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b));
    const __m256i b1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + 32));
#pragma GCC unroll 4
    for (int m = 0; m < R; ++m) {
      int32_t pair;
      std::memcpy(&pair, a + m * lda, sizeof(pair));
      const __m256i av = _mm256_set1_epi32(pair);
      acc[m][0] = _mm256_add_epi32(acc[m][0], _mm256_madd_epi16(b0, av));
      acc[m][1] = _mm256_add_epi32(acc[m][1], _mm256_madd_epi16(b1, av));
    }
  }
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
#pragma GCC unroll 4
  for (int m = 0; m < R; ++m) {
    const __m256i row = _mm256_set1_epi32(t.row_offset ? t.row_offset[m] : 0);
    for (int h = 0; h < 2; ++h) {
      __m256i out = _mm256_add_epi32(acc[m][h], row);
      if (t.col_offset) {
        out = _mm256_add_epi32(out, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(t.col_offset + h * 8)));
      }
      int32_t* dst = t.c + m * t.ldc + h * 8;
      const int64_t left = t.cols - h * 8;
      if (left >= 8) {
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst), out);
      } else if (left > 0) {
        _mm256_maskstore_epi32(dst, _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(left)), lane), out);
      }
    }
  }
}

void tile(const Int8GemmTile& t) {
  switch (t.rows) {
    case 1:
      return tile_s16<1>(t);
    case 2:
      return tile_s16<2>(t);
    case 3:
      return tile_s16<3>(t);
    default:
      return tile_s16<4>(t);
  }
}

constexpr Int8GemmIsa make_table() {
  Int8GemmIsa isa{};
  isa.name = "avx2";
  isa.s16 = Int8GemmMicrokernel{tile, kRows, 1, 2};
  fill_scale_table(isa);
  return isa;
}

}  // namespace

const Int8GemmIsa& int8_gemm_isa_avx2() {
  // Built by the compiler: no code compiled for this instruction set runs
  // when the table is read, so any CPU may read it (int8_gemm_isa_supported).
  static constexpr Int8GemmIsa isa = make_table();
  return isa;
}

}  // namespace cpu
}  // namespace kernels
}  // namespace torch_pt2e
