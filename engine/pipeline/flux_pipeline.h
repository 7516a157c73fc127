// Text to PNG with FLUX.1 in-process: encode (T5 + CLIP, through the prompt-embedding cache) ->
// denoise (flow-matching Euler over the transformer) -> decode (VAE, tiled for large images) ->
// PNG with a "parameters" text chunk. Each phase is timed, the job can be cancelled between
// phases and between denoising steps, and every finished step is reported.
//
// The pipeline is built once per model set (files are memory-mapped, tokenizers loaded) and
// serves any number of requests; Generate is const and may run concurrently from several threads
// (the prompt cache is the only shared mutable state and is locked).
//
// A batch of requests (GenerateBatch: the scheduler's launch of several jobs) runs as one job:
// each distinct prompt is encoded once, then one transformer pass per step denoises every image
// of every request (the weights stream once per step for the whole batch), each image from its
// own seed and with its request's guidance, so that each request gets the images it would get
// alone (up to the kernels' blocking of larger matrices; see pipeline_batch_test.cc).
#pragma once

#include <torch/types.h>

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/checkpoint/checkpoint.h"
#include "engine/device/execution_target.h"
#include "engine/pipeline/generation_request.h"
#include "engine/pipeline/job_memory_plan.h"
#include "engine/pipeline/model_paths.h"
#include "engine/pipeline/prompt_cache.h"
#include "engine/pipeline/weight_provider_factory.h"
#include "engine/sampling/flux_defaults.h"

namespace streamdit::engine {

class ClipTextEncoder;
class ClipTokenizer;
class FluxTransformer;
class DeviceLora;  // engine/lora/device_lora.h
class ResidentWeights;
class T5Encoder;
class T5Tokenizer;
class VaeDecoder;

// How a job may use device memory.
struct JobMemoryOptions {
  // A hard ceiling on the job's device bytes (its peak above what the device held when it
  // started). nullopt: no ceiling; weights come from the pipeline's WeightProviderFactory. With a
  // budget, each component streams by the job's plan (job_memory_plan.h); a budget below the
  // job's minimum is StatusError RESOURCE_EXHAUSTED naming the minimum, before any work.
  std::optional<int64_t> budget_bytes;
  // Blocks copied ahead of the one computing (0: copy on demand).
  int prefetch_depth = 1;
  // The model's weights already on the job's device (ResidentWeights::Load, in the model's resident
  // format, of this pipeline onto the same target), shared with other jobs: every component reads
  // them and nothing streams. The budget then bounds the job's own bytes beside them
  // (RESOURCE_EXHAUSTED before any work when the prediction exceeds it).
  std::shared_ptr<const ResidentWeights> resident_weights;
  // LoRAs already on the device in the compute dtype (DeviceLora::Load with this pipeline's
  // compute dtype and the job's device; a device's adapter cache), shared with other jobs: a
  // request's adapter found here is used as it is, and its bytes are not the job's (neither planned
  // nor measured: they were allocated before the job started). Other adapters are converted by the
  // job and counted in its budget.
  std::vector<std::shared_ptr<const DeviceLora>> device_loras;
};

// What a job planned and what it measured.
struct JobMemoryReport {
  // Set when the job ran under a budget or on resident weights (then: the all-resident plan).
  std::optional<JobMemoryPlan> plan;
  // The job's predicted peak above its start (with resident weights: without them); 0 when
  // there is no plan.
  int64_t predicted_peak_bytes = 0;
  // Peak device bytes above the job's start, per phase (encode, denoise, decode), when the
  // device's meter is installed (CpuMemoryMeter::Install() on the CPU). The meter counts the
  // whole device: with several jobs running at once on it, each job's figure includes the others'
  // allocations (run one job per device when the figure must be the job's alone).
  bool measured = false;
  std::array<int64_t, 3> measured_peak_bytes{};
  int64_t measured_peak() const;
  // Weight bytes copied into streaming slots and the time spent waiting for them.
  int64_t streamed_bytes = 0;
  double stall_seconds = 0;
};

struct GenerationProgress {
  int step = 0;       // 1-based: the step that just finished
  int num_steps = 0;  // of this many
  double step_seconds = 0;
  double denoise_seconds = 0;  // since the denoising phase began
};

struct GenerationCallbacks {
  // After every denoising step, from the generating thread.
  std::function<void(const GenerationProgress&)> on_step;
  // After every phase, with its wall time.
  std::function<void(PipelinePhase, double seconds)> on_phase;
  // Polled before each phase and each step; true stops the job by throwing Cancelled
  // (engine/sampling/cancelled.h) with the number of finished steps.
  std::function<bool()> cancelled;
  // Non-fatal problems (a prompt truncated to the encoders' token limits), once per distinct
  // prompt of the batch; each result lists its own.
  std::function<void(const std::string&)> on_warning;
};

struct PhaseTimings {
  double encode_seconds = 0;
  double denoise_seconds = 0;
  double decode_seconds = 0;
  double png_seconds = 0;
  double total_seconds = 0;
  std::vector<double> step_seconds;
  // The request's prompt needed no encoding (for a batch: every distinct prompt).
  bool prompt_cache_hit = false;
};

// One request's outcome. In a batch, `timings` and `memory` are the whole batch's (shared by its
// requests), except timings.prompt_cache_hit, which is the request's own.
struct GenerationResult {
  ResolvedRequest request;       // with the defaults applied
  std::vector<std::string> png;  // one encoded PNG per image of the request
  torch::Tensor images;          // float32 [batch_size, 3, height, width] in [-1, 1], on the CPU
  // The denoised latent tokens [batch_size, h*w, 64] in the compute dtype, on the CPU: what the
  // transformer produced, before the VAE.
  torch::Tensor latents;
  std::string parameters;  // the "parameters" text of the first image (each PNG has its own)
  std::vector<std::string> warnings;
  PhaseTimings timings;
  JobMemoryReport memory;
};

// A batch's outcome: one result per request, in the requests' order, and what the batch as one
// job planned, measured and took.
struct BatchResult {
  std::vector<GenerationResult> results;
  PhaseTimings timings;
  JobMemoryReport memory;  // one plan and one measured peak for the whole batch
};

class FluxPipeline {
 public:
  // Opens every component (zero-copy mappings; no weight is converted yet). Throws CheckpointError
  // naming the file when a component file is missing, unreadable, corrupt or of an unknown
  // layout, StatusError FAILED_PRECONDITION when the components do not fit together (e.g. the
  // transformer's context width differs from T5's d_model), INVALID_ARGUMENT for a bad setting.
  static FluxPipeline Load(PipelineConfig config,
                           WeightProviderFactory providers = DirectWeightProviderFactory());

