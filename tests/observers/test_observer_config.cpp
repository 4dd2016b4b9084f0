// Observer configurations: upstream's defaults, validation, JSON, ranges.
#include <gtest/gtest.h>

#include <string>

#include <c10/util/Exception.h>

#include "torch_pt2e_plugin/observers/observer_config.h"

namespace obs = torch_pt2e::observers;
using obs::ObserverKind;

namespace {

// Expects `fn` to throw a c10::Error whose message contains `text`.
template <typename Fn>
void expect_error(Fn fn, const std::string& text) {
  try {
    fn();
    ADD_FAILURE() << "no error; expected one containing: " << text;
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find(text), std::string::npos) << e.what();
  }
}

obs::ObserverConfig min_max() { return obs::default_config(ObserverKind::kMinMax); }

TEST(ObserverConfig, UpstreamDefaultsPerKind) {
  const auto mm = min_max();
  EXPECT_EQ(mm.dtype, at::kQUInt8);
  EXPECT_EQ(mm.qscheme, c10::kPerTensorAffine);
  EXPECT_FALSE(mm.quant_min.has_value());
  EXPECT_EQ(mm.eps, 1.1920928955078125e-07);  // torch.finfo(torch.float32).eps = 2^-23
  EXPECT_EQ(obs::default_config(ObserverKind::kMovingAverageMinMax).averaging_constant, 0.01);
  EXPECT_EQ(obs::default_config(ObserverKind::kPerChannelMinMax).qscheme, c10::kPerChannelAffine);
  EXPECT_EQ(obs::default_config(ObserverKind::kMovingAveragePerChannelMinMax).ch_axis, 0);
  const auto hist = obs::default_config(ObserverKind::kHistogram);
  EXPECT_EQ(hist.bins, 2048);
  EXPECT_EQ(hist.upsample_rate, 16);
  EXPECT_EQ(obs::default_config(ObserverKind::kPlaceholder).dtype, at::kFloat);
  const auto fixed = obs::default_config(ObserverKind::kFixedQParams);
  EXPECT_EQ(*fixed.quant_min, 0);
  EXPECT_EQ(*fixed.quant_max, 255);
  for (auto kind : {ObserverKind::kMinMax, ObserverKind::kMovingAverageMinMax, ObserverKind::kPerChannelMinMax,
                    ObserverKind::kMovingAveragePerChannelMinMax, ObserverKind::kHistogram,
                    ObserverKind::kPlaceholder}) {
    EXPECT_NO_THROW(obs::validate(obs::default_config(kind))) << obs::kind_name(kind);
  }
  // FixedQParams has no default scale.
  expect_error([&] { obs::validate(fixed); }, "scale must be a finite number > 0, got 0");
}

using Range = std::pair<int64_t, int64_t>;

TEST(ObserverConfig, QuantRangeFollowsUpstreamCalculateQminQmax) {
  auto c = min_max();
  EXPECT_EQ(*obs::quant_range(c), Range(0, 255));
  c.reduce_range = true;
  EXPECT_EQ(*obs::quant_range(c), Range(0, 127));
  c.dtype = at::kQInt8;
  EXPECT_EQ(*obs::quant_range(c), Range(-64, 63));
  c.reduce_range = false;
  EXPECT_EQ(*obs::quant_range(c), Range(-128, 127));
  c.dtype = at::kQInt32;
  EXPECT_EQ(*obs::quant_range(c), Range(-2147483648LL, 2147483647LL));
  c.dtype = at::kShort;
  EXPECT_EQ(*obs::quant_range(c), Range(-32768, 32767));
  // A customized range is halved by reduce_range too, with floor division: -63 // 2 = -32.
  c.dtype = at::kQInt8;
  c.quant_min = -63;
  c.quant_max = 64;
  c.reduce_range = true;
  EXPECT_EQ(*obs::quant_range(c), Range(-32, 32));
  EXPECT_TRUE(obs::has_customized_qrange(c));
  auto placeholder = obs::default_config(ObserverKind::kPlaceholder);
  EXPECT_FALSE(obs::quant_range(placeholder).has_value());
}

TEST(ObserverConfig, IntegerDtype) {
  EXPECT_EQ(obs::integer_dtype(at::kQUInt8), at::kByte);
  EXPECT_EQ(obs::integer_dtype(at::kQInt8), at::kChar);
  EXPECT_EQ(obs::integer_dtype(at::kQInt32), at::kInt);
  EXPECT_EQ(obs::integer_dtype(at::kChar), at::kChar);
  EXPECT_EQ(obs::integer_dtype(at::kFloat), at::kFloat);
}

TEST(ObserverConfig, NamesRoundTrip) {
  EXPECT_EQ(obs::dtype_from_name("torch.qint8"), at::kQInt8);
  EXPECT_EQ(obs::dtype_name(at::kQUInt8), "quint8");
  EXPECT_EQ(obs::qscheme_from_name("per_channel_affine_float_qparams"), c10::kPerChannelAffineFloatQParams);
  EXPECT_EQ(obs::qscheme_name(c10::kPerTensorSymmetric), "per_tensor_symmetric");
  EXPECT_EQ(obs::kind_from_name("HistogramObserver"), ObserverKind::kHistogram);
  expect_error([] { obs::kind_from_name("RecordingObserver"); },
               "unsupported observer kind \"RecordingObserver\"; supported: MinMaxObserver");
  expect_error([] { obs::dtype_from_name("float8_e4m3fn"); }, "unsupported observer dtype \"float8_e4m3fn\"");
}

