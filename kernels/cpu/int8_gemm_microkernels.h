// Register-tile kernels and panel packers of the exact integer GEMM
// (int8_gemm.h), one table per instruction set.
//
// Only plain C++ here (no ATen/c10): the tables are built in files compiled
// with their instruction set's flags (int8_gemm_<isa>.cpp, see loops_impl.h
// for why those must not see ATen headers).
//
// Layout shared by every kernel. C[m, n] = sum_k A[m, k] * B[k, n]:
//  * A is read in place, row by row: row m starts at `a + m * lda` bytes and
//    holds K elements (int8 for the u8s8 kernel, int16 for the s16 kernel),
//    padded to a whole number of k groups.
//  * B is packed into panels of `width` columns (a multiple of kInt8GemmBlock):
//    for each group of `k_group` consecutive k, `width` 32-bit cells, cell n
//    holding B[k0 .. k0+k_group-1, n] (u8s8: 4 bytes; s16: 2 int16).
//    A 32-bit cell of A (broadcast) times a cell of B is one lane of
//    vpdpbusd / vpdpwssd / vpmaddwd, so no kernel reorders anything.
//  * u8s8 multiplies unsigned bytes of B by signed bytes of A. int8 B is
//    stored with its sign bit flipped (B + 128); the driver subtracts
//    128 * sum_k A[m, k] through `row_offset`.
// All sums wrap modulo 2^32 (numerics.h, out_dtype section).
#pragma once

#include <cstdint>

namespace torch_pt2e {
namespace kernels {
namespace cpu {

// Columns per block of a packed panel: one 512-bit vector of int32 lanes.
constexpr int64_t kInt8GemmBlock = 16;

// One register tile: rows [0, rows) of A against one packed panel.
struct Int8GemmTile {
  const uint8_t* a;            // row 0 of A
  int64_t lda;                 // bytes between rows of A
  const uint8_t* b;            // packed panel, k_groups x width cells
  int64_t k_groups;
  int64_t width;               // panel columns, a multiple of kInt8GemmBlock
  int32_t* c;                  // C[0, 0] of the tile
  int64_t ldc;                 // elements between rows of C
  int64_t rows;                // 1 .. max_rows
  int64_t cols;                // valid columns, 1 .. width; only these are stored
  const int32_t* row_offset;   // added to row m (rows entries), or null
  const int32_t* col_offset;   // added to column n (width entries), or null
};
using Int8GemmTileFn = void (*)(const Int8GemmTile& tile);

// Element types of the operands as stored in memory.
enum class IntElem : int { kInt8 = 0, kUInt8 = 1, kInt16 = 2 };

// Pack columns [n0, n0 + width) of B into a panel of the kernel's layout, for
// all K (k groups past K and columns past `valid` are zero; those columns are
// never read from B). u8s8 panels take int8 (sign bit flipped) or uint8
// sources, s16 panels any of the three.
//  rows layout: B[k, n] = src[row_offset[k] + n]    (n contiguous)
//  cols layout: B[k, n] = src[n * col_stride + k]   (k contiguous)
// Offsets and strides count elements of `elem`.
using PackRowsFn = void (*)(const void* src, IntElem elem, const int64_t* row_offset, int64_t k, int64_t n0,
                            int64_t valid, int64_t width, uint8_t* panel);
using PackColsFn = void (*)(const void* src, IntElem elem, int64_t col_stride, int64_t k, int64_t n0, int64_t valid,
                            int64_t width, uint8_t* panel);

struct Int8GemmMicrokernel {
  Int8GemmTileFn tile = nullptr;  // null: the instruction set has no such kernel
  int64_t max_rows = 0;
  int64_t max_blocks = 0;         // widest panel, in blocks
  int64_t k_group = 0;            // 4 (u8s8) or 2 (s16)
  PackRowsFn pack_rows = nullptr;  // null: the driver's portable packers
  PackColsFn pack_cols = nullptr;
};

// sums[r] = sum of the k int8 values of row r (rows `lda` bytes apart), modulo 2^32.
using RowSumsS8Fn = void (*)(const uint8_t* a, int64_t lda, int64_t rows, int64_t k, int32_t* sums);

// out[i] = numerics::truncate_to_int32(float(in[i]) * factor) (or / factor):
// out_dtype mul/div of an int32 or float32 tensor by one float32 factor.
using ScaleToInt32Fn = void (*)(const void* in, int32_t* out, int64_t n, float factor);

struct Int8GemmIsa {
  const char* name;
  Int8GemmMicrokernel u8s8;           // int8 A x (u)int8 B
  Int8GemmMicrokernel s16;            // int16 A x int16 B (int8/uint8 widened)
  RowSumsS8Fn row_sums_s8 = nullptr;  // set whenever u8s8 is
  ScaleToInt32Fn scale_to_int32[2][2] = {};  // [int32, float32 input][multiply, divide]
};

// Each instruction set's table; calling a kernel the CPU lacks is undefined,
// so check int8_gemm_isa_supported (int8_gemm.h) first.
const Int8GemmIsa& int8_gemm_isa_default();
const Int8GemmIsa& int8_gemm_isa_avx2();
const Int8GemmIsa& int8_gemm_isa_avx512vnni();

}  // namespace cpu
}  // namespace kernels
}  // namespace torch_pt2e
