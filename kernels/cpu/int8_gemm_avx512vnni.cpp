// AVX-512 VNNI variant of the integer GEMM kernels (int8_gemm_microkernels.h).
//
// u8s8 tiles run on vpdpbusd (4 byte products per int32 lane, summed without
// saturation), s16 tiles on vpdpwssd (2 int16 products per lane). A tile is
// up to 8 rows x 48 columns: 24 accumulators, 3 panel vectors and a broadcast
// in the 32 zmm registers. The packers widen whole vectors and transpose
// 16x16 dword blocks instead of looping over elements, since a panel is
// packed once per task and feeds only M/8 tiles.
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13
// GCC 12 flags the deliberately undefined pass-through operand inside the
// unmasked AVX-512 intrinsics (GCC bug 105593, fixed in GCC 13).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <cstring>

#include "kernels/cpu/int8_gemm_microkernels.h"
#include "kernels/cpu/int8_gemm_scale.h"

namespace torch_pt2e {
namespace kernels {
namespace cpu {
namespace {

constexpr int kRows = 8;
constexpr int kBlocks = 3;

__mmask16 first_lanes(int64_t count) {
  return count >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << count) - 1u);
}
__mmask64 first_bytes(int64_t count) {
  return count >= 64 ? ~__mmask64{0} : ((__mmask64{1} << count) - 1);
}

// ---- register tiles ---------------------------------------------------------

// The loops over R and NV must unroll completely, so that the accumulators
// live in registers (GCC otherwise keeps part of the array on the stack).
template <int R, int NV, bool kS16>
void tile_impl(const Int8GemmTile& t) {
  __m512i acc[R][NV];
#pragma GCC unroll 8
  for (int m = 0; m < R; ++m) {
#pragma GCC unroll 3
    for (int v = 0; v < NV; ++v) acc[m][v] = _mm512_setzero_si512();
  }
  const uint8_t* a = t.a;
  const int64_t lda = t.lda;
  const uint8_t* b = t.b;
  for (int64_t g = 0; g < t.k_groups; ++g, b += NV * 64, a += 4) {
    __m512i bv[NV];
#pragma GCC unroll 3
    for (int v = 0; v < NV; ++v) bv[v] = _mm512_loadu_si512(b + v * 64);
#pragma GCC unroll 8
    for (int m = 0; m < R; ++m) {
      int32_t cell;
      std::memcpy(&cell, a + m * lda, sizeof(cell));
      const __m512i av = _mm512_set1_epi32(cell);
#pragma GCC unroll 3
      for (int v = 0; v < NV; ++v) {
        if constexpr (kS16) {
          acc[m][v] = _mm512_dpwssd_epi32(acc[m][v], bv[v], av);
        } else {
          acc[m][v] = _mm512_dpbusd_epi32(acc[m][v], bv[v], av);
        }
      }
    }
  }
#pragma GCC unroll 8
  for (int m = 0; m < R; ++m) {
    const __m512i row = _mm512_set1_epi32(t.row_offset ? t.row_offset[m] : 0);
#pragma GCC unroll 3
    for (int v = 0; v < NV; ++v) {
      const int64_t left = t.cols - v * 16;
      if (left <= 0) break;
      __m512i out = _mm512_add_epi32(acc[m][v], row);
      if (t.col_offset) out = _mm512_add_epi32(out, _mm512_loadu_si512(t.col_offset + v * 16));
      int32_t* dst = t.c + m * t.ldc + v * 16;
      if (left >= 16) {
        _mm512_storeu_si512(dst, out);
      } else {
        _mm512_mask_storeu_epi32(dst, first_lanes(left), out);
      }
    }
  }
}

template <bool kS16, int R>
void tile_rows(const Int8GemmTile& t) {
  switch (t.width / kInt8GemmBlock) {
    case 1:
      return tile_impl<R, 1, kS16>(t);
    case 2:
      return tile_impl<R, 2, kS16>(t);
    default:
      return tile_impl<R, 3, kS16>(t);
  }
}

template <bool kS16>
void tile(const Int8GemmTile& t) {
  switch (t.rows) {
    case 1:
      return tile_rows<kS16, 1>(t);
    case 2:
      return tile_rows<kS16, 2>(t);
    case 3:
      return tile_rows<kS16, 3>(t);
    case 4:
      return tile_rows<kS16, 4>(t);
    case 5:
      return tile_rows<kS16, 5>(t);
    case 6:
      return tile_rows<kS16, 6>(t);
    case 7:
      return tile_rows<kS16, 7>(t);
    default:
      return tile_rows<kS16, 8>(t);
  }
}

// ---- row sums (the u8s8 correction) ------------------------------------------

void row_sums_s8(const uint8_t* a, int64_t lda, int64_t rows, int64_t k, int32_t* sums) {
  const __m512i ones = _mm512_set1_epi8(1);
  for (int64_t r = 0; r < rows; ++r) {
    const uint8_t* row = a + r * lda;
    // Two chains, so the loop is not bound by vpdpbusd's latency.
    __m512i even = _mm512_setzero_si512(), odd = _mm512_setzero_si512();
    int64_t k0 = 0;
    for (; k0 + 128 <= k; k0 += 128) {
      even = _mm512_dpbusd_epi32(even, ones, _mm512_loadu_si512(row + k0));
      odd = _mm512_dpbusd_epi32(odd, ones, _mm512_loadu_si512(row + k0 + 64));
    }
    for (; k0 < k; k0 += 64) {
      even = _mm512_dpbusd_epi32(even, ones, _mm512_maskz_loadu_epi8(first_bytes(k - k0), row + k0));
    }
    sums[r] = _mm512_reduce_add_epi32(_mm512_add_epi32(even, odd));
  }
}

// ---- packers -----------------------------------------------------------------

// 16 elements of a B row, each element's bit pattern (8 bits for u8s8, 16 for
// s16) zero-extended into a dword cell.
template <typename S, int G>
__m512i load_cells(const S* p, __mmask16 mask) {
  // Plain loads where all 16 are valid: masked loads are slower on some CPUs.
  if constexpr (sizeof(S) == 2) {
    const __m256i halves = mask == 0xFFFF ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))
                                          : _mm256_maskz_loadu_epi16(mask, p);
    return _mm512_cvtepu16_epi32(halves);
  }
  const __m128i bytes =
      mask == 0xFFFF ? _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)) : _mm_maskz_loadu_epi8(mask, p);
  if constexpr (G == 2 && static_cast<S>(-1) < 0) {  // int8 widened to int16
    return _mm512_and_si512(_mm512_cvtepi8_epi32(bytes), _mm512_set1_epi32(0xFFFF));
  }
  return _mm512_cvtepu8_epi32(bytes);
}

