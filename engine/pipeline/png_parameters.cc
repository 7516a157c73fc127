#include "engine/pipeline/png_parameters.h"

#include <sstream>

#include "engine/lora/lora_adapter.h"

namespace streamdit::engine {

std::string FormatGenerationParameters(const ResolvedRequest& request,
                                       const std::string& model_name, bool has_guidance,
                                       int image_index) {
  std::ostringstream text;
  text << request.prompt << "\nSteps: " << request.steps
       << ", Seed: " << ImageSeed(request.seed, image_index);
  if (has_guidance) text << ", Guidance: " << request.guidance;
  text << ", Size: " << request.width << "x" << request.height << ", Model: " << model_name;
  // As A1111-style tools record them: "Lora: style:0.8, detail:1".
  for (std::size_t i = 0; i < request.loras.size(); ++i) {
    const LoraUse& use = request.loras[i];
    text << (i == 0 ? ", Lora: " : ", ") << (use.adapter ? use.adapter->name() : "?") << ":"
         << use.strength;
  }
  return text.str();
}

}  // namespace streamdit::engine
