#include "engine/pipeline/png_parameters.h"

#include <sstream>

namespace streamdit::engine {

std::string FormatGenerationParameters(const ResolvedRequest& request,
                                       const std::string& model_name, bool has_guidance,
                                       int batch_index) {
  std::ostringstream text;
  text << request.prompt << "\nSteps: " << request.steps << ", Seed: " << request.seed;
  if (has_guidance) text << ", Guidance: " << request.guidance;
  text << ", Size: " << request.width << "x" << request.height << ", Model: " << model_name;
  // Image i of a batch comes from row i of the seed's noise, not from the seed alone.
  if (request.batch_size > 1) {
    text << ", Batch: " << batch_index + 1 << "/" << request.batch_size;
  }
  return text.str();
}

}  // namespace streamdit::engine
