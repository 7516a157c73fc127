#include "engine/pipeline/weight_provider_factory.h"

namespace streamdit::engine {

const char* PipelineComponentName(PipelineComponent component) {
  switch (component) {
    case PipelineComponent::kT5:
      return "t5";
    case PipelineComponent::kClip:
      return "clip";
    case PipelineComponent::kTransformer:
      return "transformer";
    case PipelineComponent::kVae:
      return "vae";
  }
  return "unknown";
}

const char* PipelinePhaseName(PipelinePhase phase) {
  switch (phase) {
    case PipelinePhase::kEncode:
      return "encode";
    case PipelinePhase::kDenoise:
      return "denoise";
    case PipelinePhase::kDecode:
      return "decode";
  }
  return "unknown";
}

WeightProviderFactory DirectWeightProviderFactory() {
  return
      [](PipelineComponent, const std::vector<const WeightBlock*>&, torch::ScalarType compute_dtype,
         torch::Device device) -> std::unique_ptr<WeightProvider> {
        return std::make_unique<DirectWeightProvider>(compute_dtype, device);
      };
}

}  // namespace streamdit::engine
