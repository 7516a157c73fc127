// The private half of FluxPipeline, shared by the files that implement it (flux_pipeline.cc:
// loading and the phases; flux_generate_batch.cc: a batch from requests to PNGs).
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "engine/checkpoint/checkpoint.h"
#include "engine/flux/flux_transformer.h"
#include "engine/lora/device_lora.h"
#include "engine/pipeline/flux_pipeline.h"
#include "engine/pipeline/resident_weights.h"
#include "engine/status/status_error.h"
#include "engine/streaming/streaming_weight_provider.h"
#include "engine/text/clip_text_encoder.h"
#include "engine/text/clip_tokenizer.h"
#include "engine/text/t5_encoder.h"
#include "engine/text/t5_tokenizer.h"
#include "engine/vae/vae_decoder.h"

namespace streamdit::engine {
namespace pipeline_internal {

using Clock = std::chrono::steady_clock;

inline double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

inline void CollectStreamingStats(const WeightProvider& provider, JobMemoryReport& report) {
  const WeightStreamingStats stats = provider.stats();
  report.streamed_bytes += stats.streamed_bytes;
  report.stall_seconds += stats.stall_seconds;
}

// Where a job's weights come from: a resident copy, else streaming by its plan, else the
// pipeline's factory.
struct JobWeights {
  ExecutionTarget target;  // where the job computes
  const ResidentWeights* resident = nullptr;
  const JobMemoryPlan* plan = nullptr;
  DeviceLoras loras;  // the LoRAs already on the device (JobMemoryOptions::device_loras)
};

// The images of a batch, sample by sample (a request's images are consecutive).
struct BatchSamples {
  std::vector<uint64_t> seeds;
  std::vector<double> guidance;
  std::vector<const PromptEmbedding*> embeddings;
  std::vector<const std::vector<LoraUse>*> loras;  // the sample's request's adapters
  bool one_prompt = true;  // every sample shares one embedding: broadcast views, no stacking

  int64_t size() const { return static_cast<int64_t>(seeds.size()); }
};

// A distinct prompt of a batch and its embeddings (found in the cache or encoded by the job).
struct BatchPrompt {
  std::string key;
  std::string text;
  std::shared_ptr<const PromptEmbedding> embedding;
  bool cached = false;
  // The adapters applied to the text encoders (those of the first request with this key: every
  // request with the same key has the same text adapters and strengths).
  const std::vector<LoraUse>* loras = nullptr;
};

}  // namespace pipeline_internal

struct FluxPipeline::Impl {
  PipelineConfig config;
  WeightProviderFactory providers;
  FluxFamily family = FluxFamily::kDev;
  FluxSamplingDefaults defaults = FluxDevDefaults();
  GenerationLimits limits;
  int64_t t5_max_length = 512;
  int64_t pinned_host_bytes = 0;

  Checkpoint transformer_checkpoint;  // keeps the transformer's zero-copy views alive
  std::unique_ptr<FluxTransformer> transformer;
  std::unique_ptr<T5Encoder> t5;
  std::unique_ptr<ClipTextEncoder> clip;
  std::unique_ptr<VaeDecoder> vae;
  std::unique_ptr<T5Tokenizer> t5_tokenizer;
  std::unique_ptr<ClipTokenizer> clip_tokenizer;
  std::unique_ptr<PromptEmbeddingCache> cache;

  JobModels Models() const { return JobModels{transformer.get(), t5.get(), clip.get(), vae.get()}; }

  // The component's weight provider: the job's resident weights when it has them, streaming by
  // the job's plan when it has one, else the factory's. The blocks are announced in the order the
  // component's pass acquires them.
  std::unique_ptr<WeightProvider> Provider(PipelineComponent component,
                                           const pipeline_internal::JobWeights& weights,
                                           int64_t passes = 1) const {
    if (weights.resident) return weights.resident->Provider();
    if (const JobMemoryPlan* plan = weights.plan) {
      StreamingOptions options = plan->streaming;
      options.compute_dtype = config.compute_dtype;
      auto streaming = std::make_unique<StreamingWeightProvider>(
          plan->component(component).residency, options, weights.target);
      streaming->SetOrder(ComponentBlocks(Models(), component), passes);
      return streaming;
    }
    std::unique_ptr<WeightProvider> provider =
        providers(component, ComponentBlocks(Models(), component), config.compute_dtype,
                  weights.target.device);
    if (!provider) {
      throw Internal(std::string("the weight provider factory returned no provider for ") +
                     PipelineComponentName(component));
    }
    return provider;
  }

  std::shared_ptr<const PromptEmbedding> Encode(const std::string& prompt,
                                                const std::vector<LoraUse>& loras,
                                                const pipeline_internal::JobWeights& weights,
                                                JobMemoryReport& report) const;
  // `job`: the batch's size and steps (shared by its requests).
  torch::Tensor Denoise(const ResolvedRequest& job, const pipeline_internal::BatchSamples& samples,
                        const pipeline_internal::JobWeights& weights, JobMemoryReport& report,
                        const GenerationCallbacks& callbacks, int& completed_steps,
                        PhaseTimings& timings) const;
  torch::Tensor Decode(const ResolvedRequest& job, const torch::Tensor& latents,
                       const pipeline_internal::JobWeights& weights, JobMemoryReport& report) const;
};

}  // namespace streamdit::engine
