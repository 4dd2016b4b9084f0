// Per-step wall time of the passes, printed to stderr when the environment
// variable TORCH_PT2E_PROFILE_PASSES is set (e.g. to find a slow step on a
// large model).
#pragma once

#include <chrono>
#include <cstdio>
#include <cstdlib>

namespace torch_pt2e {
namespace passes {

class PassTimer {
 public:
  explicit PassTimer(const char* name) : name_(name), start_(std::chrono::steady_clock::now()) {}
  ~PassTimer() {
    static const bool enabled = std::getenv("TORCH_PT2E_PROFILE_PASSES") != nullptr;
    if (!enabled) return;
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start_).count();
    std::fprintf(stderr, "[torch_pt2e] %-32s %9.2f ms\n", name_, ms);
  }
  PassTimer(const PassTimer&) = delete;
  PassTimer& operator=(const PassTimer&) = delete;

 private:
  const char* name_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace passes
}  // namespace torch_pt2e
