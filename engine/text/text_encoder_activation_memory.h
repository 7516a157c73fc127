// Predicted activation bytes of the text encoders (T5 and CLIP) from shapes alone, following
// their forward passes (t5_encoder.cc, clip_text_encoder.cc) tensor by tensor, like the FLUX
// model in engine/flux/flux_activation_memory.h. Tests hold them against measured peaks.
#pragma once

#include <torch/types.h>

#include <cstdint>

#include "engine/text/clip_text_encoder.h"
#include "engine/text/t5_encoder.h"

namespace streamdit::engine {

// The most bytes T5Encoder::Forward allocates at once for `batch` x `tokens` ids (automatic
// query chunking), its output included.
int64_t T5ActivationBytes(const T5EncoderConfig& config, int64_t batch, int64_t tokens,
                          torch::ScalarType compute);

// The same for ClipTextEncoder::Forward (hidden states and pooled output included).
int64_t ClipActivationBytes(const ClipTextConfig& config, int64_t batch, int64_t tokens,
                            torch::ScalarType compute);

}  // namespace streamdit::engine
