// Host-side helpers of the CUDA kernels: device placement of parameters,
// checks of values that live on the GPU, and the launchers of the
// per-channel / per-token / per-group loops (kernels/cuda/loops.cuh).
//
// Checks of GPU-resident values (scales, zero points, the input of
// choose_qparams*) follow one policy, documented in docs/numerics.md: a small
// kernel sets a status word, the status is copied to pinned host memory
// behind it, the op's main kernel is queued, and only then does the host wait,
// for the copy alone (one synchronization per op, never a read per value).
// A failed check is explained by the shared host check of kernels/checks.h,
// which reads the values and raises the same message as on the CPU.
#pragma once

#include <cstdint>
#include <cstring>

#include <ATen/ATen.h>
#include <ATen/cuda/CUDAContext.h>
#include <ATen/cuda/CUDAEvent.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAStream.h>
#include <c10/util/Optional.h>

namespace torch_pt2e {
namespace kernels {
namespace cuda {

// The length of each token (the last dimension; 1 for a 0-dim input), the
// companion of num_tokens (kernels/checks.h).
inline int64_t token_length(const at::Tensor& input) { return input.dim() == 0 ? 1 : input.size(-1); }

// The input of a CUDA kernel must be a CUDA tensor (the dispatcher also
// chooses the CUDA kernel when only a parameter tensor is on the GPU).
void check_cuda_input(const char* op, const at::Tensor& input);

// A quantization-parameter tensor on the input's device: CPU tensors are
// copied there, tensors on another GPU are rejected.
at::Tensor on_input_device(const char* op, const char* name, const at::Tensor& value, const at::Tensor& input);

// A status of type T (trivially copyable) written by device-side checks on
// the current stream, read back once.
template <typename T>
class DeviceStatus {
 public:
  // Every byte of the status starts as `fill`. Refuses to run under CUDA
  // graph capture, where the host cannot read the status.
  DeviceStatus(const char* op, const at::Tensor& like, int fill = 0) : stream_(at::cuda::getCurrentCUDAStream()) {
    cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
    C10_CUDA_CHECK(cudaStreamIsCapturing(stream_.stream(), &capture));
    TORCH_CHECK(capture == cudaStreamCaptureStatusNone, op,
                ": cannot be captured in a CUDA graph: it checks values that live on the GPU (quantization "
                "parameters or the input) and reports bad ones as errors, which needs a read on the host");
    device_ = at::empty({static_cast<int64_t>(sizeof(T))}, like.options().dtype(at::kByte));
    host_ = at::empty({static_cast<int64_t>(sizeof(T))}, at::TensorOptions().dtype(at::kByte).pinned_memory(true));
    C10_CUDA_CHECK(cudaMemsetAsync(device_.data_ptr(), fill, sizeof(T), stream_.stream()));
  }
  DeviceStatus(const DeviceStatus&) = delete;
  DeviceStatus& operator=(const DeviceStatus&) = delete;
  ~DeviceStatus() {
    // An exception between the copy and the wait must not free the pinned
    // buffer under a copy in flight.
    if (queued_ && !waited_) cudaEventSynchronize(event_.event());
  }

  T* get() { return static_cast<T*>(device_.data_ptr()); }

  // Queues the copy of the status to the host behind the work queued so far;
  // kernels queued after it run while the host waits.
  void queue_readback() {
    C10_CUDA_CHECK(cudaMemcpyAsync(host_.data_ptr(), device_.data_ptr(), sizeof(T), cudaMemcpyDeviceToHost,
                                   stream_.stream()));
    event_.record(stream_);
    queued_ = true;
  }

  // Waits for the copy (queued now if it was not) and returns the status.
  const T& result() {
    if (!queued_) queue_readback();
    event_.synchronize();
    waited_ = true;
    std::memcpy(&value_, host_.data_ptr(), sizeof(T));
    return value_;
  }

 private:
  at::cuda::CUDAStream stream_;
  at::cuda::CUDAEvent event_;
  at::Tensor device_;
  at::Tensor host_;
  T value_{};
  bool queued_ = false;
  bool waited_ = false;
};

// Bits of a DeviceFlag.
constexpr int kBadParameter = 1;
constexpr int kNanInput = 2;
using DeviceFlag = DeviceStatus<int>;

// Queues the device-side form of check_scale_values (every scale finite and
// > 0) and of check_zero_point_values (integer zero points in [quant_min,
// quant_max], floating ones finite), setting kBadParameter in the flag.
// Tensors of dtypes the device check does not read (float8, uint16, ...) go
// through those host checks right away. The tensors must be on the flag's
// device.
void queue_scale_checks(DeviceFlag& flag, const char* op, const char* name, const at::Tensor& scales);
void queue_zero_point_checks(DeviceFlag& flag, const char* op, const at::Tensor& zero_points, int64_t quant_min,
                             int64_t quant_max);

// Waits for the flag; if a device-side check failed, runs `explain` (the
// shared host checks, which raise the CPU's message). Returns the flag.
template <typename Explain>
int raise_if_failed(DeviceFlag& flag, const char* op, const Explain& explain) {
  const int status = flag.result();
  if (status != 0) {
    explain();
    TORCH_INTERNAL_ASSERT(false, op, ": a device-side check failed (status ", status,
                          ") but the host check found nothing to report");
  }
  return status;
}

// ---- per-channel / per-token / per-group loops ---------------------------------

// Whether a dedicated kernel covers these dtypes (as on the CPU: the input is
// converted exactly to the compute dtype); else the ops evaluate upstream's
// expression with ATen ops.
bool has_quantize_kernel(at::ScalarType compute, at::ScalarType input, at::ScalarType dtype);

// Quantizes the dense tensor `src` into `out` (same strides). inv_scale and
// zero_point hold one loop value (as_loop_values, on the device) per entry;
// the element at memory offset o uses entry (o / inner) % entries.
// `add_then_round`: per-token/per-group order, else per-channel's. A non-null
// `flag` gets kNanInput when the input holds a NaN.
void quantize_channels(const at::Tensor& src, const at::Tensor& out, at::ScalarType compute,
                       const at::Tensor& inv_scale, const at::Tensor& zero_point, int64_t entries, int64_t inner,
                       bool add_then_round, int64_t quant_min, int64_t quant_max, int* flag);

// `q - zero_point` of dequantize: an exact integer difference (integer or no
// zero points), or a floating one in the zero points' promoted dtype.
struct Difference {
  bool integer;
  at::ScalarType dtype;  // the floating dtype when !integer
};
// How torch computes the difference for these dtypes, or nullopt when only
// its own expression reproduces it (a narrow integer difference).
c10::optional<Difference> difference_of(at::ScalarType input, at::ScalarType difference_dtype);
// The dtype the zero points are passed to the loops in.
at::ScalarType zero_point_loop_dtype(const Difference& difference);

bool has_dequantize_kernel(const c10::optional<Difference>& difference, at::ScalarType compute, at::ScalarType input,
                           at::ScalarType out_dtype);

// Dequantizes `src` into `out` likewise; zero_point holds loop values of
// zero_point_loop_dtype(difference).
void dequantize_channels(const at::Tensor& src, const at::Tensor& out, at::ScalarType compute,
                         const at::Tensor& scale, const Difference& difference, const at::Tensor& zero_point,
                         int64_t entries, int64_t inner);

}  // namespace cuda
}  // namespace kernels
}  // namespace torch_pt2e
