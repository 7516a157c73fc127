#include "engine/pipeline/generation_request.h"

#include <cmath>
#include <sstream>
#include <stdexcept>

namespace streamdit::engine {
namespace {

void CheckSize(const char* field, const std::optional<int>& value, const GenerationLimits& limits) {
  if (!value) return;
  if (*value < limits.min_size || *value > limits.max_size || *value % limits.size_multiple != 0) {
    throw std::invalid_argument(
        std::string(field) + " must be a multiple of " + std::to_string(limits.size_multiple) +
        " in [" + std::to_string(limits.min_size) + ", " + std::to_string(limits.max_size) +
        "], got " + std::to_string(*value));
  }
}

}  // namespace

void ValidateGenerationRequest(const GenerationRequest& request, const GenerationLimits& limits) {
  CheckSize("width", request.width, limits);
  CheckSize("height", request.height, limits);
  if (request.steps && (*request.steps < limits.min_steps || *request.steps > limits.max_steps)) {
    throw std::invalid_argument("steps must be in [" + std::to_string(limits.min_steps) + ", " +
                                std::to_string(limits.max_steps) + "], got " +
                                std::to_string(*request.steps));
  }
  if (request.guidance &&
      (!std::isfinite(*request.guidance) || *request.guidance < limits.min_guidance ||
       *request.guidance > limits.max_guidance)) {
    std::ostringstream message;
    message << "guidance must be in [" << limits.min_guidance << ", " << limits.max_guidance
            << "], got " << *request.guidance;
    throw std::invalid_argument(message.str());
  }
  if (request.batch_size < 1 || request.batch_size > limits.max_batch_size) {
    throw std::invalid_argument("batch_size must be in [1, " +
                                std::to_string(limits.max_batch_size) + "], got " +
                                std::to_string(request.batch_size));
  }
  if (request.prompt.size() > limits.max_prompt_bytes) {
    throw std::invalid_argument("prompt must be at most " +
                                std::to_string(limits.max_prompt_bytes) + " bytes, got " +
                                std::to_string(request.prompt.size()));
  }
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
  // Defaults are validated too: a family default outside the limits (say a server configured
  // with max_size 512 and a 1024 default) must fail as clearly as a request would.
  GenerationRequest filled = request;
  filled.width = resolved.width;
  filled.height = resolved.height;
  filled.steps = resolved.steps;
  ValidateGenerationRequest(filled, limits);
  return resolved;
}

}  // namespace streamdit::engine