TEST(ObserverConfig, ValidationMatchesUpstreamWithTheValues) {
  auto c = min_max();
  c.qscheme = c10::kPerChannelAffine;
  expect_error([&] { obs::validate(c); },
               "MinMaxObserver: qscheme must be per_tensor_affine or per_tensor_symmetric, got per_channel_affine");
  c = min_max();
  c.quant_min = 1;
  c.quant_max = 10;
  expect_error([&] { obs::validate(c); }, "must include 0, got [1, 10]");
  c.quant_min = 0;
  c.quant_max = 0;
  expect_error([&] { obs::validate(c); }, "quant_min must be strictly less than quant_max, got quant_min=0");
  c.dtype = at::kQInt8;
  c.quant_min = -200;
  c.quant_max = 100;
  expect_error([&] { obs::validate(c); }, "must not exceed 256 values, got [-200, 100]");
  c.dtype = at::kQUInt8;
  c.quant_min = 0;
  c.quant_max = 300;
  expect_error([&] { obs::validate(c); }, "must lie in [0, 255] for dtype quint8, got [0, 300]");
  c.quant_max = c10::nullopt;
  expect_error([&] { obs::validate(c); }, "quant_min and quant_max must be given together, got quant_min=0");
  c = min_max();
  c.qscheme = c10::kPerTensorSymmetric;
  c.reduce_range = true;
  expect_error([&] { obs::validate(c); }, "reduce_range is not supported for symmetric quantization with quint8");
  c.dtype = at::kByte;  // upstream only rejects quint8
  EXPECT_NO_THROW(obs::validate(c));
  c = obs::default_config(ObserverKind::kMovingAverageMinMax);
  c.is_dynamic = true;
  expect_error([&] { obs::validate(c); }, "is_dynamic=True needs averaging_constant == 1, got 0.01");
  c.averaging_constant = 1.0;
  EXPECT_NO_THROW(obs::validate(c));
  c = obs::default_config(ObserverKind::kHistogram);
  c.is_dynamic = true;
  expect_error([&] { obs::validate(c); }, "HistogramObserver: dynamic quantization (is_dynamic=True) is not supported");
  c = obs::default_config(ObserverKind::kPerChannelMinMax);
  c.qscheme = c10::kPerTensorAffine;
  expect_error([&] { obs::validate(c); }, "PerChannelMinMaxObserver: qscheme must be per_channel_affine");
  c = min_max();
  c.dtype = at::kFloat;
  expect_error([&] { obs::validate(c); }, "MinMaxObserver: dtype must be one of quint8, qint8, qint32");
  c = min_max();
  c.eps = -1.0;
  expect_error([&] { obs::validate(c); }, "eps must be a finite number > 0, got -1");
}

TEST(ObserverConfig, JsonRoundTripAndErrors) {
  auto c = obs::default_config(ObserverKind::kMovingAveragePerChannelMinMax);
  c.dtype = at::kQInt8;
  c.qscheme = c10::kPerChannelSymmetric;
  c.quant_min = -127;
  c.quant_max = 127;
  c.ch_axis = -1;
  c.averaging_constant = 0.25;
  c.eps = 0.000244140625;  // 2^-12
  const std::string text = obs::to_json_string(c);
  EXPECT_NE(text.find("\"kind\":\"MovingAveragePerChannelMinMaxObserver\""), std::string::npos) << text;
  EXPECT_NE(text.find("\"dtype\":\"qint8\""), std::string::npos) << text;
  EXPECT_EQ(obs::config_from_json_string(text), c);

  auto fixed = obs::default_config(ObserverKind::kFixedQParams);
  fixed.fixed_scale = 0.0078125;
  fixed.fixed_zero_point = 128;
  EXPECT_EQ(obs::config_from_json_string(obs::to_json_string(fixed)), fixed);
  auto placeholder = obs::default_config(ObserverKind::kPlaceholder);
  placeholder.compute_dtype = at::kQUInt8;
  placeholder.custom_op_name = "op";
  EXPECT_EQ(obs::config_from_json_string(obs::to_json_string(placeholder)), placeholder);

  // Missing keys take the kind's defaults.
  EXPECT_EQ(obs::config_from_json_string(R"({"kind": "HistogramObserver"})"),
            obs::default_config(ObserverKind::kHistogram));
  // Upstream's None for a placeholder's qscheme and eps.
  EXPECT_EQ(obs::config_from_json_string(R"({"kind": "PlaceholderObserver", "qscheme": null, "eps": null})"),
            obs::default_config(ObserverKind::kPlaceholder));
  expect_error([] { obs::config_from_json_string(R"({"kind": "MinMaxObserver", "bins": 3})"); },
               "MinMaxObserver does not take \"bins\"; it takes: dtype, qscheme");
  expect_error([] { obs::config_from_json_string(R"({"dtype": "qint8"})"); }, "needs a \"kind\"");
  expect_error([] { obs::config_from_json_string(R"({"kind": "MinMaxObserver", "reduce_range": 1})"); },
               "\"reduce_range\" must be true or false, got 1");
  expect_error([] { obs::config_from_json_string(R"({"kind": "FixedQParamsObserver", "scale": 0.5})"); },
               "FixedQParamsObserver needs \"scale\" and \"zero_point\"");
  expect_error([] { obs::config_from_json_string("[1, 2]"); }, "must be a JSON object, got [1,2]");
  expect_error([] { obs::config_from_json_string("{"); }, "not valid JSON");
  // Parsing validates.
  expect_error([] { obs::config_from_json_string(R"({"kind": "MinMaxObserver", "quant_min": 3, "quant_max": 9})"); },
               "must include 0");
}

}  // namespace
