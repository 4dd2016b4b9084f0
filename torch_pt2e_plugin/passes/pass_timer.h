// Per-step wall and thread CPU time of the passes, and the page faults of
// the thread (first writes to fresh memory: each costs a kernel entry and a
// page clear, in system time), printed to stderr when the environment
// variable TORCH_PT2E_PROFILE_PASSES is set (e.g. to find a slow step on a
// large model). CPU time is the figure to compare on a machine shared with
// other work, where wall time mostly measures waiting.
#pragma once

#include <sys/resource.h>
#include <time.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>

namespace torch_pt2e {
namespace passes {

class PassTimer {
 public:
  // Measures nothing (no clock read, no getrusage call) unless enabled.
  explicit PassTimer(const char* name) : name_(name) {
    if (!enabled()) return;
    start_ = std::chrono::steady_clock::now();
    cpu_start_ = thread_cpu_ms();
    faults_start_ = thread_faults();
  }
  ~PassTimer() {
    if (!enabled()) return;
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start_).count();
    std::fprintf(stderr, "[torch_pt2e] %-32s %9.2f ms wall %9.2f ms cpu %8ld faults\n", name_, ms,
                 thread_cpu_ms() - cpu_start_, thread_faults() - faults_start_);
  }
  PassTimer(const PassTimer&) = delete;
  PassTimer& operator=(const PassTimer&) = delete;

 private:
  static double thread_cpu_ms() {
    timespec now{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
    return static_cast<double>(now.tv_sec) * 1e3 + static_cast<double>(now.tv_nsec) * 1e-6;
  }

  static bool enabled() {
    static const bool on = std::getenv("TORCH_PT2E_PROFILE_PASSES") != nullptr;
    return on;
  }

  static long thread_faults() {
    rusage usage{};
    getrusage(RUSAGE_THREAD, &usage);
    return usage.ru_minflt;
  }

  const char* name_;
  std::chrono::steady_clock::time_point start_;
  double cpu_start_ = 0.0;
  long faults_start_ = 0;
};

}  // namespace passes
}  // namespace torch_pt2e
