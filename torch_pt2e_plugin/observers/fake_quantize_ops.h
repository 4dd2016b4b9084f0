// Module-level ops that expose observers/fake_quantize.h to Python:
//
//   torch.ops.torch_pt2e.add_fake_quantize(model._c, "fq", "FakeQuantize", json.dumps(kwargs))
//   torch.ops.torch_pt2e.is_fake_quantize(module._c) -> bool
//   torch.ops.torch_pt2e.set_fake_quant_enabled(model._c, True) -> int (modules set)
//   torch.ops.torch_pt2e.set_observer_enabled(model._c, False) -> int
#pragma once

#include "torch_pt2e_plugin/ops/library.h"

namespace torch_pt2e {
namespace observers {

ops::OpFamily fake_quantize_ops();

}  // namespace observers
}  // namespace torch_pt2e
