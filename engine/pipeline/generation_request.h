// A text-to-image request as the pipeline (and the gRPC server) receives it, its limits, and its
// validation. Unset optional fields take the model family's defaults (flux_defaults.h), so a
// request can be checked before it reaches a worker and the same checks serve CLI and server.
// Every validation failure is a StatusError with code INVALID_ARGUMENT (engine/status).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/sampling/flux_defaults.h"

namespace streamdit::engine {

class LoraAdapter;  // engine/lora/lora_adapter.h

// A LoRA applied to a request: y = W x + b + strength * (alpha / rank) * up(down(x)) on every
// layer the adapter targets, at run time (the shared weights are never modified).
struct LoraUse {
  std::shared_ptr<const LoraAdapter> adapter;
  double strength = 1.0;
};

struct GenerationRequest {
  std::string prompt;         // may be empty; longer than the encoders' token limits is truncated
  std::optional<int> width;   // pixels; default: the family's
  std::optional<int> height;  // pixels; default: the family's
  std::optional<int> steps;   // denoising steps; default: the family's
  // Distilled guidance for models with guidance_in (dev); ignored by models without (schnell).
  std::optional<double> guidance;
  // Image i is drawn from seed + i (the public API's consecutive seeds): each image's noise comes
  // from its own seed alone, so image i is exactly the one-image request with seed + i. Only the
  // low 32 bits select the noise (PyTorch's CPU generator, as in BFL; sampling/noise.h).
  uint64_t seed = 0;
  int batch_size = 1;  // images of this request
  // Adapters for this request's images alone; a batch may mix requests with different sets.
  std::vector<LoraUse> loras;
};

// Bounds a request must respect. Width and height must be multiples of 16 (one latent patch of
// FLUX is 16x16 pixels), so the image is exactly what was asked for.
struct GenerationLimits {
  int min_size = 64;
  int max_size = 2048;
  int size_multiple = 16;
  int min_steps = 1;
  int max_steps = 100;
  double min_guidance = 0.0;
  double max_guidance = 100.0;
  int max_batch_size = 4;     // images of one request
  int max_batch_images = 16;  // images of one batch of requests (FluxPipeline::GenerateBatch)
  std::size_t max_prompt_bytes = 64 * 1024;
  int max_loras = 8;                // adapters of one request
  double max_lora_strength = 10.0;  // |strength|
};

// The request with every default applied.
struct ResolvedRequest {
  std::string prompt;
  int width = 0;
  int height = 0;
  int steps = 0;
  double guidance = 0.0;
  uint64_t seed = 0;  // the request's seed: the first image's
  int batch_size = 1;
  std::vector<uint64_t> image_seeds;  // batch_size entries: seed + i (wrapping at 2^64)
  std::vector<LoraUse> loras;
};

// The seed of image `index` of a request with `seed`: seed + index.
uint64_t ImageSeed(uint64_t seed, int index);

// Throws InvalidArgument naming the field, its limit and the value, e.g.
// "width must be a multiple of 16 in [64, 2048], got 100". Checks only what the request sets.
void ValidateGenerationRequest(const GenerationRequest& request,
                               const GenerationLimits& limits = {});

// Validates, then fills unset fields from `defaults`.
ResolvedRequest ResolveGenerationRequest(const GenerationRequest& request,
                                         const FluxSamplingDefaults& defaults,
                                         const GenerationLimits& limits = {});

// Resolves every request of a batch (one transformer pass over all their images). Each request
// is validated alone (its error is prefixed "requests[i]: " when the batch has several); then
// the batch must be non-empty, its requests must agree on width, height and steps after defaults
// ("height must be the same for every request of a batch: requests[0] has 64, requests[2] has
// 96"), and its images must number at most limits.max_batch_images. All InvalidArgument.
std::vector<ResolvedRequest> ResolveGenerationBatch(const std::vector<GenerationRequest>& requests,
                                                    const FluxSamplingDefaults& defaults,
                                                    const GenerationLimits& limits = {});

}  // namespace streamdit::engine
