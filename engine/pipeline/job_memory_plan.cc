#include "engine/pipeline/job_memory_plan.h"

#include <algorithm>
#include <cstdio>
#include <sstream>
#include <unordered_set>

#include "engine/flux/flux_activation_memory.h"
#include "engine/flux/flux_transformer.h"
#include "engine/memory/cuda_kernel_scratch.h"
#include "engine/status/minimum_budget.h"
#include "engine/status/status_error.h"
#include "engine/text/clip_text_encoder.h"
#include "engine/text/t5_encoder.h"
#include "engine/text/text_encoder_activation_memory.h"
#include "engine/vae/vae_activation_memory.h"
#include "engine/vae/vae_decoder.h"

namespace streamdit::engine {
namespace {

std::vector<const WeightBlock*> Pointers(const std::vector<WeightBlock>& blocks) {
  std::vector<const WeightBlock*> pointers;
  for (const WeightBlock& block : blocks) pointers.push_back(&block);
  return pointers;
}

int64_t ElementBytes(torch::ScalarType type) {
  return static_cast<int64_t>(c10::elementSize(type));
}

// Plans one component: its weights get what the budget leaves after its worst stage and the
// job's tensors beside it.
ComponentMemoryPlan PlanComponent(const JobModels& models, PipelineComponent component,
                                  const std::vector<ComponentStage>& stages, int64_t held,
                                  std::optional<int64_t> budget, const StreamingOptions& options,
                                  torch::ScalarType compute, torch::Device device) {
  // On a CUDA device the BLAS workspaces are allocated through the caching allocator beside
  // every component's work (cuda_kernel_scratch.h).
  if (device.is_cuda()) held += kCudaBlasWorkspaceBytes;
  ComponentMemoryPlan plan;
  plan.component = component;
  plan.held_bytes = held;
  const std::vector<PlannedBlock> blocks = DescribeBlocks(
      ComponentBlocks(models, component), ComponentPerStep(models, component), compute, device);
  int64_t all = 0, conversion = 0;
  for (const PlannedBlock& b : blocks) {
    all += b.storage_bytes;
    conversion = std::max(conversion, b.compute_bytes);
  }
  for (const ComponentStage& stage : stages) {
    int64_t stage_conversion = 0;
    for (std::size_t i = stage.first_block; i < stage.end_block && i < blocks.size(); ++i) {
      stage_conversion = std::max(stage_conversion, blocks[i].compute_bytes);
    }
    plan.working_bytes = std::max(plan.working_bytes, stage_conversion + stage.activation_bytes);
  }
  // PlanResidency reserves the largest conversion itself; the stages replace that reserve.
  const int64_t minimum_weights = MinimumWeightBytes(blocks, options) - conversion;
  plan.minimum_budget_bytes = minimum_weights + plan.working_bytes + held;
  plan.resident_budget_bytes = all + plan.working_bytes + held;
  const int64_t weight_budget =
      (budget ? *budget : plan.resident_budget_bytes) - plan.working_bytes - held + conversion;
  if (weight_budget < MinimumWeightBytes(blocks, options)) {
    plan.residency.blocks = blocks;  // left unplanned: the caller reports the minimum
    return plan;
  }
  plan.residency = PlanResidency(blocks, weight_budget, options);
  return plan;
}

}  // namespace

std::string FormatBytes(int64_t bytes) {
  char text[32];
  if (bytes >= (int64_t{1} << 30)) {
    std::snprintf(text, sizeof(text), "%.2f GiB", double(bytes) / double(int64_t{1} << 30));
  } else {
    std::snprintf(text, sizeof(text), "%.1f MiB", double(bytes) / double(int64_t{1} << 20));
  }
  return text;
}

std::vector<const WeightBlock*> ComponentBlocks(const JobModels& models,
                                                PipelineComponent component) {
  switch (component) {
    case PipelineComponent::kT5:
      return Pointers(models.t5->blocks());
    case PipelineComponent::kClip:
      return Pointers(models.clip->blocks());
    case PipelineComponent::kTransformer: {
      const FluxWeights& w = models.transformer->weights();
      std::vector<const WeightBlock*> order = w.VecAndModulationOrder();
      for (const WeightBlock* block : w.StepOrder()) order.push_back(block);
      return order;
    }
    case PipelineComponent::kVae:
      return Pointers(models.vae->blocks());
  }
  return {};
}

std::vector<bool> ComponentPerStep(const JobModels& models, PipelineComponent component) {
  const std::vector<const WeightBlock*> blocks = ComponentBlocks(models, component);
  if (component != PipelineComponent::kTransformer) return std::vector<bool>(blocks.size(), true);
  const std::vector<const WeightBlock*> once =
      models.transformer->weights().VecAndModulationOrder();
  const std::unordered_set<const WeightBlock*> per_request(once.begin(), once.end());
  std::vector<bool> per_step;
  for (const WeightBlock* block : blocks) per_step.push_back(per_request.count(block) == 0);
  return per_step;
}

JobMemoryPlan PlanJobMemory(const JobModels& models, const JobMemoryShape& shape,
                            std::optional<int64_t> budget, const StreamingOptions& options) {
  if (!models.transformer) throw InvalidArgument("a job plan needs the transformer");
  if (shape.prompts < 1 || shape.prompts > shape.batch) {
    throw InvalidArgument("prompts must be in [1, batch = " + std::to_string(shape.batch) +
                          "], got " + std::to_string(shape.prompts));
  }
  if (shape.encoded_prompts < 0 || shape.encoded_prompts > shape.prompts) {
    throw InvalidArgument(
        "encoded_prompts must be in [0, prompts = " + std::to_string(shape.prompts) + "], got " +
        std::to_string(shape.encoded_prompts));
  }
  JobMemoryPlan job;
  job.streaming = options;
  const torch::ScalarType compute = shape.compute;
  const int64_t e = ElementBytes(compute);
  // A component's LoRA tensors (held through its phase) and the [tokens, rank] product a delta
  // makes beside the layer's output (engine/model/low_rank_adapters.h), with an allocation's
  // overhead.
  auto adapters = [&](PipelineComponent component, int64_t tokens) -> int64_t {
    const int64_t bytes = shape.adapter_bytes[static_cast<std::size_t>(component)];
    return bytes > 0 ? bytes + tokens * shape.adapter_rank * e + 512 : 0;
  };
  const FluxConfig& flux = models.transformer->config();
  const int64_t batch = shape.batch;
  const int64_t img_tokens = int64_t{(shape.height + 15) / 16} * ((shape.width + 15) / 16);
  const int64_t txt_tokens = shape.t5_tokens;
  // Each encoded prompt's embeddings (T5 sequence and CLIP pooled vector) stay for the whole job;
  // a cached prompt's were allocated before the job and are not the job's bytes. The prompts are
  // encoded one after the other: the last one's encoders run beside the earlier ones' embeddings.
  const bool encode = shape.encoded_prompts > 0;
  const int64_t one_embedding = txt_tokens * flux.context_in_dim * e + flux.vec_in_dim * e;
  const int64_t embedding = shape.encoded_prompts * one_embedding;
  const int64_t earlier_embeddings = encode ? (shape.encoded_prompts - 1) * one_embedding : 0;

  if (encode && models.t5) {
    const std::size_t n = models.t5->blocks().size();
    const int64_t ids = txt_tokens * 8;
    const int64_t lookup = ids + 2 * txt_tokens * models.t5->config().d_model * e;
    const int64_t layers = T5ActivationBytes(models.t5->config(), 1, txt_tokens, compute) + ids;
    job.components.push_back(PlanComponent(
        models, PipelineComponent::kT5, {{"embedding", 0, 1, lookup}, {"layers", 1, n, layers}},
        earlier_embeddings + adapters(PipelineComponent::kT5, txt_tokens), budget, options, compute,
        shape.device));
  }
  if (encode && models.clip) {
    const std::size_t n = models.clip->blocks().size();
    const int64_t ids = shape.clip_tokens * 8 * 4;  // ids, positions, the EOS search
    const int64_t lookup = ids + 3 * shape.clip_tokens * models.clip->config().hidden * e;
    const int64_t layers =
        ClipActivationBytes(models.clip->config(), 1, shape.clip_tokens, compute) + ids;
    const int64_t t5_output = txt_tokens * flux.context_in_dim * e;
    job.components.push_back(PlanComponent(
        models, PipelineComponent::kClip, {{"embedding", 0, 1, lookup}, {"layers", 1, n, layers}},
        earlier_embeddings + t5_output + adapters(PipelineComponent::kClip, shape.clip_tokens),
        budget, options, compute, shape.device));
  }

  // Denoising: the latent tokens (the caller's, the sampler's, the prediction and the update),
  // position ids, the text sequence repeated over the batch, every step's modulation.
  const int64_t latent = batch * img_tokens * flux.in_channels * e;
  const int64_t ids = batch * (img_tokens + txt_tokens) * 3 * 4;
  const int64_t txt_batch = batch > 1 ? batch * txt_tokens * flux.context_in_dim * e : 0;
  const int64_t noise = batch * 16 * img_tokens * 4 * 4;  // float32 noise before packing
  const int64_t rows = int64_t{shape.steps} * batch;
  const int64_t modulation = FluxModulationBytes(flux, rows, compute);
  FluxActivationShape forward_shape;
  forward_shape.batch = batch;
  forward_shape.img_tokens = img_tokens;
  forward_shape.txt_tokens = txt_tokens;
  forward_shape.compute = compute;
  forward_shape.device = shape.device.type();
  // On a CUDA device attention is fused (SDPA), with its log-sum-exp beside the output.
  const int64_t forward =
      FluxForwardActivationBytes(flux, forward_shape) +
      (shape.device.is_cuda()
           ? CudaAttentionScratchBytes(batch, flux.num_heads, img_tokens + txt_tokens)
           : 0);
  const std::size_t once = models.transformer->weights().VecAndModulationOrder().size();
  const std::size_t all = ComponentBlocks(models, PipelineComponent::kTransformer).size();
  // With several prompts, each sample's pooled CLIP vector is stacked, then repeated per step
  // (one prompt's is a broadcast view instead).
  const int64_t pooled_rows = shape.prompts > 1 ? (rows + batch) * flux.vec_in_dim * e : 0;
  const int64_t modulation_pass =
      std::max(FluxModulationPassBytes(flux, rows, compute) - modulation + rows * 16 + pooled_rows,
               noise + latent);
  job.components.push_back(PlanComponent(
      models, PipelineComponent::kTransformer,
      {{"modulation", 0, once, modulation_pass}, {"steps", once, all, forward + 4 * latent}},
      embedding + txt_batch + latent + ids + modulation +
          adapters(PipelineComponent::kTransformer, batch * (img_tokens + txt_tokens)),
      budget, options, compute, shape.device));

  if (models.vae) {
    const VaeDecoderConfig& vae = models.vae->config();
    const int64_t latent_h = (shape.height + 15) / 16 * 2, latent_w = (shape.width + 15) / 16 * 2;
    const int64_t image = 3 * int64_t{shape.height} * shape.width * 4;
    // The denoised tokens, and the unpacked float32 latents the decoder reads.
    const int64_t latents = latent + batch * vae.z_channels * latent_h * latent_w * 4 +
                            (compute == torch::kFloat ? 0 : latent);
    const int64_t decode =
        shape.tiled_decode
            ? VaeDecodeTiledActivationBytes(vae, latent_h, latent_w, compute, shape.tiles)
            : VaeDecodeActivationBytes(vae, latent_h, latent_w, compute);
    // Decoding image b beside the b earlier ones; joining them; encoding PNG rows from one.
    const int64_t activation =
        std::max({decode + (batch - 1) * image, 2 * batch * image, batch * image + 4 * image});
    job.components.push_back(PlanComponent(
        models, PipelineComponent::kVae, {{"decode", 0, models.vae->blocks().size(), activation}},
        embedding + latents, budget, options, compute, shape.device));
  }

  if (budget) {
    job.budget_bytes = *budget;
    if (*budget < job.minimum_budget_bytes()) {
      const int64_t minimum = job.minimum_budget_bytes();
      const ComponentMemoryPlan* limiting = &job.components.front();
      for (const ComponentMemoryPlan& c : job.components) {
        if (c.minimum_budget_bytes == minimum) limiting = &c;
      }
      throw BelowMinimumBudget(
          "memory budget " + std::to_string(*budget) + " bytes (" + FormatBytes(*budget) +
              ") is below this job's minimum of " + std::to_string(minimum) + " bytes (" +
              FormatBytes(minimum) + ", set by the " + PipelineComponentName(limiting->component) +
              ": " + FormatBytes(limiting->working_bytes) + " of activations and conversions, " +
              FormatBytes(limiting->held_bytes) + " of the job's tensors, and " +
              FormatBytes(minimum - limiting->working_bytes - limiting->held_bytes) +
              " of weight slots to stream one block at a time)",
          minimum);
    }
  } else {
    job.budget_bytes = job.resident_budget_bytes();
  }
  return job;
}

const ComponentMemoryPlan& JobMemoryPlan::component(PipelineComponent which) const {
  for (const ComponentMemoryPlan& c : components) {
    if (c.component == which) return c;
  }
  throw Internal(std::string("the job plan has no ") + PipelineComponentName(which));
}

bool JobMemoryPlan::has(PipelineComponent which) const {
  for (const ComponentMemoryPlan& c : components) {
    if (c.component == which) return true;
  }
  return false;
}

int64_t JobMemoryPlan::predicted_peak_bytes(PipelinePhase phase) const {
  int64_t peak = 0;
  for (const ComponentMemoryPlan& c : components) {
    const bool in_phase =
        phase == PipelinePhase::kEncode
            ? (c.component == PipelineComponent::kT5 || c.component == PipelineComponent::kClip)
        : phase == PipelinePhase::kDenoise ? c.component == PipelineComponent::kTransformer
                                           : c.component == PipelineComponent::kVae;
    if (in_phase) peak = std::max(peak, c.predicted_peak_bytes());
  }
  return peak;
}

int64_t JobMemoryPlan::predicted_peak_bytes() const {
  int64_t peak = 0;
  for (const ComponentMemoryPlan& c : components) peak = std::max(peak, c.predicted_peak_bytes());
  return peak;
}

int64_t JobMemoryPlan::predicted_working_peak_bytes() const {
  int64_t peak = 0;
  for (const ComponentMemoryPlan& c : components) {
    // Safe: a stage's working bytes still count a block conversion that resident compute-dtype
    // weights do not need.
    peak = std::max(peak, c.predicted_peak_bytes() - c.residency.resident_bytes);
  }
  return peak;
}

int64_t JobMemoryPlan::minimum_budget_bytes() const {
  int64_t bytes = 0;
  for (const ComponentMemoryPlan& c : components) bytes = std::max(bytes, c.minimum_budget_bytes);
  return bytes;
}

int64_t JobMemoryPlan::resident_budget_bytes() const {
  int64_t bytes = 0;
  for (const ComponentMemoryPlan& c : components) bytes = std::max(bytes, c.resident_budget_bytes);
  return bytes;
}

std::string JobMemoryPlan::Describe() const {
  std::ostringstream out;
  out << "budget " << FormatBytes(budget_bytes) << ", predicted peak "
      << FormatBytes(predicted_peak_bytes()) << " (minimum budget "
      << FormatBytes(minimum_budget_bytes()) << ", all resident at "
      << FormatBytes(resident_budget_bytes()) << ")\n";
  for (const ComponentMemoryPlan& c : components) {
    out << "  " << PipelineComponentName(c.component) << ": " << c.residency.Describe()
        << "; working " << FormatBytes(c.working_bytes) << ", held " << FormatBytes(c.held_bytes)
        << ", peak " << FormatBytes(c.predicted_peak_bytes()) << "\n";
  }
  return out.str();
}

}  // namespace streamdit::engine
