// The seam where residency and streaming plug into the pipeline: for each component of a job
// (T5, CLIP, transformer, VAE) the pipeline asks a factory for the WeightProvider that hands out
// that component's blocks. It passes every block of the component up front, so that a budgeted
// provider (engine/streaming/) can plan residency once per job rather than per step. The default
// factory materializes every block at each use (DirectWeightProvider).
#pragma once

#include <torch/types.h>

#include <functional>
#include <memory>
#include <vector>

#include "engine/model/weight_block.h"

namespace streamdit::engine {

enum class PipelineComponent { kT5, kClip, kTransformer, kVae };

const char* PipelineComponentName(PipelineComponent component);

// A job's phases: encode (T5, CLIP), denoise (transformer), decode (VAE).
enum class PipelinePhase { kEncode, kDenoise, kDecode };
const char* PipelinePhaseName(PipelinePhase phase);

using WeightProviderFactory = std::function<std::unique_ptr<WeightProvider>(
    PipelineComponent component, const std::vector<const WeightBlock*>& blocks,
    torch::ScalarType compute_dtype, torch::Device device)>;

// Makes a DirectWeightProvider for every component.
WeightProviderFactory DirectWeightProviderFactory();

}  // namespace streamdit::engine
