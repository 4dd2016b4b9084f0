// torch_pt2e::histc_with_extrema: the CPU kernel (every ISA variant of its
// loop) against ATen's histc and aminmax.
#include <gtest/gtest.h>

#include <limits>
#include <vector>

#include <ATen/ATen.h>

#include "kernels/cpu/cpu_capability.h"
#include "kernels/cpu/observer_loops.h"
#include "torch_pt2e_plugin/observers/observer_ops.h"

namespace cpu = torch_pt2e::kernels::cpu;

namespace {

const float kInf = std::numeric_limits<float>::infinity();

void expect_matches_aten(const at::Tensor& x, int64_t bins, double lo, double hi, const std::string& what) {
  at::Tensor hist, fmin, fmax;
  bool has_nan = false, has_inf = false;
  std::tie(hist, fmin, fmax, has_nan, has_inf) = torch_pt2e::observers::histc_with_extrema(x, bins, lo, hi);
  EXPECT_TRUE(at::equal(hist, at::histc(x, bins, lo, hi))) << what;
  const at::Tensor finite = x.masked_select(at::isfinite(x));
  EXPECT_TRUE(at::equal(fmin, finite.min())) << what;
  EXPECT_TRUE(at::equal(fmax, finite.max())) << what;
  EXPECT_EQ(has_inf, at::isinf(x).any().item<bool>()) << what;
  EXPECT_FALSE(has_nan) << what;
}

TEST(HistcWithExtrema, MatchesAtenHistc) {
  at::manual_seed(0);
  expect_matches_aten(at::randn({200000}), 2048, -1.0, 1.0, "normal, clipped range");
  expect_matches_aten(at::randn({3, 7, 11}), 5, -2.0, 0.5, "small");
  // -10, -9.75, ..., 10: every value sits on a bin edge of 80 bins over [-10, 10].
  expect_matches_aten(at::arange(-40, 41, at::kFloat) * 0.25, 80, -10.0, 10.0, "edges");
  expect_matches_aten(at::arange(-40, 41, at::kFloat) * 0.25, 7, -3.0, 3.0, "edges, uneven bins");
  expect_matches_aten(at::randn({777, 91}).t(), 33, -1.5, 2.5, "transposed");
  expect_matches_aten(at::full({70000}, 0.3f), 16, 0.0, 1.0, "constant");
  expect_matches_aten(at::randn({64, 1000}, at::kDouble), 64, -1.0, 1.0, "float64 (reference path)");
  at::Tensor special = at::randn({5000});
  special.index_put_({at::indexing::Slice(0, c10::nullopt, 97)}, kInf);
  special.index_put_({5}, -kInf);
  expect_matches_aten(special, 50, -2.0, 2.0, "with inf");
}

TEST(HistcWithExtrema, NaNIsReportedNotCounted) {
  at::Tensor hist, fmin, fmax;
  bool has_nan = false, has_inf = false;
  std::tie(hist, fmin, fmax, has_nan, has_inf) = torch_pt2e::observers::histc_with_extrema(
      at::tensor({0.5f, std::numeric_limits<float>::quiet_NaN(), 1.5f}), 4, 0.0, 2.0);
  EXPECT_TRUE(has_nan);
  // 0.5 * 4 / 2 = 1 -> bin 1; 1.5 * 4 / 2 = 3 -> bin 3
  EXPECT_TRUE(at::equal(hist, at::tensor({0.0f, 1.0f, 0.0f, 1.0f})));
  EXPECT_EQ(fmin.item<float>(), 0.5f);
  EXPECT_EQ(fmax.item<float>(), 1.5f);
  EXPECT_THROW(torch_pt2e::observers::histc_with_extrema(at::ones({3}), 4, 1.0, 1.0), c10::Error);
  EXPECT_THROW(torch_pt2e::observers::histc_with_extrema(at::ones({3}), 0, 0.0, 1.0), c10::Error);
}

TEST(ObserverLoops, HistogramRunEveryIsaVariant) {
  std::vector<const cpu::ObserverLoops*> variants = {&cpu::observer_loops_default()};
  if (cpu::detected_cpu_capability() >= cpu::CpuCapability::kAVX2) variants.push_back(&cpu::observer_loops_avx2());
  if (cpu::detected_cpu_capability() >= cpu::CpuCapability::kAVX512) variants.push_back(&cpu::observer_loops_avx512());
  // 0, 0.5, ..., 5.5 over [0, 4] in 4 bins: 0 0.5 -> 0; 1 1.5 -> 1; 2 2.5 -> 2; 3 3.5 4 -> 3; 4.5+ skipped
  std::vector<float> data;
  for (int i = 0; i < 12; ++i) data.push_back(0.5f * i);
  data.push_back(-kInf);
  data.push_back(std::numeric_limits<float>::quiet_NaN());
  for (const auto* loops : variants) {
    SCOPED_TRACE(loops->isa_name);
    std::vector<uint32_t> counts(cpu::kHistogramCopies * 4, 0);
    cpu::HistogramExtras extras{kInf, -kInf, 0, 0};
    loops->histogram_run(data.data(), static_cast<int64_t>(data.size()), 0.0f, 4.0f, 4, counts.data(), &extras);
    std::vector<uint32_t> total(4, 0);
    for (int64_t c = 0; c < cpu::kHistogramCopies; ++c) {
      for (int k = 0; k < 4; ++k) total[k] += counts[c * 4 + k];
    }
    EXPECT_EQ(total, (std::vector<uint32_t>{2, 2, 2, 3}));
    EXPECT_EQ(extras.finite_min, 0.0f);
    EXPECT_EQ(extras.finite_max, 5.5f);
    EXPECT_EQ(extras.nan_count, 1);
    EXPECT_EQ(extras.inf_count, 1);
  }
}

}  // namespace
