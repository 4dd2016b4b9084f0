// EmbeddingQuantizer (upstream's embedding_quantizer.py): weight-only uint8
// quantization of aten::embedding tables, one scale and float zero point per
// row (per_channel_affine_float_qparams, ch_axis 0, PerChannelMinMaxObserver
// with eps 2^-12). The annotation is not marked `_annotated`, as upstream's.
#pragma once

#include "torch_pt2e_plugin/quantizer/quantization_config.h"
#include "torch_pt2e_plugin/quantizer/quantizer.h"

namespace torch_pt2e {
namespace quantizer {

// The embedding weight spec (one shared object).
QuantizationSpecCPtr embedding_weight_spec();

class EmbeddingQuantizer : public Quantizer {
 public:
  void annotate(torch::jit::Module& module, AnnotationTable& annotations) override;
};

}  // namespace quantizer
}  // namespace torch_pt2e
