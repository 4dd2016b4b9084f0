// Device code shared by the CUDA kernels: storage conversions, one
// vectorized element-wise loop, the channel cursor of per-channel/token/group
// parameters, and block reductions. Every value is computed by the helpers of
// kernels/numerics.h, as on the CPU, so both devices agree bit for bit.
//
// Only .cu files include this header (it needs nvcc).
#pragma once

#include <cstdint>
#include <type_traits>

#include <c10/cuda/CUDAException.h>
#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>
#include <cuda_runtime.h>

#include "kernels/numerics.h"

namespace torch_pt2e {
namespace kernels {
namespace cuda {

namespace nm = ::torch_pt2e::numerics;

constexpr int kThreads = 256;

// ---- storage ----------------------------------------------------------------

// Floating tensors as the kernels read and write them: float16/bfloat16 as
// their raw bits, converted exactly as c10::Half/c10::BFloat16 convert
// (through float, with the numerics.h conversions).
template <typename T>
struct Floating {
  using raw = T;
  template <typename C>
  static __device__ __forceinline__ C widen(raw v) {
    return static_cast<C>(v);
  }
  template <typename C>
  static __device__ __forceinline__ raw narrow(C v) {
    return static_cast<raw>(v);
  }
};
template <>
struct Floating<c10::Half> {
  using raw = uint16_t;
  template <typename C>
  static __device__ __forceinline__ C widen(raw v) {
    return static_cast<C>(nm::half_to_float(v));
  }
  template <typename C>
  static __device__ __forceinline__ raw narrow(C v) {
    return nm::float_to_half(static_cast<float>(v));
  }
};
template <>
struct Floating<c10::BFloat16> {
  using raw = uint16_t;
  template <typename C>
  static __device__ __forceinline__ C widen(raw v) {
    return static_cast<C>(nm::bf16_to_float(v));
  }
  template <typename C>
  static __device__ __forceinline__ raw narrow(C v) {
    return nm::float_to_bf16(static_cast<float>(v));
  }
};

// ---- one element-wise loop for every op -------------------------------------

// kVec elements of T moved with one aligned access (split by the compiler
// into 16-byte loads/stores).
template <typename T, int kVec>
struct alignas(sizeof(T) * kVec) Pack {
  T v[kVec];
};

// Elements per thread and step: 16 bytes of the narrower type, at most 64
// bytes of the wider one.
template <typename In, typename Out>
constexpr int pack_size() {
  constexpr int narrow = sizeof(In) < sizeof(Out) ? sizeof(In) : sizeof(Out);
  constexpr int wide = sizeof(In) < sizeof(Out) ? sizeof(Out) : sizeof(In);
  return 16 / narrow < 64 / wide ? 16 / narrow : 64 / wide;
}

// out[o] = element(in[o]) for o in [0, n), kVec elements per thread and
// step with a grid-stride loop and 64-bit offsets. `Element` provides
// prepare() (once per thread), apply(first_offset, x[kVec], y[kVec]) and
// finish() (once per thread). Unaligned pointers take the scalar accesses.
template <int kVec, typename In, typename Out, typename Element>
__global__ void __launch_bounds__(kThreads)
    map_kernel(const In* __restrict__ in, Out* __restrict__ out, int64_t n, bool aligned, Element element) {
  element.prepare();
  const int64_t packs = (n + kVec - 1) / kVec;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t p = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; p < packs; p += stride) {
    const int64_t base = p * kVec;
    const bool full = aligned && base + kVec <= n;
    In x[kVec];
    Out y[kVec];
    if (full) {
      const Pack<In, kVec> loaded = *reinterpret_cast<const Pack<In, kVec>*>(in + base);
#pragma unroll
      for (int k = 0; k < kVec; ++k) x[k] = loaded.v[k];
    } else {
#pragma unroll
      for (int k = 0; k < kVec; ++k) x[k] = base + k < n ? in[base + k] : In();
    }
    element.apply(base, x, y);
    if (full) {
      Pack<Out, kVec> stored;
#pragma unroll
      for (int k = 0; k < kVec; ++k) stored.v[k] = y[k];
      *reinterpret_cast<Pack<Out, kVec>*>(out + base) = stored;
    } else {
#pragma unroll
      for (int k = 0; k < kVec; ++k) {
        if (base + k < n) out[base + k] = y[k];
      }
    }
  }
  element.finish();
}

// Blocks for `items` units of work of kThreads each: enough to fill the
// device several times over, the grid-stride loop does the rest.
int64_t grid_size(int64_t items);

template <typename In, typename Out, typename Element>
void launch_map(const void* in, void* out, int64_t n, const Element& element, cudaStream_t stream) {
  if (n == 0) return;
  constexpr int kVec = pack_size<In, Out>();
  constexpr uintptr_t kInAlign = sizeof(In) * kVec, kOutAlign = sizeof(Out) * kVec;
  const bool aligned =
      reinterpret_cast<uintptr_t>(in) % kInAlign == 0 && reinterpret_cast<uintptr_t>(out) % kOutAlign == 0;
  const int64_t blocks = grid_size((n + kVec - 1) / kVec);
  map_kernel<kVec, In, Out, Element><<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(
      static_cast<const In*>(in), static_cast<Out*>(out), n, aligned, element);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

// ---- parameters that vary along the tensor ----------------------------------

// The element at memory offset o of a dense tensor uses parameter entry
// (o / inner) % entries (as on the CPU: channels, tokens or groups).
struct ChannelLayout {
  int64_t entries;
  int64_t inner;
};

// Walks the entries of consecutive offsets: one division per pack, then
// increments. Offsets below 2^32 divide in 32 bits.
struct ChannelCursor {
  int64_t entry;
  int64_t in_run;  // offset within the current run of `inner` elements

  __device__ __forceinline__ ChannelCursor(int64_t offset, const ChannelLayout& layout) {
    if (((offset | layout.inner | layout.entries) >> 32) == 0) {
      const uint32_t o = static_cast<uint32_t>(offset), inner = static_cast<uint32_t>(layout.inner);
      const uint32_t run = o / inner;
      in_run = o - run * inner;
      entry = run % static_cast<uint32_t>(layout.entries);
    } else {
      const int64_t run = offset / layout.inner;
      in_run = offset - run * layout.inner;
      entry = run % layout.entries;
    }
  }
  __device__ __forceinline__ void advance(const ChannelLayout& layout) {
    if (++in_run == layout.inner) {
      in_run = 0;
      if (++entry == layout.entries) entry = 0;
    }
  }
};

// ---- reductions -------------------------------------------------------------

// min and max over the non-NaN values (|x| for abs max, min unused), and
// whether a NaN was seen. Comparisons are exact, so any order of reduction
// gives the CPU's result.
template <typename T>
struct Extremes {
  T min;
  T max;
  int has_nan;
};

template <typename T>
__device__ __forceinline__ Extremes<T> combine(const Extremes<T>& a, const Extremes<T>& b) {
  return {b.min < a.min ? b.min : a.min, b.max > a.max ? b.max : a.max, a.has_nan | b.has_nan};
}

// Reduces one value per thread of the block; thread 0 gets the result.
template <typename T>
__device__ Extremes<T> block_combine(Extremes<T> value) {
  __shared__ T mins[kThreads / 32];
  __shared__ T maxs[kThreads / 32];
  __shared__ int nans[kThreads / 32];
  for (int offset = 16; offset > 0; offset /= 2) {
    const Extremes<T> other{__shfl_down_sync(0xffffffffu, value.min, offset),
                            __shfl_down_sync(0xffffffffu, value.max, offset),
                            __shfl_down_sync(0xffffffffu, value.has_nan, offset)};
    value = combine(value, other);
  }
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0) {
    mins[warp] = value.min;
    maxs[warp] = value.max;
    nans[warp] = value.has_nan;
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    for (int w = 1; w < static_cast<int>(blockDim.x / 32); ++w) value = combine(value, Extremes<T>{mins[w], maxs[w], nans[w]});
  }
  __syncthreads();  // the arrays are reused by the next call
  return value;
}

}  // namespace cuda
}  // namespace kernels
}  // namespace torch_pt2e
