#include "kernels/cpu/cpu_capability.h"

#include <cstdlib>
#include <cstring>

#include <c10/util/Exception.h>

#include "kernels/cpu/loops.h"

namespace torch_pt2e {
namespace kernels {
namespace cpu {

CpuCapability detected_cpu_capability() {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq")) {
    return CpuCapability::kAVX512;
  }
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    return CpuCapability::kAVX2;
  }
  return CpuCapability::kDefault;
}

namespace {

CpuCapability parse_capability(const char* text) {
  if (std::strcmp(text, "default") == 0) return CpuCapability::kDefault;
  if (std::strcmp(text, "avx2") == 0) return CpuCapability::kAVX2;
  if (std::strcmp(text, "avx512") == 0) return CpuCapability::kAVX512;
  TORCH_CHECK(false, "TORCH_PT2E_CPU_CAPABILITY must be one of default, avx2, avx512; got '", text, "'");
}

CpuCapability compute_active_capability() {
  const CpuCapability detected = detected_cpu_capability();
  const char* requested_text = std::getenv("TORCH_PT2E_CPU_CAPABILITY");
  if (requested_text == nullptr || requested_text[0] == '\0') return detected;
  const CpuCapability requested = parse_capability(requested_text);
  TORCH_CHECK(static_cast<int>(requested) <= static_cast<int>(detected), "TORCH_PT2E_CPU_CAPABILITY=",
              requested_text, " asks for more than this CPU supports (", cpu_capability_name(detected), ")");
  return requested;
}

}  // namespace

CpuCapability active_cpu_capability() {
  static const CpuCapability capability = compute_active_capability();
  return capability;
}

const char* cpu_capability_name(CpuCapability capability) {
  switch (capability) {
    case CpuCapability::kAVX512:
      return "avx512";
    case CpuCapability::kAVX2:
      return "avx2";
    case CpuCapability::kDefault:
      return "default";
  }
  return "unknown";
}

bool cpu_has_avx512_vnni() {
  __builtin_cpu_init();
  return detected_cpu_capability() == CpuCapability::kAVX512 && __builtin_cpu_supports("avx512vnni");
}

bool cpu_has_avx_vnni() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avxvnni");
}

const Loops& loops() {
  static const Loops* table = [] {
    switch (active_cpu_capability()) {
      case CpuCapability::kAVX512:
        return &loops_avx512();
      case CpuCapability::kAVX2:
        return &loops_avx2();
      case CpuCapability::kDefault:
        break;
    }
    return &loops_default();
  }();
  return *table;
}

}  // namespace cpu
}  // namespace kernels
}  // namespace torch_pt2e
