// One FLUX transformer forward pass from tensors in a safetensors file to a safetensors file: the
// interface of `streamdit debug flux-forward`, on which reference comparisons (tests/reference/)
// and GPU checks rely. Keep the tensor names stable.
//   inputs: img [B,L,in], img_ids [B,L,3], txt [B,T,ctx], txt_ids [B,T,3], timesteps [B],
//           y [B,vec], and guidance [B] for models with guidance; F32 or F64
//   output: pred [B,L,out] F32
#pragma once

#include <torch/types.h>

#include <string>

#include "engine/flux/flux_config.h"

namespace streamdit::engine {

struct FluxForwardFiles {
  std::string model;   // transformer .safetensors
  std::string inputs;  // the input tensors above
  std::string out;     // written (replaced) with `pred`
  torch::ScalarType compute = torch::kFloat;
  RopeOverrides rope;  // when the checkpoint's metadata lacks RoPE axes/theta, or to override them
};

// Throws CheckpointError naming the file (NOT_FOUND, DATA_LOSS: an unreadable or malformed model
// or inputs file), INVALID_ARGUMENT naming the tensor (a missing, misshapen or non-float input).
void RunFluxForwardFiles(const FluxForwardFiles& files);

}  // namespace streamdit::engine