  FluxPipeline(FluxPipeline&&) noexcept;
  FluxPipeline& operator=(FluxPipeline&&) noexcept;
  ~FluxPipeline();

  // A batch of one: GenerateBatch({request}, target, ...).results[0].
  GenerationResult Generate(const GenerationRequest& request, const ExecutionTarget& target,
                            const GenerationCallbacks& callbacks = {},
                            const JobMemoryOptions& memory = {}) const;

  // Runs the requests as one job (see the top of this file) on `target`: every tensor the job
  // computes with is made there (weights streamed or read resident on it, latents, activations);
  // the images and latents come back on the CPU. Before any work, throws StatusError:
  // INVALID_ARGUMENT for a request field, for requests that differ in width, height or steps
  // (after defaults), for more than limits().max_batch_images images in all
  // (ResolveGenerationBatch), RESOURCE_EXHAUSTED for a budget below the batch's minimum. Throws
  // Cancelled when callbacks.cancelled() turns true. Progress is reported per step of the batch.
  BatchResult GenerateBatch(const std::vector<GenerationRequest>& requests,
                            const ExecutionTarget& target,
                            const GenerationCallbacks& callbacks = {},
                            const JobMemoryOptions& memory = {}) const;

  // The memory plan of a batch of resolved requests (ResolveGenerationBatch) under `budget_bytes`
  // (nullopt: all resident), as GenerateBatch would run it on `device` (whose allocator sets the
  // bytes of each tensor, engine/memory/allocation_bytes.h). `cached_prompts`: how many of the
  // batch's distinct prompts need no encoding. Planning several requests with different prompts
  // counts one held embedding per distinct prompt; an estimate made before the prompts are known
  // should assume every request's prompt distinct.
  // `loras_on_device`: adapters whose tensors are on the device before the job (not its bytes).
  JobMemoryPlan PlanMemory(const std::vector<ResolvedRequest>& batch, torch::Device device,
                           std::optional<int64_t> budget_bytes, int prefetch_depth = 1,
                           int cached_prompts = 0,
                           const std::vector<const LoraAdapter*>& loras_on_device = {}) const;
  // One request: `prompt_cached`: its prompt's embeddings need no encoding.
  JobMemoryPlan PlanMemory(const ResolvedRequest& request, torch::Device device,
                           std::optional<int64_t> budget_bytes, int prefetch_depth = 1,
                           bool prompt_cached = false) const;
  JobModels models() const;

  const PipelineConfig& config() const;
  FluxFamily family() const;
  // The family's defaults with the config's overrides applied.
  const FluxSamplingDefaults& defaults() const;
  int64_t t5_max_length() const;
  bool has_guidance() const;
  const GenerationLimits& limits() const;
  // Host bytes page-locked at load (PipelineConfig::pin_host_tier); 0 otherwise.
  int64_t pinned_host_bytes() const;
  PromptEmbeddingCache& prompt_cache() const;

  const FluxTransformer& transformer() const;
  const T5Encoder& t5() const;
  const ClipTextEncoder& clip() const;
  const VaeDecoder& vae() const;

 private:
  struct Impl;
  explicit FluxPipeline(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace streamdit::engine
