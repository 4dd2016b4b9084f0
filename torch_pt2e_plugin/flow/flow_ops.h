// The flow's entry points as ops in the torch_pt2e namespace, so the Python
// package (and TorchScript) can call them with a ScriptModule's `_c`.
#pragma once

#include "torch_pt2e_plugin/ops/library.h"

namespace torch_pt2e {
namespace flow {

ops::OpFamily flow_ops();

}  // namespace flow
}  // namespace torch_pt2e