// Rows layout: the k_group rows of one group become 16 cells per block, each
// row's elements zero-extended to dwords and shifted into their byte/half.
template <typename S, int G>
void pack_rows_impl(const S* src, const int64_t* row_offset, int64_t k, int64_t n0, int64_t valid, int64_t width,
                    uint8_t* panel) {
  constexpr int kBits = 32 / G;
  const int64_t groups = (k + G - 1) / G;
  for (int64_t g = 0; g < groups; ++g) {
    const S* rows[G];
    uint32_t flip = 0;
    for (int i = 0; i < G; ++i) {
      const int64_t kk = g * G + i;
      rows[i] = kk < k ? src + row_offset[kk] + n0 : nullptr;
      // u8s8 stores int8 as B + 128; only real k get the flip, padding stays 0.
      if (G == 4 && kk < k && sizeof(S) == 1 && static_cast<S>(-1) < 0) flip |= 0x80u << (8 * i);
    }
    const __m512i flip_bits = _mm512_set1_epi32(static_cast<int>(flip));
    uint8_t* out = panel + g * width * 4;
    for (int64_t c0 = 0; c0 < width; c0 += 16) {
      const int64_t count = valid - c0;
      __m512i cell = _mm512_setzero_si512();
      if (count > 0) {
        const __mmask16 mask = first_lanes(count);
        for (int i = 0; i < G; ++i) {
          if (rows[i] == nullptr) continue;
          cell = _mm512_or_si512(cell, _mm512_slli_epi32(load_cells<S, G>(rows[i] + c0, mask), kBits * i));
        }
        cell = _mm512_maskz_xor_epi32(mask, cell, flip_bits);
      }
      _mm512_storeu_si512(out + c0 * 4, cell);
    }
  }
}

// Transposes 16 rows of 16 dwords in registers.
void transpose_16x16(__m512i r[16]) {
  __m512i t[16];
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
  }
  __m512i u[16];
  for (int i = 0; i < 16; i += 4) {
    u[i] = _mm512_unpacklo_epi64(t[i], t[i + 2]);
    u[i + 1] = _mm512_unpackhi_epi64(t[i], t[i + 2]);
    u[i + 2] = _mm512_unpacklo_epi64(t[i + 1], t[i + 3]);
    u[i + 3] = _mm512_unpackhi_epi64(t[i + 1], t[i + 3]);
  }
  // u[4q + s] holds, in 128-bit lane L, element 4L + s of rows 4q .. 4q+3.
  for (int s = 0; s < 4; ++s) {
    const __m512i lo01 = _mm512_shuffle_i32x4(u[s], u[4 + s], 0x44);
    const __m512i hi01 = _mm512_shuffle_i32x4(u[s], u[4 + s], 0xEE);
    const __m512i lo23 = _mm512_shuffle_i32x4(u[8 + s], u[12 + s], 0x44);
    const __m512i hi23 = _mm512_shuffle_i32x4(u[8 + s], u[12 + s], 0xEE);
    r[s] = _mm512_shuffle_i32x4(lo01, lo23, 0x88);
    r[4 + s] = _mm512_shuffle_i32x4(lo01, lo23, 0xDD);
    r[8 + s] = _mm512_shuffle_i32x4(hi01, hi23, 0x88);
    r[12 + s] = _mm512_shuffle_i32x4(hi01, hi23, 0xDD);
  }
}

