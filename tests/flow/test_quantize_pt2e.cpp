// The C++ flow end to end: prepare with a C++ quantizer, calibrate, save,
// load with torch::jit::load, calibrate more, convert, run, save and load
// the quantized module.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include <torch/script.h>

#include "../common/flow_test_utils.h"
#include "torch_pt2e_plugin/flow/quantize_pt2e.h"

namespace t = torch_pt2e::testing;

namespace {

std::string temp_path(const std::string& name) { return ::testing::TempDir() + "/" + name; }

TEST(QuantizePT2E, PrepareCalibrateSaveLoadConvertRoundTrip) {
  at::manual_seed(0);
  torch::jit::Module model = t::conv_relu_module();
  t::ConvQuantizer quantizer;
  torch::jit::Module prepared = torch_pt2e::prepare_pt2e(model, quantizer);
  EXPECT_EQ(t::count_nodes(prepared, "prim::CallMethod"), 4);  // input, weight, bias, output

  const at::Tensor x = at::randn({2, 3, 8, 8});
  prepared.forward({x});
  const std::string prepared_path = temp_path("prepared.pt");
  prepared.save(prepared_path);
  torch::jit::Module loaded = torch::jit::load(prepared_path);
  loaded.forward({x * 0.5});  // calibration continues after loading

  torch::jit::Module quantized = torch_pt2e::convert_pt2e(loaded);
  EXPECT_EQ(t::count_nodes(quantized, "quantized_decomposed::quantize_per_tensor"), 2);
  EXPECT_EQ(t::count_nodes(quantized, "quantized_decomposed::dequantize_per_tensor"), 3);
  EXPECT_EQ(t::count_nodes(quantized, "prim::CallMethod"), 0);

  const at::Tensor expected = model.forward({x}).toTensor();
  const at::Tensor got = quantized.forward({x}).toTensor();
  // Quantized input, weight and output: within a few steps of the output's
  // uint8 scale (the observed range over 255; the conv output's range bounds it).
  const float output_step = (expected.max().item<float>() + 1e-6f) / 255.0f * 2.0f;
  EXPECT_LT((got - expected).abs().max().item<float>(), 4 * output_step);

  const std::string quantized_path = temp_path("quantized.pt");
  quantized.save(quantized_path);
  torch::jit::Module reloaded = torch::jit::load(quantized_path);
  EXPECT_TRUE(at::equal(reloaded.forward({x}).toTensor(), got));
  std::remove(prepared_path.c_str());
  std::remove(quantized_path.c_str());
}

TEST(QuantizePT2E, FoldingStoresInt8WeightsAndDropsFloatOnes) {
  at::manual_seed(1);
  torch::jit::Module model = t::conv_relu_module();
  t::ConvQuantizer quantizer;
  torch::jit::Module prepared = torch_pt2e::prepare_pt2e(model, quantizer);
  prepared.forward({at::randn({1, 3, 8, 8})});
  torch::jit::Module folded = torch_pt2e::convert_pt2e(prepared);
  torch_pt2e::ConvertOptions no_fold;
  no_fold.fold_quantize = false;
  torch::jit::Module unfolded = torch_pt2e::convert_pt2e(prepared, no_fold);
  // 4x3x3x3 fp32 weight (432 bytes) becomes 108 int8 bytes; the fp32 bias stays.
  EXPECT_EQ(t::tensor_bytes(unfolded) - t::tensor_bytes(folded), 432 - 108);
  EXPECT_EQ(t::count_nodes(unfolded, "quantized_decomposed::quantize_per_tensor"), 3);
  EXPECT_TRUE(at::equal(folded.forward({at::ones({1, 3, 8, 8})}).toTensor(),
                        unfolded.forward({at::ones({1, 3, 8, 8})}).toTensor()));
}

TEST(QuantizePT2E, ErrorsAreClear) {
  torch::jit::Module model = t::conv_relu_module();
  model.train();
  t::ConvQuantizer quantizer;
  try {
    torch_pt2e::prepare_pt2e(model, quantizer);
    FAIL() << "expected an error for a training-mode module";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("eval mode"), std::string::npos);
  }
  model.eval();
  try {
    torch_pt2e::convert_pt2e(model);
    FAIL() << "expected an error for an unprepared module";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("prepare_pt2e"), std::string::npos);
  }
}

}  // namespace
