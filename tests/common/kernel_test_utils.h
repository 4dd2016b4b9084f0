// Helpers shared by the kernel tests: reading tensors back, catching the
// message of a failing call, and the loop tables this CPU can run.
#pragma once

#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include "kernels/cpu/cpu_capability.h"
#include "kernels/cpu/loops.h"

namespace torch_pt2e {
namespace testing {

template <typename T>
std::vector<T> values(const at::Tensor& t) {
  const at::Tensor c = t.contiguous();
  return std::vector<T>(c.data_ptr<T>(), c.data_ptr<T>() + c.numel());
}

// The message of the c10::Error `fn` throws, or "no error".
template <typename Fn>
std::string error_of(Fn&& fn) {
  try {
    fn();
  } catch (const c10::Error& e) {
    return e.what_without_backtrace();
  }
  return "no error";
}

// Every instruction-set variant of the loops that this CPU can execute.
inline std::vector<const kernels::cpu::Loops*> runnable_loop_tables() {
  namespace cpu = kernels::cpu;
  std::vector<const cpu::Loops*> tables = {&cpu::loops_default()};
  const int best = static_cast<int>(cpu::detected_cpu_capability());
  if (best >= static_cast<int>(cpu::CpuCapability::kAVX2)) tables.push_back(&cpu::loops_avx2());
  if (best >= static_cast<int>(cpu::CpuCapability::kAVX512)) tables.push_back(&cpu::loops_avx512());
  return tables;
}

}  // namespace testing
}  // namespace torch_pt2e
