// The models a memory plan is made for, loaded from their files' headers only: zero-copy views of
// the mappings, and with fp8 storage the transformer's eligible tensors replaced by shape-only fp8
// stand-ins (meta tensors), so that sizes are exact and no weight byte is read. A full-size model,
// even a sparse file, loads in milliseconds.
#pragma once

#include <memory>
#include <string>

#include "engine/flux/flux_transformer.h"
#include "engine/pipeline/job_memory_plan.h"
#include "engine/streaming/host_storage.h"
#include "engine/text/clip_text_encoder.h"
#include "engine/text/t5_encoder.h"
#include "engine/vae/vae_decoder.h"

namespace streamdit::engine {

struct PlanningModels {
  std::unique_ptr<FluxTransformer> transformer;
  std::unique_ptr<T5Encoder> t5;  // absent when only a transformer file was given
  std::unique_ptr<ClipTextEncoder> clip;
  std::unique_ptr<VaeDecoder> vae;
  std::string description;  // the path and what was loaded from it

  JobModels models() const { return JobModels{transformer.get(), t5.get(), clip.get(), vae.get()}; }
};

// `path`: a model folder (FindModelFiles: every phase is planned) or a transformer .safetensors
// file alone (the denoising phase only). Throws CheckpointError (NOT_FOUND, DATA_LOSS) naming
// the file.
PlanningModels LoadPlanningModels(const std::string& path, WeightStorage storage);

}  // namespace streamdit::engine
