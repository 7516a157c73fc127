#include "engine/pipeline/flux_pipeline.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <utility>

#include "engine/checkpoint/checkpoint_error.h"
#include "engine/flux/flux_transformer.h"
#include "engine/image/png_writer.h"
#include "engine/image/rgb8.h"
#include "engine/lora/lora_job_adapters.h"
#include "engine/memory/cpu_memory_meter.h"
#include "engine/pipeline/flux_pipeline_impl.h"
#include "engine/pipeline/png_parameters.h"
#include "engine/pipeline/resident_weights.h"
#include "engine/sampling/cancelled.h"
#include "engine/sampling/euler.h"
#include "engine/sampling/latent_packing.h"
#include "engine/sampling/noise.h"
#include "engine/sampling/schedule.h"
#include "engine/status/status_error.h"
#include "engine/streaming/pinned_host_tier.h"
#include "engine/streaming/streaming_weight_provider.h"
#include "engine/text/clip_text_encoder.h"
#include "engine/text/clip_tokenizer.h"
#include "engine/text/t5_encoder.h"
#include "engine/text/t5_tokenizer.h"
#include "engine/text/tokenizer_json.h"
#include "engine/vae/vae_decoder.h"

namespace streamdit::engine {
namespace {

// A component's files must exist before they are opened, so that a missing file is reported as
// such (with the component's role) rather than as whatever the opener makes of it.
void RequireFiles(const std::vector<std::string>& paths, const std::string& component) {
  if (paths.empty()) {
    throw CheckpointError(CheckpointError::Code::kIo, "<none>", "",
                          "no " + component + " file configured");
  }
  for (const std::string& path : paths) {
    std::error_code error;
    if (!std::filesystem::is_regular_file(path, error)) {
      throw CheckpointError(CheckpointError::Code::kIo, path, "",
                            component + " file does not exist or is not a regular file");
    }
  }
}

bool IsTokenizerJson(const std::string& path) {
  return std::filesystem::path(path).filename() == "tokenizer.json";
}

// spiece.model, or the Unigram model of a tokenizer.json (engine/text/tokenizer_json.h).
T5Tokenizer LoadT5Tokenizer(const std::string& path) {
  if (IsTokenizerJson(path)) {
    return T5Tokenizer::FromSerialized(SentencePieceFromTokenizerJson(path), path);
  }
  return T5Tokenizer::Load(path);
}

// vocab.json + merges.txt, or a tokenizer.json (with no merges file) holding both.
ClipTokenizer LoadClipTokenizer(const ModelPaths& paths, const ClipTokenizerOptions& options) {
  if (paths.clip_merges.empty() && IsTokenizerJson(paths.clip_vocab)) {
    RequireFiles({paths.clip_vocab}, "CLIP tokenizer");
    const ClipBpeText bpe = ClipBpeFromTokenizerJson(paths.clip_vocab);
    return ClipTokenizer::FromStrings(bpe.vocab_json, bpe.merges_txt, options, paths.clip_vocab);
  }
  RequireFiles({paths.clip_vocab, paths.clip_merges}, "CLIP tokenizer");
  return ClipTokenizer::FromFiles(paths.clip_vocab, paths.clip_merges, options);
}

}  // namespace

using namespace pipeline_internal;  // NOLINT: this file implements the pipeline

std::shared_ptr<const PromptEmbedding> FluxPipeline::Impl::Encode(const std::string& prompt,
                                                                  const std::vector<LoraUse>& loras,
                                                                  const JobWeights& weights,
                                                                  JobMemoryReport& report) const {
  auto embedding = std::make_shared<PromptEmbedding>();
  torch::NoGradGuard no_grad;

  const T5Encoding t5_ids = t5_tokenizer->Encode(prompt, t5_max_length);
  if (t5_ids.truncated) {
    embedding->warnings.push_back("prompt is longer than T5's limit of " +
                                  std::to_string(t5_max_length) +
                                  " tokens and was truncated for T5");
  }
  {
    const std::vector<const std::vector<LoraUse>*> one_sample{&loras};
    std::unique_ptr<WeightProvider> provider = WithAdapters(
        Provider(PipelineComponent::kT5, weights),
        BuildComponentAdapters(PipelineComponent::kT5, one_sample, config.compute_dtype,
                               weights.target.device, weights.loras));
    torch::Tensor ids = torch::tensor(t5_ids.ids, torch::kLong).unsqueeze(0);
    embedding->t5 = t5->Forward(ids, *provider).to(config.compute_dtype);
    CollectStreamingStats(*provider, report);
  }

  bool clip_truncated = false;
  const std::vector<int64_t> clip_ids = clip_tokenizer->Encode(prompt, &clip_truncated);
  if (clip_truncated) {
    embedding->warnings.push_back("prompt is longer than CLIP's limit of " +
                                  std::to_string(clip_tokenizer->max_length() - 2) +
                                  " tokens and was truncated for CLIP");
  }
  {
    const std::vector<const std::vector<LoraUse>*> one_sample{&loras};
    std::unique_ptr<WeightProvider> provider = WithAdapters(
        Provider(PipelineComponent::kClip, weights),
        BuildComponentAdapters(PipelineComponent::kClip, one_sample, config.compute_dtype,
                               weights.target.device, weights.loras));
    torch::Tensor ids = torch::tensor(clip_ids, torch::kLong).unsqueeze(0);
    embedding->clip =
        clip->Forward(ids, clip_tokenizer->eos_id(), *provider).pooled.to(config.compute_dtype);
    CollectStreamingStats(*provider, report);
  }
  return embedding;
}

FluxPipeline FluxPipeline::Load(PipelineConfig config, WeightProviderFactory providers) {
  if (!providers) throw InvalidArgument("providers: a weight provider factory is required");
  auto impl = std::make_unique<Impl>();
  const ModelPaths& paths = config.paths;

  RequireFiles(paths.transformer, "transformer");
  impl->transformer_checkpoint = Checkpoint::Open(paths.transformer);
  RopeOverrides rope;
  ApplyFolderSettings(paths.settings, rope);
  impl->transformer =
      std::make_unique<FluxTransformer>(FluxTransformer::Load(impl->transformer_checkpoint, rope));
  if (config.weight_storage == WeightStorage::kFp8) {
    ConvertBlocksToFp8(Fp8EligibleBlocks(impl->transformer->mutable_weights()));
  }
  if (config.pin_host_tier) {
    // After the storage change: the bytes that cross PCIe are the ones pinned. Page-locked memory
    // serves every card of the machine (unified addressing), so one copy serves all devices.
    impl->pinned_host_bytes =
        PinHostTier(impl->transformer->mutable_weights().MutableBlocks(), ExecutionTarget::Cuda(0));
  }
  RequireFiles(paths.t5, "T5 encoder");
  impl->t5 = std::make_unique<T5Encoder>(T5Encoder::Load(Checkpoint::Open(paths.t5)));
  RequireFiles(paths.clip, "CLIP encoder");
  impl->clip =
      std::make_unique<ClipTextEncoder>(ClipTextEncoder::Load(Checkpoint::Open(paths.clip)));
  RequireFiles(paths.ae, "autoencoder");
  VaeDecoderOptions vae_options;
  ApplyFolderSettings(paths.settings, vae_options);
  impl->vae =
      std::make_unique<VaeDecoder>(VaeDecoder::Load(Checkpoint::Open(paths.ae), vae_options));
  RequireFiles({paths.t5_tokenizer}, "T5 tokenizer");
  impl->t5_tokenizer = std::make_unique<T5Tokenizer>(LoadT5Tokenizer(paths.t5_tokenizer));
  ClipTokenizerOptions clip_options;
  clip_options.max_length = impl->clip->config().max_positions;
  impl->clip_tokenizer = std::make_unique<ClipTokenizer>(LoadClipTokenizer(paths, clip_options));

  // The components must agree on the widths they exchange.
  const FluxConfig& flux = impl->transformer->config();
  if (flux.context_in_dim != impl->t5->config().d_model) {
    throw FailedPrecondition("model set mismatch: the transformer's txt_in expects " +
                             std::to_string(flux.context_in_dim) + " features but T5 (" +
                             paths.t5.front() + ") has d_model " +
                             std::to_string(impl->t5->config().d_model));
  }
  if (flux.vec_in_dim != impl->clip->config().hidden) {
    throw FailedPrecondition("model set mismatch: the transformer's vector_in expects " +
                             std::to_string(flux.vec_in_dim) + " features but CLIP (" +
                             paths.clip.front() + ") has hidden size " +
                             std::to_string(impl->clip->config().hidden));
  }
  if (flux.in_channels != 4 * impl->vae->config().z_channels || flux.in_channels != 64) {
    throw FailedPrecondition("model set mismatch: the transformer works on " +
                             std::to_string(flux.in_channels) +
                             "-feature latent patches but the autoencoder (" + paths.ae.front() +
                             ") has " + std::to_string(impl->vae->config().z_channels) +
                             " latent channels (FLUX packs 16 channels x 2 x 2)");
  }
  if (impl->vae->config().upsample_factor() != 8) {
    throw FailedPrecondition("the autoencoder (" + paths.ae.front() + ") upsamples by " +
                             std::to_string(impl->vae->config().upsample_factor()) +
                             ", FLUX latents need 8");
  }

  impl->family =
      config.family.value_or(flux.guidance_embed ? FluxFamily::kDev : FluxFamily::kSchnell);
  impl->defaults = FamilyDefaults(impl->family);
  ApplyFolderSettings(paths.settings, impl->defaults);
  if (config.default_steps) impl->defaults.num_steps = *config.default_steps;
  if (config.default_width) impl->defaults.width = *config.default_width;
  if (config.default_height) impl->defaults.height = *config.default_height;
  if (config.t5_max_length) impl->defaults.t5_max_length = *config.t5_max_length;
  impl->t5_max_length = impl->defaults.t5_max_length;
  if (impl->t5_max_length < 1) {
    throw InvalidArgument("t5_max_length must be at least 1, got " +
                          std::to_string(impl->t5_max_length));
  }
  ValidateTileOptions(TileOptions{config.vae_tile_latent, config.vae_overlap_latent});
  impl->cache = std::make_unique<PromptEmbeddingCache>(config.prompt_cache_bytes);
  impl->providers = std::move(providers);
  impl->config = std::move(config);
  return FluxPipeline(std::move(impl));
}

FluxPipeline::FluxPipeline(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
FluxPipeline::FluxPipeline(FluxPipeline&&) noexcept = default;
FluxPipeline& FluxPipeline::operator=(FluxPipeline&&) noexcept = default;
FluxPipeline::~FluxPipeline() = default;

const PipelineConfig& FluxPipeline::config() const { return impl_->config; }
FluxFamily FluxPipeline::family() const { return impl_->family; }
const FluxSamplingDefaults& FluxPipeline::defaults() const { return impl_->defaults; }
int64_t FluxPipeline::t5_max_length() const { return impl_->t5_max_length; }
bool FluxPipeline::has_guidance() const { return impl_->transformer->config().guidance_embed; }
const GenerationLimits& FluxPipeline::limits() const { return impl_->limits; }
PromptEmbeddingCache& FluxPipeline::prompt_cache() const { return *impl_->cache; }
const FluxTransformer& FluxPipeline::transformer() const { return *impl_->transformer; }
const T5Encoder& FluxPipeline::t5() const { return *impl_->t5; }
const ClipTextEncoder& FluxPipeline::clip() const { return *impl_->clip; }
const VaeDecoder& FluxPipeline::vae() const { return *impl_->vae; }

torch::Tensor FluxPipeline::Impl::Denoise(const ResolvedRequest& job, const BatchSamples& samples,
                                          const JobWeights& weights, JobMemoryReport& report,
                                          const GenerationCallbacks& callbacks,
                                          int& completed_steps, PhaseTimings& timings) const {
  const torch::ScalarType compute = config.compute_dtype;
  const torch::Device device = weights.target.device;
  const Clock::time_point phase_start = Clock::now();
  const int64_t batch = samples.size();
  const int64_t rows = (job.height + 15) / 16;
  const int64_t cols = (job.width + 15) / 16;
  torch::Tensor img =
      PackLatent(FluxNoiseForSeeds(samples.seeds, job.height, job.width)).to(device, compute);
  // Each sample's T5 sequence, stacked (one prompt's: repeated).
  torch::Tensor txt;
  if (samples.one_prompt) {
    txt = samples.embeddings[0]->t5.to(device).expand({batch, -1, -1}).contiguous();
  } else {
    std::vector<torch::Tensor> sequences;
    for (const PromptEmbedding* embedding : samples.embeddings) {
      sequences.push_back(embedding->t5.to(device));
    }
    txt = torch::cat(sequences, 0);
  }
  const torch::Tensor img_ids = ImageIds(batch, rows, cols).to(device);
  const torch::Tensor txt_ids = TextIds(batch, txt.size(1)).to(device);
  const std::vector<double> schedule =
      FluxSchedule(job.steps, rows * cols, defaults.shift, defaults.base_shift, defaults.max_shift,
                   defaults.base_image_seq_len, defaults.max_image_seq_len);

  // The requests' LoRAs, each on its own samples' rows (one batch may mix LoRA sets).
  std::unique_ptr<WeightProvider> provider =
      WithAdapters(Provider(PipelineComponent::kTransformer, weights),
                   BuildComponentAdapters(PipelineComponent::kTransformer, samples.loras, compute,
                                          device, weights.loras));
  // Every step's modulation in one pass over the modulation weights: row step * batch + b holds
  // step `step`'s timestep, built in the latent dtype as BFL builds t_vec (torch.full(..., t,
  // dtype=img.dtype)), sample b's guidance (rounded through float as torch.full rounds it) and
  // sample b's pooled CLIP vector.
  FluxModulation modulation;
  {
    std::vector<double> step_times;
    std::vector<float> guidance_rows;
    for (int step = 0; step < job.steps; ++step) {
      for (int64_t b = 0; b < batch; ++b) {
        step_times.push_back(schedule[step]);
        guidance_rows.push_back(static_cast<float>(samples.guidance[b]));
      }
    }
    const int64_t vec_rows = static_cast<int64_t>(step_times.size());
    const torch::Tensor timesteps = torch::tensor(step_times, torch::kDouble).to(device, compute);
    const torch::Tensor guidance = torch::tensor(guidance_rows, torch::kFloat).to(device, compute);
    torch::Tensor y;
    if (samples.one_prompt) {
      y = samples.embeddings[0]->clip.to(device).expand({vec_rows, -1});
    } else {
      std::vector<torch::Tensor> pooled;
      for (const PromptEmbedding* embedding : samples.embeddings) {
        pooled.push_back(embedding->clip.to(device));
      }
      y = torch::cat(pooled, 0).unsqueeze(0).expand({job.steps, batch, -1}).reshape({vec_rows, -1});
    }
    const torch::Tensor vec = transformer->ComputeVec(timesteps, y, guidance, *provider, compute);
    modulation = transformer->ComputeModulation(vec, *provider);
  }
  // From here on only the token path runs, every step in the same order.
  provider->SetOrder(transformer->weights().StepOrder(), job.steps);

  Clock::time_point step_start = Clock::now();
  int predicted = 0;
  FlowPredictor predict = [&](const torch::Tensor& latent, double /*t_curr*/) {
    FluxInputs inputs;
    inputs.img = latent;
    inputs.img_ids = img_ids;
    inputs.txt = txt;
    inputs.txt_ids = txt_ids;
    const FluxModulation rows_of_step = modulation.Rows(predicted * batch, batch);
    ++predicted;
    return transformer->ForwardWithModulation(inputs, rows_of_step, *provider, compute);
  };
  SamplingHooks hooks;
  hooks.on_step = [&](const StepProgress& progress) {
    completed_steps = progress.step_index + 1;
    const double seconds = SecondsSince(step_start);
    step_start = Clock::now();
    timings.step_seconds.push_back(seconds);
    if (callbacks.on_step) {
      callbacks.on_step(GenerationProgress{completed_steps, progress.num_steps, seconds,
                                           SecondsSince(phase_start)});
    }
  };
  if (callbacks.cancelled) hooks.cancelled = callbacks.cancelled;
  torch::Tensor denoised = EulerSample(std::move(img), schedule, predict, hooks);
  CollectStreamingStats(*provider, report);
  return denoised;
}
int64_t FluxPipeline::pinned_host_bytes() const { return impl_->pinned_host_bytes; }

torch::Tensor FluxPipeline::Impl::Decode(const ResolvedRequest& job,
                                         const torch::Tensor& latent_tokens,
                                         const JobWeights& weights, JobMemoryReport& report) const {
  // BFL unpacks, then decodes from float32; one image at a time so that the activation peak does
  // not grow with the batch.
  const torch::Tensor latents =
      UnpackLatent(latent_tokens, job.height, job.width).to(torch::kFloat);
  const TileOptions tiles{config.vae_tile_latent, config.vae_overlap_latent};
  const int64_t images = latents.size(0);
  int64_t passes = images;  // one pass over the decoder per image, per tile when tiled
  if (config.tiled_decode) {
    passes *= static_cast<int64_t>(
        TileStarts(latents.size(2), tiles.tile_latent, tiles.overlap_latent).size() *
        TileStarts(latents.size(3), tiles.tile_latent, tiles.overlap_latent).size());
  }
  std::unique_ptr<WeightProvider> provider = Provider(PipelineComponent::kVae, weights, passes);
  std::vector<torch::Tensor> decoded;
  for (int64_t b = 0; b < images; ++b) {
    const torch::Tensor latent = latents.slice(0, b, b + 1);
    torch::Tensor image = config.tiled_decode
                              ? vae->DecodeTiled(latent, *provider, config.compute_dtype, tiles)
                              : vae->Decode(latent, *provider, config.compute_dtype);
    // BFL's unpack rounds the latent grid up to whole 16-pixel patches; crop to the request.
    decoded.push_back(image.slice(2, 0, job.height).slice(3, 0, job.width).to(torch::kCPU));
  }
  CollectStreamingStats(*provider, report);
  provider.reset();
  return torch::cat(decoded, 0);
}

JobModels FluxPipeline::models() const { return impl_->Models(); }

JobMemoryPlan FluxPipeline::PlanMemory(
    const std::vector<ResolvedRequest>& batch, torch::Device device,
    std::optional<int64_t> budget_bytes, int prefetch_depth, int cached_prompts,
    const std::vector<const LoraAdapter*>& loras_on_device) const {
  const Impl& impl = *impl_;
  if (batch.empty()) throw InvalidArgument("requests: a batch needs at least one request");
  std::vector<std::string> prompts;
  int images = 0;
  for (const ResolvedRequest& request : batch) {
    images += request.batch_size;
    if (std::find(prompts.begin(), prompts.end(), request.prompt) == prompts.end()) {
      prompts.push_back(request.prompt);
    }
  }
  const ResolvedRequest& first = batch.front();
  JobMemoryShape shape;
  shape.width = first.width;
  shape.height = first.height;
  shape.batch = images;
  shape.steps = first.steps;
  shape.t5_tokens = impl.t5_max_length;
  shape.clip_tokens = impl.clip_tokenizer->max_length();
  shape.prompts = static_cast<int>(prompts.size());
  shape.encoded_prompts = shape.prompts - std::clamp(cached_prompts, 0, shape.prompts);
  shape.compute = impl.config.compute_dtype;
  shape.device = device;
  shape.tiled_decode = impl.config.tiled_decode;
  shape.tiles = TileOptions{impl.config.vae_tile_latent, impl.config.vae_overlap_latent};
  // LoRAs: the transformer's for every sample at once; each text encoder's for one prompt at a
  // time (the prompts are encoded one after the other), so the largest request's.
  std::vector<const std::vector<LoraUse>*> sample_loras;
  for (const ResolvedRequest& request : batch) {
    for (int i = 0; i < request.batch_size; ++i) sample_loras.push_back(&request.loras);
  }
  auto index = [](PipelineComponent component) { return static_cast<std::size_t>(component); };
  shape.adapter_bytes[index(PipelineComponent::kTransformer)] = ComponentAdapterBytes(
      PipelineComponent::kTransformer, sample_loras, shape.compute, device, loras_on_device);
  shape.adapter_rank = ComponentAdapterRank(PipelineComponent::kTransformer, sample_loras);
  for (const ResolvedRequest& request : batch) {
    const std::vector<const std::vector<LoraUse>*> one{&request.loras};
    for (PipelineComponent text : {PipelineComponent::kT5, PipelineComponent::kClip}) {
      int64_t& bytes = shape.adapter_bytes[index(text)];
      bytes =
          std::max(bytes, ComponentAdapterBytes(text, one, shape.compute, device, loras_on_device));
      shape.adapter_rank = std::max(shape.adapter_rank, ComponentAdapterRank(text, one));
    }
  }
  StreamingOptions options;
  options.prefetch_depth = prefetch_depth;
  options.compute_dtype = impl.config.compute_dtype;
  return PlanJobMemory(impl.Models(), shape, budget_bytes, options);
}

JobMemoryPlan FluxPipeline::PlanMemory(const ResolvedRequest& request, torch::Device device,
                                       std::optional<int64_t> budget_bytes, int prefetch_depth,
                                       bool prompt_cached) const {
  return PlanMemory(std::vector<ResolvedRequest>{request}, device, budget_bytes, prefetch_depth,
                    prompt_cached ? 1 : 0);
}

}  // namespace streamdit::engine
