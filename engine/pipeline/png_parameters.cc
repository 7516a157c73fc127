#include "engine/pipeline/png_parameters.h"

#include <sstream>

namespace streamdit::engine {

std::string FormatGenerationParameters(const ResolvedRequest& request,
                                       const std::string& model_name, bool has_guidance,
                                       int image_index) {
  std::ostringstream text;
  text << request.prompt << "\nSteps: " << request.steps
       << ", Seed: " << ImageSeed(request.seed, image_index);
  if (has_guidance) text << ", Guidance: " << request.guidance;
  text << ", Size: " << request.width << "x" << request.height << ", Model: " << model_name;
  return text.str();
}

}  // namespace streamdit::engine
