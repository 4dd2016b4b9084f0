// torch_pt2e::quantized_decomposed_schemas(): the quantized_decomposed
// schemas this plugin knows (and defines where nobody else has), for
// comparison with the running torch's (tests/ops/test_schemas.py).
#pragma once

#include "torch_pt2e_plugin/ops/library.h"

namespace torch_pt2e {
namespace ops {

OpFamily schema_list_ops();

}  // namespace ops
}  // namespace torch_pt2e
