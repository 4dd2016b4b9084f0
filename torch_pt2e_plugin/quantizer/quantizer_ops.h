// The quantizers as ops in the torch_pt2e namespace, so the Python package
// runs the C++ annotators on a ScriptModule's `_c` (one implementation).
//
// Requests and answers are JSON. Annotations travel in the format of
// annotation_json.h: a request carries the annotations the graph has so far
// (so "already annotated" is seen across quantizers); the answer carries the
// entries an op added or changed, the values it marked, and the partitions
// it annotated (as value ids).
#pragma once

#include "torch_pt2e_plugin/ops/library.h"

namespace torch_pt2e {
namespace quantizer {

ops::OpFamily quantizer_ops();

}  // namespace quantizer
}  // namespace torch_pt2e
