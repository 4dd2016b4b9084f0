// What prepare_pt2e did and did not quantize, so users can see what stays
// in float: operators no annotation covered, and everything inside control
// flow (prim::If / prim::Loop blocks), which quantizers do not see.
#pragma once

#include <nlohmann/json.hpp>
#include <torch/csrc/jit/api/module.h>

namespace torch_pt2e {
namespace flow {

// {"annotated": {kind: count}, "left_in_float": [{"kind", "module", "source"}],
//  "in_control_flow": [{"kind", "module", "source"}]} for a prepared module.
nlohmann::json prepare_report(const torch::jit::Module& prepared);

}  // namespace flow
}  // namespace torch_pt2e
