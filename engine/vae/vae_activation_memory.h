// Predicted activation bytes of the VAE decoder from shapes alone, following vae_decoder.cc and
// vae_layers.cc tensor by tensor (like engine/flux/flux_activation_memory.h). Tests hold it
// against measured peaks.
#pragma once

#include <torch/types.h>

#include <cstdint>

#include "engine/vae/vae_config.h"
#include "engine/vae/vae_tiling.h"

namespace streamdit::engine {

// The most bytes VaeDecoder::Decode allocates at once for one latent of `height` x `width`
// latent pixels (its float32 output included).
int64_t VaeDecodeActivationBytes(const VaeDecoderConfig& config, int64_t height, int64_t width,
                                 torch::ScalarType compute, int64_t attention_query_chunk = 1024);

// The same for VaeDecoder::DecodeTiled (a latent larger than a tile decodes tile by tile into a
// full-size float32 image).
int64_t VaeDecodeTiledActivationBytes(const VaeDecoderConfig& config, int64_t height, int64_t width,
                                      torch::ScalarType compute, const TileOptions& tiles,
                                      int64_t attention_query_chunk = 1024);

}  // namespace streamdit::engine
