// Every instruction set's kernel table can be read on any x86-64 CPU.
//
// Dispatch reads a table (its name, whether it has a kernel) before deciding to
// call into it, and int8_gemm_isa_supported compares table addresses. A table
// built at run time by code compiled with -mavx512f may itself use AVX-512
// instructions (a CI build's int8_gemm_isa_avx512vnni() did), so merely reading
// it killed an AVX2-only CPU with SIGILL. The tables are constexpr now; this test reads every one of
// them, whatever this CPU has, and fails (crashes) on a CPU without AVX-512 if
// one goes back to being built at run time.
#include <gtest/gtest.h>

#include <string>

#include "kernels/cpu/cpu_capability.h"
#include "kernels/cpu/histogram_error.h"
#include "kernels/cpu/int8_gemm.h"
#include "kernels/cpu/int8_gemm_microkernels.h"
#include "kernels/cpu/loops.h"
#include "kernels/cpu/observer_loops.h"

namespace {

namespace cpu = torch_pt2e::kernels::cpu;

TEST(IsaTables, EveryLoopTableCanBeRead) {
  EXPECT_EQ(std::string(cpu::loops_default().isa_name), "default");
  EXPECT_EQ(std::string(cpu::loops_avx2().isa_name), "avx2");
  EXPECT_EQ(std::string(cpu::loops_avx512().isa_name), "avx512");
  EXPECT_NE(cpu::loops_avx512().min_max[0], nullptr);
}

TEST(IsaTables, EveryObserverAndHistogramTableCanBeRead) {
  EXPECT_EQ(std::string(cpu::observer_loops_default().isa_name), "default");
  EXPECT_EQ(std::string(cpu::observer_loops_avx2().isa_name), "avx2");
  EXPECT_EQ(std::string(cpu::observer_loops_avx512().isa_name), "avx512");
  EXPECT_EQ(std::string(cpu::histogram_error_loops_default().isa_name), "default");
  EXPECT_EQ(std::string(cpu::histogram_error_loops_avx2().isa_name), "avx2");
  EXPECT_EQ(std::string(cpu::histogram_error_loops_avx512().isa_name), "avx512");
}

TEST(IsaTables, EveryInt8GemmTableCanBeReadAndCheckedForSupport) {
  EXPECT_EQ(std::string(cpu::int8_gemm_isa_default().name), "default");
  EXPECT_EQ(std::string(cpu::int8_gemm_isa_avx2().name), "avx2");
  EXPECT_EQ(std::string(cpu::int8_gemm_isa_avx512vnni().name), "avx512vnni");
  EXPECT_EQ(cpu::int8_gemm_isa_supported(cpu::int8_gemm_isa_avx512vnni()), cpu::cpu_has_avx512_vnni());
  EXPECT_TRUE(cpu::int8_gemm_isa_supported(cpu::int8_gemm_isa_default()));
}

}  // namespace
