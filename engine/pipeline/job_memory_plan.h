// A job's memory before it runs: for every component (T5, CLIP, transformer, VAE) the residency
// plan that fills the budget and the predicted peak of its phase (weights + activations + the
// job's tensors alive beside them). The pipeline streams by these plans; the scheduler admits and
// places jobs by their predicted peaks; `streamdit plan` prints them.
//
// The budget is a hard ceiling on the job's device bytes (its peak above what the device held
// when it started). The prediction is safe (never below the measured peak: the activation models
// follow the forward passes tensor by tensor) and tight (tests hold it within 15% above).
#pragma once

#include <torch/types.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "engine/pipeline/weight_provider_factory.h"
#include "engine/streaming/residency_plan.h"
#include "engine/vae/vae_tiling.h"

namespace streamdit::engine {

class FluxTransformer;
class T5Encoder;
class ClipTextEncoder;
class VaeDecoder;

// The models of a job; the encoders and the VAE may be absent (`streamdit plan` on a transformer
// file alone plans the denoising phase only).
struct JobModels {
  const FluxTransformer* transformer = nullptr;
  const T5Encoder* t5 = nullptr;
  const ClipTextEncoder* clip = nullptr;
  const VaeDecoder* vae = nullptr;
};

struct JobMemoryShape {
  int width = 1024;
  int height = 1024;
  int batch = 1;  // every image of the job (a batch of requests: all their images)
  int steps = 50;
  int64_t t5_tokens = 512;
  int64_t clip_tokens = 77;
  // Distinct prompts among the job's images, and how many of them the job encodes (the others'
  // embeddings are cached: allocated before the job, not its bytes; 0: no encoder runs). Each
  // encoded prompt's embeddings stay for the whole job.
  int prompts = 1;
  int encoded_prompts = 1;
  torch::ScalarType compute = torch::kFloat;
  // The device the job runs on: its allocator sets each tensor's bytes (allocation_bytes.h).
  torch::Device device = torch::kCPU;
  bool tiled_decode = true;
  TileOptions tiles;
  // The job's LoRA tensors on the device per component (indexed by PipelineComponent), held
  // through that component's phase, and the largest rank among them (its [tokens, rank] scratch).
  std::array<int64_t, 4> adapter_bytes{};
  int64_t adapter_rank = 0;
};

// A stretch of a component's pass: the blocks it acquires and the activations it makes (T5's
// embedding lookup, then its layers; the transformer's modulation pass, then its steps). Only
// one block is converted to the compute dtype at a time, so a stage's worst is its largest
// conversion beside its activations.
struct ComponentStage {
  std::string name;
  std::size_t first_block = 0;  // [first_block, end_block) of ComponentBlocks()
  std::size_t end_block = 0;
  int64_t activation_bytes = 0;
};

struct ComponentMemoryPlan {
  PipelineComponent component = PipelineComponent::kTransformer;
  ResidencyPlan residency;
  // The worst stage: its largest block conversion plus its activations.
  int64_t working_bytes = 0;
  int64_t held_bytes = 0;  // the job's tensors alive beside it (embeddings, latents, ...)
  // The least budget that runs this component (everything streamed) and the budget at which every
  // block is resident.
  int64_t minimum_budget_bytes = 0;
  int64_t resident_budget_bytes = 0;

  int64_t predicted_peak_bytes() const {
    return residency.resident_bytes + residency.num_slots * residency.slot_bytes + working_bytes +
           held_bytes;
  }
};

struct JobMemoryPlan {
  int64_t budget_bytes = 0;
  StreamingOptions streaming;
  std::vector<ComponentMemoryPlan> components;  // in execution order

  // Throws StatusError (INTERNAL) when the component is not part of the plan.
  const ComponentMemoryPlan& component(PipelineComponent component) const;
  bool has(PipelineComponent component) const;
  // The phase's predicted peak (encode: the larger of T5's and CLIP's); 0 when absent.
  int64_t predicted_peak_bytes(PipelinePhase phase) const;
  int64_t predicted_peak_bytes() const;
  // The worst phase without its component's planned resident weights: a job whose weights are
  // all on the device before it starts (ResidentWeights). Meant for the all-resident plan.
  int64_t predicted_working_peak_bytes() const;
  // The least budget with which every component can run, and the one that keeps all resident.
  int64_t minimum_budget_bytes() const;
  int64_t resident_budget_bytes() const;
  std::string Describe() const;
};

// The blocks of a component in the order its pass acquires them, and which are used every step
// (for the transformer: all but the vector embedders and modulation, which run once per request).
std::vector<const WeightBlock*> ComponentBlocks(const JobModels& models,
                                                PipelineComponent component);
std::vector<bool> ComponentPerStep(const JobModels& models, PipelineComponent component);

// Plans every present component under `budget_bytes` (nullopt: everything resident). Throws
// StatusError: RESOURCE_EXHAUSTED naming the minimum budget (in bytes and GiB) when the budget is
// below it; INVALID_ARGUMENT for a shape that is no job (no transformer, encoded_prompts outside
// [0, prompts], prompts outside [1, batch]).
JobMemoryPlan PlanJobMemory(const JobModels& models, const JobMemoryShape& shape,
                            std::optional<int64_t> budget_bytes, const StreamingOptions& options);

// "12.50 GiB" from 1 GiB up, else "81.9 MiB".
std::string FormatBytes(int64_t bytes);

}  // namespace streamdit::engine
