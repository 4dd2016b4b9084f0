// Which instruction-set variant of the CPU loops runs on this machine.
#pragma once

#include <string>

namespace torch_pt2e {
namespace kernels {
namespace cpu {

enum class CpuCapability : int { kDefault = 0, kAVX2 = 1, kAVX512 = 2 };

// The best variant this CPU and OS support (CPUID and XCR0, via libgcc).
CpuCapability detected_cpu_capability();

// The variant in use: the detected one, lowered by the environment variable
// TORCH_PT2E_CPU_CAPABILITY=default|avx2|avx512 (read once, at first use).
// Asking for more than the CPU has is an error, not a silent fallback.
CpuCapability active_cpu_capability();

const char* cpu_capability_name(CpuCapability capability);

// Extra features that specialised kernels may use.
bool cpu_has_avx512_vnni();
bool cpu_has_avx_vnni();

}  // namespace cpu
}  // namespace kernels
}  // namespace torch_pt2e
