// The text stored under the PNG "parameters" keyword: the prompt on the first line, then the
// settings in the AUTOMATIC1111 style that image viewers and web UIs display, e.g.
//   a red fox
//   Steps: 4, Seed: 42, Guidance: 3.5, Size: 512x512, Model: flux1-demo
#pragma once

#include <string>

#include "engine/pipeline/generation_request.h"

namespace streamdit::engine {

// `has_guidance`: whether the model reads guidance (dev); schnell ignores it, so it is left out.
// `image_index`: which of the request's batch_size images this is; the text states that image's
// own seed (request.seed + image_index), which alone reproduces it as a one-image request.
std::string FormatGenerationParameters(const ResolvedRequest& request,
                                       const std::string& model_name, bool has_guidance,
                                       int image_index = 0);

}  // namespace streamdit::engine
