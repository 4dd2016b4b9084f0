// The C++ flow end to end: prepare with a C++ quantizer, calibrate, save,
// load with torch::jit::load, calibrate more, convert, run, save and load
// the quantized module.
#include <gtest/gtest.h>

#include <cstdio>
#include <memory>
#include <string>

#include <torch/script.h>

#include "../common/flow_test_utils.h"
#include "torch_pt2e_plugin/flow/quantize_pt2e.h"
#include "torch_pt2e_plugin/quantizer/quantization_config.h"
#include "torch_pt2e_plugin/quantizer/xnnpack_quantizer.h"

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

// prepare_pt2e's and convert_pt2e's results own their classes and graphs
// (jit::clone_module's unit): dropping a result frees them while the input
// model lives on, so repeating the flow on one model does not accumulate
// results. The model's own unit is left alone; a result keeps its input's
// unit alive.
TEST(QuantizePT2E, ResultsAreFreedWhenDroppedWhileTheModelLives) {
  at::manual_seed(3);
  torch::jit::Module model = t::conv_relu_module();
  const auto model_unit = model._ivalue()->compilation_unit();
  const size_t model_functions = model_unit->get_functions().size();
  t::ConvQuantizer quantizer;
  const at::Tensor x = at::randn({2, 3, 8, 8});
  std::weak_ptr<torch::jit::CompilationUnit> prepared_unit, converted_unit;
  {
    torch::jit::Module prepared = torch_pt2e::prepare_pt2e(model, quantizer);
    prepared.forward({x});
    torch::jit::Module converted = torch_pt2e::convert_pt2e(prepared);
    prepared_unit = prepared._ivalue()->compilation_unit();
    converted_unit = converted._ivalue()->compilation_unit();
    EXPECT_NE(prepared_unit.lock(), model_unit);
    EXPECT_NE(converted_unit.lock(), model_unit);
    EXPECT_NE(converted_unit.lock(), prepared_unit.lock());
    {
      torch::jit::Module only_converted = converted;
      prepared = torch::jit::Module();
      converted = torch::jit::Module();
      EXPECT_FALSE(prepared_unit.expired()) << "the converted module keeps its input's unit";
      EXPECT_EQ(only_converted.forward({x}).toTensor().sizes(), model.forward({x}).toTensor().sizes());
    }
  }
  EXPECT_TRUE(converted_unit.expired());
  EXPECT_TRUE(prepared_unit.expired());
  EXPECT_EQ(model_unit->get_functions().size(), model_functions) << "nothing was added to the model's unit";
}

// convert_pt2e clones the prepared module without its observers and reads
// them there: the prepared module keeps them, still calibrates, and converts
// again to the same graph; the converted module holds no observer.
TEST(QuantizePT2E, ConvertReadsObserversAndLeavesThePreparedModuleAsItWas) {
  at::manual_seed(2);
  torch::jit::Module model = t::conv_relu_module();
  t::ConvQuantizer quantizer;
  torch::jit::Module prepared = torch_pt2e::prepare_pt2e(model, quantizer);
  const at::Tensor x = at::randn({2, 3, 8, 8});
  prepared.forward({x});
  const size_t prepared_attributes = prepared.type()->numAttributes();

  torch::jit::Module first = torch_pt2e::convert_pt2e(prepared);
  EXPECT_EQ(prepared.type()->numAttributes(), prepared_attributes);
  EXPECT_EQ(t::count_nodes(prepared, "prim::CallMethod"), 4);
  for (const auto& child : first.named_children()) {
    EXPECT_EQ(child.name.rfind("activation_post_process_", 0), std::string::npos) << child.name;
  }
  const std::string first_graph = t::unmangled_forward_text(first);
  const at::Tensor first_out = first.forward({x}).toTensor();

  prepared.forward({x});  // the same batch again: the observed ranges stay
  torch::jit::Module second = torch_pt2e::convert_pt2e(prepared);
  EXPECT_EQ(t::unmangled_forward_text(second), first_graph);
  EXPECT_TRUE(at::equal(second.forward({x}).toTensor(), first_out));

  prepared.forward({x * 4});  // a wider range: the next convert's scales follow it
  torch::jit::Module third = torch_pt2e::convert_pt2e(prepared);
  EXPECT_NE(t::unmangled_forward_text(third), first_graph);
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

TEST(QuantizePT2E, ReferenceRepresentationLeavesNoQuantizeDequantize) {
  at::manual_seed(2);
  torch::jit::Module model = t::conv_relu_module();
  torch_pt2e::quantizer::XNNPACKQuantizer quantizer;
  quantizer.set_global(torch_pt2e::quantizer::get_symmetric_quantization_config(/*is_per_channel=*/false));
  torch::jit::Module prepared = torch_pt2e::prepare_pt2e(model, quantizer);
  const at::Tensor x = at::randn({2, 3, 8, 8});
  prepared.forward({x});
  torch_pt2e::ConvertOptions options;
  options.use_reference_representation = true;
  torch::jit::Module reference = torch_pt2e::convert_pt2e(prepared, options);
  torch::jit::Module quantized = torch_pt2e::convert_pt2e(prepared);
  for (const char* kind : {"quantized_decomposed::quantize_per_tensor", "quantized_decomposed::dequantize_per_tensor"}) {
    EXPECT_EQ(t::count_nodes(reference, kind), 0) << kind;
    EXPECT_GT(t::count_nodes(quantized, kind), 0) << kind;
  }
  // conv -> relu -> q is not a conv2d pattern (XNNPACK quantizes the relu's
  // output): the conv stays float, its q/dq become integer arithmetic.
  EXPECT_EQ(t::count_nodes(reference, "aten::conv2d"), 1);
  const at::Tensor got = reference.forward({x}).toTensor();
  const at::Tensor expected = quantized.forward({x}).toTensor();
  // int8 output of a relu: its range over 255 is the step
  const float output_step = expected.max().item<float>() / 255.0f;
  EXPECT_LE((got - expected).abs().max().item<float>(), 2 * output_step + 1e-5f);
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