// 64 bytes of one column's k run (k_group elements per dword cell), zero past k.
template <typename S, int G>
__m512i load_column_chunk(const S* p, int64_t count) {
  if constexpr (G == 4) {
    const __mmask64 mask = first_bytes(count);
    const __m512i bytes = count >= 64 ? _mm512_loadu_si512(p) : _mm512_maskz_loadu_epi8(mask, p);
    if (static_cast<S>(-1) > 0) return bytes;
    return _mm512_maskz_mov_epi8(mask, _mm512_xor_si512(bytes, _mm512_set1_epi8(static_cast<char>(0x80))));
  } else {
    const __mmask32 mask = count >= 32 ? ~__mmask32{0} : ((__mmask32{1} << count) - 1);
    if constexpr (sizeof(S) == 2) return count >= 32 ? _mm512_loadu_si512(p) : _mm512_maskz_loadu_epi16(mask, p);
    const __m256i bytes = count >= 32 ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))
                                      : _mm256_maskz_loadu_epi8(mask, p);
    if constexpr (static_cast<S>(-1) < 0) return _mm512_cvtepi8_epi16(bytes);
    return _mm512_cvtepu8_epi16(bytes);
  }
}

// Cols layout: each column's k run is contiguous; 16 columns x 16 k groups
// (64 bytes of cells each) are one 16x16 dword transpose.
template <typename S, int G>
void pack_cols_impl(const S* src, int64_t col_stride, int64_t k, int64_t n0, int64_t valid, int64_t width,
                    uint8_t* panel) {
  const int64_t groups = (k + G - 1) / G;
  const int64_t chunk = 16 * G;  // k per 64 bytes of cells
  for (int64_t c0 = 0; c0 < width; c0 += 16) {
    for (int64_t k0 = 0; k0 < k; k0 += chunk) {
      __m512i r[16];
      for (int i = 0; i < 16; ++i) {
        const int64_t n = c0 + i;
        r[i] = n < valid ? load_column_chunk<S, G>(src + (n0 + n) * col_stride + k0, k - k0)
                         : _mm512_setzero_si512();
      }
      transpose_16x16(r);
      const int64_t g0 = k0 / G;
      const int64_t count = groups - g0 < 16 ? groups - g0 : 16;
      for (int j = 0; j < count; ++j) _mm512_storeu_si512(panel + ((g0 + j) * width + c0) * 4, r[j]);
    }
  }
}

template <int G>
void pack_rows(const void* src, IntElem elem, const int64_t* row_offset, int64_t k, int64_t n0, int64_t valid,
               int64_t width, uint8_t* panel) {
  switch (elem) {
    case IntElem::kInt8:
      return pack_rows_impl<int8_t, G>(static_cast<const int8_t*>(src), row_offset, k, n0, valid, width, panel);
    case IntElem::kUInt8:
      return pack_rows_impl<uint8_t, G>(static_cast<const uint8_t*>(src), row_offset, k, n0, valid, width, panel);
    case IntElem::kInt16:
      // u8s8 panels never hold int16: the driver runs s16 for it.
      if constexpr (G == 2) {
        pack_rows_impl<int16_t, G>(static_cast<const int16_t*>(src), row_offset, k, n0, valid, width, panel);
      }
      return;
  }
}

template <int G>
void pack_cols(const void* src, IntElem elem, int64_t col_stride, int64_t k, int64_t n0, int64_t valid,
               int64_t width, uint8_t* panel) {
  switch (elem) {
    case IntElem::kInt8:
      return pack_cols_impl<int8_t, G>(static_cast<const int8_t*>(src), col_stride, k, n0, valid, width, panel);
    case IntElem::kUInt8:
      return pack_cols_impl<uint8_t, G>(static_cast<const uint8_t*>(src), col_stride, k, n0, valid, width, panel);
    case IntElem::kInt16:
      if constexpr (G == 2) {
        pack_cols_impl<int16_t, G>(static_cast<const int16_t*>(src), col_stride, k, n0, valid, width, panel);
      }
      return;
  }
}

constexpr Int8GemmIsa make_table() {
  Int8GemmIsa isa{};
  isa.name = "avx512vnni";
  isa.u8s8 = Int8GemmMicrokernel{tile<false>, kRows, kBlocks, 4, pack_rows<4>, pack_cols<4>};
  isa.s16 = Int8GemmMicrokernel{tile<true>, kRows, kBlocks, 2, pack_rows<2>, pack_cols<2>};
  isa.row_sums_s8 = row_sums_s8;
  fill_scale_table(isa);
  return isa;
}

}  // namespace

const Int8GemmIsa& int8_gemm_isa_avx512vnni() {
  // Built by the compiler: no code compiled for this instruction set runs
  // when the table is read, so any CPU may read it (int8_gemm_isa_supported).
  static constexpr Int8GemmIsa isa = make_table();
  return isa;
}

}  // namespace cpu
}  // namespace kernels
}  // namespace torch_pt2e
