#include "engine/pipeline/generation_request.h"

#include <cmath>
#include <sstream>

#include "engine/lora/lora_adapter.h"
#include "engine/status/status_error.h"

namespace streamdit::engine {
namespace {

void CheckSize(const char* field, const std::optional<int>& value, const GenerationLimits& limits) {
  if (!value) return;
  if (*value < limits.min_size || *value > limits.max_size || *value % limits.size_multiple != 0) {
    throw InvalidArgument(std::string(field) + " must be a multiple of " +
                          std::to_string(limits.size_multiple) + " in [" +
                          std::to_string(limits.min_size) + ", " + std::to_string(limits.max_size) +
                          "], got " + std::to_string(*value));
  }
}

// Every request of a batch must agree with the first on `field`.
void CheckSame(const char* field, const std::vector<ResolvedRequest>& batch,
               int ResolvedRequest::*member) {
  for (std::size_t i = 1; i < batch.size(); ++i) {
    if (batch[i].*member != batch[0].*member) {
      throw InvalidArgument(std::string(field) +
                            " must be the same for every request of a batch: requests[0] has " +
                            std::to_string(batch[0].*member) + ", requests[" + std::to_string(i) +
                            "] has " + std::to_string(batch[i].*member));
    }
  }
}

void ValidateLoras(const std::vector<LoraUse>& loras, const GenerationLimits& limits) {
  if (static_cast<int64_t>(loras.size()) > limits.max_loras) {
    throw InvalidArgument("loras must number at most " + std::to_string(limits.max_loras) +
                          ", got " + std::to_string(loras.size()));
  }
  for (std::size_t i = 0; i < loras.size(); ++i) {
    const std::string field = "loras[" + std::to_string(i) + "]";
    if (!loras[i].adapter) throw InvalidArgument(field + " names no adapter");
    const double strength = loras[i].strength;
    if (!std::isfinite(strength) || std::abs(strength) > limits.max_lora_strength) {
      std::ostringstream message;
      message << field << ".strength must be in [" << -limits.max_lora_strength << ", "
              << limits.max_lora_strength << "], got " << strength;
      throw InvalidArgument(message.str());
    }
    for (std::size_t j = 0; j < i; ++j) {
      if (loras[j].adapter == loras[i].adapter) {
        throw InvalidArgument(field + ": '" + loras[i].adapter->name() +
                              "' is already in the request as loras[" + std::to_string(j) + "]");
      }
    }
  }
}

}  // namespace

uint64_t ImageSeed(uint64_t seed, int index) { return seed + static_cast<uint64_t>(index); }

void ValidateGenerationRequest(const GenerationRequest& request, const GenerationLimits& limits) {
  CheckSize("width", request.width, limits);
  CheckSize("height", request.height, limits);
  if (request.steps && (*request.steps < limits.min_steps || *request.steps > limits.max_steps)) {
    throw InvalidArgument("steps must be in [" + std::to_string(limits.min_steps) + ", " +
                          std::to_string(limits.max_steps) + "], got " +
                          std::to_string(*request.steps));
  }
  if (request.guidance &&
      (!std::isfinite(*request.guidance) || *request.guidance < limits.min_guidance ||
       *request.guidance > limits.max_guidance)) {
    std::ostringstream message;
    message << "guidance must be in [" << limits.min_guidance << ", " << limits.max_guidance
            << "], got " << *request.guidance;
    throw InvalidArgument(message.str());
  }
  if (request.batch_size < 1 || request.batch_size > limits.max_batch_size) {
    throw InvalidArgument("batch_size must be in [1, " + std::to_string(limits.max_batch_size) +
                          "], got " + std::to_string(request.batch_size));
  }
  if (request.prompt.size() > limits.max_prompt_bytes) {
    throw InvalidArgument("prompt must be at most " + std::to_string(limits.max_prompt_bytes) +
                          " bytes, got " + std::to_string(request.prompt.size()));
  }
  ValidateLoras(request.loras, limits);
}

ResolvedRequest ResolveGenerationRequest(const GenerationRequest& request,
                                         const FluxSamplingDefaults& defaults,
                                         const GenerationLimits& limits) {
  ValidateGenerationRequest(request, limits);
  ResolvedRequest resolved;
  resolved.prompt = request.prompt;
  resolved.width = request.width.value_or(defaults.width);
  resolved.height = request.height.value_or(defaults.height);
  resolved.steps = request.steps.value_or(defaults.num_steps);
  resolved.guidance = request.guidance.value_or(defaults.guidance);
  resolved.seed = request.seed;
  resolved.batch_size = request.batch_size;
  resolved.loras = request.loras;
  for (int i = 0; i < request.batch_size; ++i) {
    resolved.image_seeds.push_back(ImageSeed(request.seed, i));
  }
  // Defaults are validated too: a family default outside the limits (say a server configured
  // with max_size 512 and a 1024 default) must fail as clearly as a request would.
  GenerationRequest filled = request;
  filled.width = resolved.width;
  filled.height = resolved.height;
  filled.steps = resolved.steps;
  ValidateGenerationRequest(filled, limits);
  return resolved;
}

std::vector<ResolvedRequest> ResolveGenerationBatch(const std::vector<GenerationRequest>& requests,
                                                    const FluxSamplingDefaults& defaults,
                                                    const GenerationLimits& limits) {
  if (requests.empty()) throw InvalidArgument("requests: a batch needs at least one request");
  std::vector<ResolvedRequest> batch;
  for (std::size_t i = 0; i < requests.size(); ++i) {
    if (requests.size() == 1) {
      batch.push_back(ResolveGenerationRequest(requests[i], defaults, limits));
      continue;
    }
    try {
      batch.push_back(ResolveGenerationRequest(requests[i], defaults, limits));
    } catch (const StatusError& error) {
      throw StatusError(absl::Status(
          error.code(), "requests[" + std::to_string(i) + "]: " + std::string(error.what())));
    }
  }
  CheckSame("width", batch, &ResolvedRequest::width);
  CheckSame("height", batch, &ResolvedRequest::height);
  CheckSame("steps", batch, &ResolvedRequest::steps);
  int images = 0;
  for (const ResolvedRequest& request : batch) images += request.batch_size;
  if (images > limits.max_batch_images) {
    throw InvalidArgument(
        "a batch's images must number at most " + std::to_string(limits.max_batch_images) +
        ", got " + std::to_string(images) + " from " + std::to_string(batch.size()) + " requests");
  }
  return batch;
}

}  // namespace streamdit::engine
