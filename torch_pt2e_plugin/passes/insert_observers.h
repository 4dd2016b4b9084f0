// prepare_pt2e's observer insertion (upstream's pt2e/prepare.py `prepare`).
//
// Matches: the annotated forward graph of a module in canonical form
// (passes/canonicalize.h). Computes sharing groups (passes/sharing_groups.h),
// creates one observer submodule per group, `activation_post_process_<N>` on
// the top module, and inserts calls to it:
//
//   producer -> obs -> every user          (annotated output)
//   producer -> obs -> annotated consumer  (annotated input edge, when the
//                                          producer's output observer is a
//                                          different instance; an existing
//                                          call of the same instance is reused)
//
// Derived specs get a derived observer that refers to its source observers;
// fixed-qparams specs a FixedQParamsObserver. What convert needs later (which
// nodes were annotated) is stored in the module (see prepare_state.h), so a
// prepared module can be saved, loaded, calibrated and converted elsewhere.
// Precondition of this in-place pass: `module` has not run forward yet
// (TorchScript caches the optimized graph on the first run); clone a module
// that has, as convert_pt2e does.
#pragma once

#include <torch/csrc/jit/api/module.h>

#include "torch_pt2e_plugin/quantizer/quantization_spec.h"

namespace torch_pt2e {
namespace passes {

struct InsertObserversResult {
  int64_t observers = 0;        // observer instances created
  int64_t observer_calls = 0;   // call sites inserted
};

// Modifies `module` in place. `is_qat` creates fake-quantize modules instead
// of observers where the spec's constructor names one.
InsertObserversResult insert_observers(torch::jit::Module& module, const quantizer::AnnotationTable& annotations,
                                       bool is_qat = false);

}  // namespace passes
}  // namespace torch_pt2e
