// Text to PNG with FLUX.1 in-process: encode (T5 + CLIP, through the prompt-embedding cache) ->
// denoise (flow-matching Euler over the transformer) -> decode (VAE, tiled for large images) ->
// PNG with a "parameters" text chunk. Each phase is timed, the job can be cancelled between
// phases and between denoising steps, and every finished step is reported.
//
// The pipeline is built once per model set (files are memory-mapped, tokenizers loaded) and
// serves any number of requests; Generate is const and may run concurrently from several threads
// (the prompt cache is the only shared mutable state and is locked).
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/checkpoint/checkpoint.h"
#include "engine/pipeline/generation_request.h"
#include "engine/pipeline/model_paths.h"
#include "engine/pipeline/prompt_cache.h"
#include "engine/pipeline/weight_provider_factory.h"
#include "engine/sampling/flux_defaults.h"

namespace streamdit {

class ClipTextEncoder;
class ClipTokenizer;
class FluxTransformer;
class T5Encoder;
class T5Tokenizer;
class VaeDecoder;

enum class PipelinePhase { kEncode, kDenoise, kDecode };
const char* PipelinePhaseName(PipelinePhase phase);

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
  // Non-fatal problems (a prompt truncated to the encoders' token limits).
  std::function<void(const std::string&)> on_warning;
};

struct PhaseTimings {
  double encode_seconds = 0;
  double denoise_seconds = 0;
  double decode_seconds = 0;
  double png_seconds = 0;
  double total_seconds = 0;
  std::vector<double> step_seconds;
  bool prompt_cache_hit = false;
};

struct GenerationResult {
  ResolvedRequest request;       // with the defaults applied
  std::vector<std::string> png;  // one encoded PNG per image of the batch
  torch::Tensor images;          // float32 [batch, 3, height, width] in [-1, 1], on the CPU
  // The denoised latent tokens [batch, h*w, 64] in the compute dtype, on the CPU: what the
  // transformer produced, before the VAE.
  torch::Tensor latents;
  std::string parameters;  // the "parameters" text of the first image
  std::vector<std::string> warnings;
  PhaseTimings timings;
};

class FluxPipeline {
 public:
  // Opens every component (zero-copy mappings; no weight is converted yet). Throws CheckpointError
  // naming the file when a component file is missing, unreadable, corrupt or of an unknown
  // layout, std::invalid_argument when the components do not fit together (e.g. the transformer's
  // context width differs from T5's d_model).
  static FluxPipeline Load(PipelineConfig config,
                           WeightProviderFactory providers = DirectWeightProviderFactory());

  FluxPipeline(FluxPipeline&&) noexcept;
  FluxPipeline& operator=(FluxPipeline&&) noexcept;
  ~FluxPipeline();

  // Throws std::invalid_argument (request fields, see generation_request.h) before any work, and
  // Cancelled when callbacks.cancelled() turns true.
  GenerationResult Generate(const GenerationRequest& request,
                            const GenerationCallbacks& callbacks = {}) const;

  const PipelineConfig& config() const;
  FluxFamily family() const;
  // The family's defaults with the config's overrides applied.
  const FluxSamplingDefaults& defaults() const;
  int64_t t5_max_length() const;
  bool has_guidance() const;
  const GenerationLimits& limits() const;
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

}  // namespace streamdit
