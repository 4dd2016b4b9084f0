#include "kernels/cpu/int8_gemm.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include <ATen/Parallel.h>
#include <c10/util/Exception.h>

#include "kernels/cpu/cpu_capability.h"

namespace torch_pt2e {
namespace kernels {
namespace cpu {
namespace {

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
int64_t round_up(int64_t a, int64_t b) { return ceil_div(a, b) * b; }
int64_t elem_size(IntElem elem) { return elem == IntElem::kInt16 ? 2 : 1; }

// Calls fn with a value of the C++ type of `elem`.
template <typename Fn>
void visit_elem(IntElem elem, const Fn& fn) {
  switch (elem) {
    case IntElem::kInt8:
      return fn(int8_t{});
    case IntElem::kUInt8:
      return fn(uint8_t{});
    case IntElem::kInt16:
      return fn(int16_t{});
  }
}

// 64-byte aligned, untyped scratch memory.
struct AlignedFree {
  void operator()(uint8_t* p) const { std::free(p); }
};
using AlignedBuffer = std::unique_ptr<uint8_t, AlignedFree>;

AlignedBuffer aligned_buffer(int64_t bytes) {
  const size_t size = static_cast<size_t>(round_up(std::max<int64_t>(bytes, 1), 64));
  auto* p = static_cast<uint8_t*>(std::aligned_alloc(64, size));
  TORCH_CHECK(p != nullptr, "int8_gemm: out of memory allocating ", size, " bytes of scratch");
  return AlignedBuffer(p);
}

// One panel buffer per thread, reused across calls up to kKeptScratchBytes
// (a K x 48 panel of K = 4608 int16 is 0.9 MB).
constexpr int64_t kKeptScratchBytes = int64_t{4} << 20;

struct PanelScratch {
  AlignedBuffer buffer;
  int64_t size = 0;
  uint8_t* get(int64_t bytes) {
    if (bytes > size) {
      size = round_up(std::max<int64_t>(bytes, 1), 4096);
      buffer = aligned_buffer(size);
    }
    return buffer.get();
  }
  void trim() {
    if (size > kKeptScratchBytes) {
      buffer.reset();
      size = 0;
    }
  }
};

// ---- the operands as the kernels read them -----------------------------------

struct PreparedA {
  const uint8_t* data;
  int64_t lda;  // bytes
  AlignedBuffer owned;
};

// A in place when its rows already hold the kernel's element type
// contiguously in whole k groups, else a converted copy padded with zeros.
PreparedA prepare_a(const IntMatrix& a, bool u8s8, int64_t k_group) {
  const int64_t m_size = a.rows, k_size = a.cols;
  const bool dense_rows = a.col_stride == 1 || k_size <= 1;
  const IntElem wanted = u8s8 ? IntElem::kInt8 : IntElem::kInt16;
  if (a.elem == wanted && dense_rows && k_size % k_group == 0) {
    return {static_cast<const uint8_t*>(a.data), a.row_stride * elem_size(wanted), nullptr};
  }
  const int64_t kp = round_up(k_size, k_group);
  const int64_t lda = kp * elem_size(wanted);
  AlignedBuffer owned = aligned_buffer(m_size * lda);
  uint8_t* base = owned.get();
  visit_elem(a.elem, [&](auto tag) {
    using S = decltype(tag);
    const S* src = static_cast<const S*>(a.data);
    const int64_t grain = std::max<int64_t>(1, (1 << 16) / std::max<int64_t>(kp, 1));
    at::parallel_for(0, m_size, grain, [&](int64_t b, int64_t e) {
      for (int64_t m = b; m < e; ++m) {
        const S* row = src + m * a.row_stride;
        if (u8s8) {
          auto* out = reinterpret_cast<int8_t*>(base + m * lda);
          for (int64_t k = 0; k < k_size; ++k) out[k] = static_cast<int8_t>(row[k * a.col_stride]);
          for (int64_t k = k_size; k < kp; ++k) out[k] = 0;
        } else {
          auto* out = reinterpret_cast<int16_t*>(base + m * lda);
          for (int64_t k = 0; k < k_size; ++k) out[k] = static_cast<int16_t>(row[k * a.col_stride]);
          for (int64_t k = k_size; k < kp; ++k) out[k] = 0;
        }
      }
    });
  });
  const uint8_t* data = base;
  return {data, lda, std::move(owned)};
}

// What gets added to each row of C: the bias, and for flipped (int8) B the
// correction -128 * sum_k A[m, k] (the kernel multiplied by B + 128), summed
// from the prepared A, whose rows are then int8 and contiguous.
std::vector<int32_t> row_offsets(const Int8GemmIsa& isa, const PreparedA& a, int64_t m_size, int64_t k_size,
                                 bool flipped_b, const int32_t* row_bias) {
  if (!flipped_b && row_bias == nullptr) return {};
  std::vector<int32_t> offsets(m_size, 0);
  if (flipped_b) {
    TORCH_INTERNAL_ASSERT(isa.row_sums_s8 != nullptr, "int8_gemm: ", isa.name, " has a u8s8 kernel but no row sums");
    const int64_t grain = std::max<int64_t>(1, (1 << 16) / std::max<int64_t>(k_size, 1));
    at::parallel_for(0, m_size, grain, [&](int64_t b, int64_t e) {
      isa.row_sums_s8(a.data + b * a.lda, a.lda, e - b, k_size, offsets.data() + b);
    });
  }
  for (int64_t m = 0; m < m_size; ++m) {
    uint32_t value = row_bias ? static_cast<uint32_t>(row_bias[m]) : 0u;
    value -= 128u * static_cast<uint32_t>(offsets[m]);
    offsets[m] = static_cast<int32_t>(value);
  }
  return offsets;
}

// Where the K x N operand B is read from, in one of the two layouts the
// packers know (int8_gemm_microkernels.h).
struct BSource {
  const void* data;
  IntElem elem;
  bool by_rows;               // B[k, n] = data[row_offset[k] + n]
  const int64_t* row_offset;  // K entries, when by_rows
  int64_t col_stride;         // otherwise B[k, n] = data[n * col_stride + k]
};

template <typename T, int64_t G, typename S>
void pack_portable(const BSource& b, int64_t k_size, int64_t n0, int64_t valid, int64_t width, uint8_t flip,
                   uint8_t* panel) {
  const S* src = static_cast<const S*>(b.data);
  T* out = reinterpret_cast<T*>(panel);
  std::memset(panel, 0, ceil_div(k_size, G) * width * G * sizeof(T));
  auto convert = [flip](S v) -> T {
    if (sizeof(T) == 1) return static_cast<T>(static_cast<uint8_t>(v) ^ flip);
    return static_cast<T>(v);
  };
  if (b.by_rows) {
    for (int64_t k = 0; k < k_size; ++k) {
      const S* row = src + b.row_offset[k] + n0;
      T* o = out + (k / G) * width * G + k % G;
      for (int64_t n = 0; n < valid; ++n) o[n * G] = convert(row[n]);
    }
  } else {
    for (int64_t n = 0; n < valid; ++n) {
      const S* col = src + (n0 + n) * b.col_stride;
      T* o = out + n * G;
      for (int64_t k = 0; k < k_size; ++k) o[(k / G) * width * G + k % G] = convert(col[k]);
    }
  }
}

void pack_panel(const Int8GemmMicrokernel& kernel, bool u8s8, const BSource& b, int64_t k_size, int64_t n0,
                int64_t valid, int64_t width, uint8_t* panel) {
  if (b.by_rows && kernel.pack_rows) {
    return kernel.pack_rows(b.data, b.elem, b.row_offset, k_size, n0, valid, width, panel);
  }
  if (!b.by_rows && kernel.pack_cols) {
    return kernel.pack_cols(b.data, b.elem, b.col_stride, k_size, n0, valid, width, panel);
  }
  visit_elem(b.elem, [&](auto tag) {
    if (u8s8) {
      const uint8_t flip = b.elem == IntElem::kInt8 ? 0x80 : 0;
      pack_portable<uint8_t, 4, decltype(tag)>(b, k_size, n0, valid, width, flip, panel);
    } else {
      pack_portable<int16_t, 2, decltype(tag)>(b, k_size, n0, valid, width, 0, panel);
    }
  });
}

// ---- tasks ------------------------------------------------------------------

// One GEMM of a batch (for convolution: one image and group).
struct Job {
  const uint8_t* a;
  int64_t lda;
  const int32_t* row_offset;
  BSource b;
  int32_t* c;
  int64_t ldc;
};

// Columns of C: n in [0, n_size); with padded_width > out_width, column n is
// (n / padded_width, n % padded_width) of an image whose rows carry
// padded_width - out_width dropped columns.
struct Columns {
  int64_t n_size;
  int64_t padded_width;
  int64_t out_width;
  const int32_t* col_offset;  // null, or round_up(n_size, kInt8GemmBlock) entries
};

constexpr int64_t kMaxTileCells = 1024;

void run_jobs(const Int8GemmMicrokernel& kernel, bool u8s8, int64_t m_size, int64_t k_size,
              const Columns& columns, const std::vector<Job>& jobs) {
  const int64_t rows = kernel.max_rows;
  const int64_t panel_width = kernel.max_blocks * kInt8GemmBlock;
  TORCH_INTERNAL_ASSERT(rows * panel_width <= kMaxTileCells);
  const int64_t n_size = columns.n_size;
  if (m_size == 0 || n_size == 0 || jobs.empty()) return;
  const int64_t panels = ceil_div(n_size, panel_width);
  const int64_t k_groups = ceil_div(k_size, kernel.k_group);
  const int64_t panel_bytes = k_groups * panel_width * 4;

  // Split rows too when panels alone leave threads idle. Tasks run job by
  // job, then row block by row block, panel by panel: each thread's share of
  // the range then holds every panel width (the last panel is narrower).
  const int64_t threads = at::get_num_threads();
  const int64_t outer = static_cast<int64_t>(jobs.size()) * panels;
  int64_t row_blocks = 1;
  if (outer < 4 * threads) row_blocks = std::min(ceil_div(m_size, rows), ceil_div(4 * threads, outer));
  const int64_t block_rows = round_up(ceil_div(m_size, row_blocks), rows);
  row_blocks = ceil_div(m_size, block_rows);
  const int64_t tasks = outer * row_blocks;
  const double macs = static_cast<double>(m_size) * n_size * std::max<int64_t>(k_size, 1) * jobs.size();
  const int64_t grain = macs < (1 << 20) ? tasks : 1;
  const bool identity = columns.padded_width == columns.out_width;

  at::parallel_for(0, tasks, grain, [&](int64_t begin, int64_t end) {
    static thread_local PanelScratch scratch;
    uint8_t* panel = scratch.get(panel_bytes);
    int32_t tile_out[kMaxTileCells];
    int64_t packed = -1;  // job * panels + panel of what `panel` holds
    for (int64_t task = begin; task < end; ++task) {
      const int64_t job_index = task / (row_blocks * panels);
      const int64_t row_block = task / panels % row_blocks;
      const int64_t job_panel = job_index * panels + task % panels;
      const Job& job = jobs[job_index];
      const int64_t n0 = (task % panels) * panel_width;
      const int64_t valid = std::min(panel_width, n_size - n0);
      const int64_t width = round_up(valid, kInt8GemmBlock);
      if (packed != job_panel) {
        pack_panel(kernel, u8s8, job.b, k_size, n0, valid, width, panel);
        packed = job_panel;
      }
      Int8GemmTile tile;
      tile.b = panel;
      tile.k_groups = k_groups;
      tile.width = width;
      tile.cols = valid;
      tile.col_offset = columns.col_offset ? columns.col_offset + n0 : nullptr;
      const int64_t m_begin = row_block * block_rows;
      const int64_t m_end = std::min(m_size, m_begin + block_rows);
      for (int64_t m0 = m_begin; m0 < m_end; m0 += rows) {
        tile.a = job.a + m0 * job.lda;
        tile.lda = job.lda;
        tile.rows = std::min(rows, m_end - m0);
        tile.row_offset = job.row_offset ? job.row_offset + m0 : nullptr;
        if (identity) {
          tile.c = job.c + m0 * job.ldc + n0;
          tile.ldc = job.ldc;
          kernel.tile(tile);
          continue;
        }
        tile.c = tile_out;
        tile.ldc = width;
        kernel.tile(tile);
        // Copy the columns that are output pixels, one image row at a time.
        for (int64_t n = n0; n < n0 + valid;) {
          const int64_t y = n / columns.padded_width, x = n % columns.padded_width;
          const int64_t run_end = std::min(n0 + valid, n - x + columns.padded_width);
          if (x < columns.out_width) {
            const int64_t count = std::min(run_end - n, columns.out_width - x);
            for (int64_t r = 0; r < tile.rows; ++r) {
              std::memcpy(job.c + (m0 + r) * job.ldc + y * columns.out_width + x, tile_out + r * width + (n - n0),
                          count * sizeof(int32_t));
            }
          }
          n = run_end;
        }
      }
    }
    scratch.trim();
  });
}

std::vector<int32_t> padded_col_offsets(const int32_t* col_bias, int64_t n_size) {
  if (col_bias == nullptr) return {};
  std::vector<int32_t> offsets(round_up(n_size, kInt8GemmBlock), 0);
  std::copy(col_bias, col_bias + n_size, offsets.begin());
  return offsets;
}

const Int8GemmMicrokernel& choose_kernel(const Int8GemmIsa& isa, IntElem a_elem, IntElem b_elem, bool* u8s8) {
  *u8s8 = isa.u8s8.tile != nullptr && a_elem == IntElem::kInt8 && b_elem != IntElem::kInt16;
  return *u8s8 ? isa.u8s8 : isa.s16;
}

}  // namespace

void int8_gemm(const Int8GemmIsa& isa, const IntMatrix& a, const IntMatrix& b, const int32_t* row_bias,
               const int32_t* col_bias, int32_t* c, int64_t ldc) {
  TORCH_CHECK(a.cols == b.rows, "int8_gemm: A is ", a.rows, "x", a.cols, " but B is ", b.rows, "x", b.cols);
  const int64_t m_size = a.rows, k_size = a.cols, n_size = b.cols;
  if (m_size == 0 || n_size == 0) return;
  bool u8s8 = false;
  const Int8GemmMicrokernel& kernel = choose_kernel(isa, a.elem, b.elem, &u8s8);
  const bool flipped_b = u8s8 && b.elem == IntElem::kInt8;
  const PreparedA prepared = prepare_a(a, u8s8, kernel.k_group);
  const std::vector<int32_t> rows = row_offsets(isa, prepared, m_size, k_size, flipped_b, row_bias);
  const std::vector<int32_t> cols = padded_col_offsets(col_bias, n_size);

  BSource source{b.data, b.elem, true, nullptr, 0};
  std::vector<int64_t> offsets;
  AlignedBuffer copy;
  if (b.col_stride == 1 || n_size == 1) {
    offsets.resize(k_size);
    for (int64_t k = 0; k < k_size; ++k) offsets[k] = k * b.row_stride;
  } else if (b.row_stride == 1 || k_size == 1) {
    source.by_rows = false;
    source.col_stride = b.col_stride;
  } else {
    // Neither layout: a row-major copy.
    copy = aligned_buffer(k_size * n_size * elem_size(b.elem));
    visit_elem(b.elem, [&](auto tag) {
      using S = decltype(tag);
      const S* src = static_cast<const S*>(b.data);
      S* dst = reinterpret_cast<S*>(copy.get());
      for (int64_t k = 0; k < k_size; ++k) {
        for (int64_t n = 0; n < n_size; ++n) dst[k * n_size + n] = src[k * b.row_stride + n * b.col_stride];
      }
    });
    source.data = copy.get();
    offsets.resize(k_size);
    for (int64_t k = 0; k < k_size; ++k) offsets[k] = k * n_size;
  }
  source.row_offset = offsets.data();

  const Job job{prepared.data, prepared.lda, rows.empty() ? nullptr : rows.data(), source, c, ldc};
  const Columns columns{n_size, n_size, n_size, cols.empty() ? nullptr : cols.data()};
  run_jobs(kernel, u8s8, m_size, k_size, columns, {job});
}

namespace {

// Zero-padded copies of images [first, first + count), each plane hp x wp.
void pad_images(const IntConv2dShape& s, const uint8_t* input, int64_t elem_bytes, int64_t first, int64_t count,
                int64_t hp, int64_t wp, uint8_t* padded) {
  const int64_t line = wp * elem_bytes, left = s.pad_w * elem_bytes, width = s.in_w * elem_bytes;
  at::parallel_for(0, count * s.in_channels, 16, [&](int64_t b, int64_t e) {
    for (int64_t plane = b; plane < e; ++plane) {
      uint8_t* dst = padded + plane * hp * line;
      const uint8_t* from = input + (first * s.in_channels + plane) * s.in_h * width;
      std::memset(dst, 0, s.pad_h * line);
      for (int64_t y = 0; y < s.in_h; ++y) {
        uint8_t* row = dst + (s.pad_h + y) * line;
        std::memset(row, 0, left);
        std::memcpy(row + left, from + y * width, width);
        std::memset(row + left + width, 0, line - left - width);
      }
      std::memset(dst + (s.pad_h + s.in_h) * line, 0, s.pad_h * line);
    }
  });
}

// im2col rows (k = (c, ky, kx), one output plane each) of images [first,
// first + count), group after group.
template <typename S>
void im2col_images(const IntConv2dShape& s, const S* input, int64_t first, int64_t count, S* cols) {
  const int64_t out_h = s.out_h(), out_w = s.out_w(), group_in = s.in_channels / s.groups;
  const int64_t taps = s.kernel_h * s.kernel_w, k_size = group_in * taps;
  at::parallel_for(0, count * s.groups * k_size, 16, [&](int64_t b, int64_t e) {
    for (int64_t row = b; row < e; ++row) {
      const int64_t k = row % k_size, image_group = first * s.groups + row / k_size;
      const int64_t kx = k % s.kernel_w, ky = (k / s.kernel_w) % s.kernel_h, c = k / taps;
      const S* plane = input + (image_group * group_in + c) * s.in_h * s.in_w;
      S* dst = cols + row * out_h * out_w;
      for (int64_t y = 0; y < out_h; ++y) {
        const int64_t iy = y * s.stride_h - s.pad_h + ky * s.dilation_h;
        for (int64_t x = 0; x < out_w; ++x) {
          const int64_t ix = x * s.stride_w - s.pad_w + kx * s.dilation_w;
          const bool inside = iy >= 0 && iy < s.in_h && ix >= 0 && ix < s.in_w;
          dst[y * out_w + x] = inside ? plane[iy * s.in_w + ix] : S(0);
        }
      }
    }
  });
}

}  // namespace

void int8_conv2d(const Int8GemmIsa& isa, const IntConv2dShape& s, const void* input, IntElem input_elem,
                 const void* weight, IntElem weight_elem, const int32_t* bias, int32_t* out,
                 int64_t scratch_limit_bytes) {
  const int64_t out_h = s.out_h(), out_w = s.out_w();
  const int64_t group_in = s.in_channels / s.groups, group_out = s.out_channels / s.groups;
  const int64_t k_size = group_in * s.kernel_h * s.kernel_w;
  const int64_t plane_out = out_h * out_w;
  if (s.batch == 0 || s.out_channels == 0 || plane_out == 0) return;

  bool u8s8 = false;
  const Int8GemmMicrokernel& kernel = choose_kernel(isa, weight_elem, input_elem, &u8s8);
  const bool flipped_b = u8s8 && input_elem == IntElem::kInt8;
  const int64_t in_size = elem_size(input_elem), w_size = elem_size(weight_elem);

  // A: the weight of each group, one row per output channel.
  std::vector<PreparedA> weights;
  std::vector<std::vector<int32_t>> rows(s.groups);
  for (int64_t g = 0; g < s.groups; ++g) {
    const IntMatrix a{static_cast<const uint8_t*>(weight) + g * group_out * k_size * w_size, weight_elem, group_out,
                      k_size, k_size, 1};
    weights.push_back(prepare_a(a, u8s8, kernel.k_group));
    rows[g] = row_offsets(isa, weights.back(), group_out, k_size, flipped_b, bias ? bias + g * group_out : nullptr);
  }

  // B: the image, either its zero-padded copy read through shifted windows
  // (stride 1; the image itself without padding), or an im2col buffer.
  const bool shifted = s.stride_h == 1 && s.stride_w == 1;
  const int64_t hp = s.in_h + 2 * s.pad_h, wp = s.in_w + 2 * s.pad_w;
  std::vector<int64_t> offsets(k_size);
  Columns columns{plane_out, out_w, out_w, nullptr};
  int64_t image_elems = 0, group_elems = 0;  // per image and per group in B's memory
  if (shifted) {
    for (int64_t c = 0; c < group_in; ++c) {
      for (int64_t ky = 0; ky < s.kernel_h; ++ky) {
        for (int64_t kx = 0; kx < s.kernel_w; ++kx) {
          offsets[(c * s.kernel_h + ky) * s.kernel_w + kx] = c * hp * wp + ky * s.dilation_h * wp + kx * s.dilation_w;
        }
      }
    }
    columns = Columns{(out_h - 1) * wp + out_w, wp, out_w, nullptr};
    image_elems = s.in_channels * hp * wp;
    group_elems = group_in * hp * wp;
  } else {
    for (int64_t k = 0; k < k_size; ++k) offsets[k] = k * plane_out;
    image_elems = s.groups * k_size * plane_out;
    group_elems = k_size * plane_out;
  }
  const bool in_place = shifted && s.pad_h == 0 && s.pad_w == 0;
  const int64_t image_bytes = std::max<int64_t>(image_elems * in_size, 1);
  const int64_t chunk = in_place ? s.batch : std::min(s.batch, std::max<int64_t>(1, scratch_limit_bytes / image_bytes));
  AlignedBuffer buffer = in_place ? nullptr : aligned_buffer(chunk * image_elems * in_size);

  for (int64_t first = 0; first < s.batch; first += chunk) {
    const int64_t count = std::min(chunk, s.batch - first);
    const uint8_t* base = static_cast<const uint8_t*>(input) + first * image_elems * in_size;
    if (shifted && !in_place) {
      pad_images(s, static_cast<const uint8_t*>(input), in_size, first, count, hp, wp, buffer.get());
      base = buffer.get();
    } else if (!shifted) {
      visit_elem(input_elem, [&](auto tag) {
        using S = decltype(tag);
        im2col_images(s, static_cast<const S*>(input), first, count, reinterpret_cast<S*>(buffer.get()));
      });
      base = buffer.get();
    }
    std::vector<Job> jobs;
    for (int64_t image = first; image < first + count; ++image) {
      for (int64_t g = 0; g < s.groups; ++g) {
        const BSource source{base + ((image - first) * image_elems + g * group_elems) * in_size, input_elem, true,
                             offsets.data(), 0};
        jobs.push_back(Job{weights[g].data, weights[g].lda, rows[g].empty() ? nullptr : rows[g].data(), source,
                           out + (image * s.out_channels + g * group_out) * plane_out, plane_out});
      }
    }
    run_jobs(kernel, u8s8, group_out, k_size, columns, jobs);
  }
}

const Int8GemmIsa& int8_gemm_isa() {
  static const Int8GemmIsa* isa = [] {
    switch (active_cpu_capability()) {
      case CpuCapability::kAVX512:
        return cpu_has_avx512_vnni() ? &int8_gemm_isa_avx512vnni() : &int8_gemm_isa_avx2();
      case CpuCapability::kAVX2:
        return &int8_gemm_isa_avx2();
      case CpuCapability::kDefault:
        break;
    }
    return &int8_gemm_isa_default();
  }();
  return *isa;
}

bool int8_gemm_isa_supported(const Int8GemmIsa& isa) {
  if (&isa == &int8_gemm_isa_avx512vnni()) return cpu_has_avx512_vnni();
  if (&isa == &int8_gemm_isa_avx2()) return detected_cpu_capability() != CpuCapability::kDefault;
  return true;
}

}  // namespace cpu
}  // namespace kernels
}  // namespace torch_pt2e
