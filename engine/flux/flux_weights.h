// The FLUX transformer's weights as weight blocks, under BFL names whatever the file layout.
// Modulation Linears sit in blocks of their own: they read only `vec`, so a request can compute
// every step's modulation in one pass over them (issue: modulation precompute) while the token
// weights stream once per step.
#pragma once

#include <string>
#include <vector>

#include "engine/checkpoint/checkpoint.h"
#include "engine/flux/flux_config.h"
#include "engine/model/weight_block.h"

namespace streamdit {

struct FluxWeights {
  WeightBlock vec_embedders;                   // time_in, vector_in, guidance_in
  WeightBlock input_embedders;                 // img_in, txt_in
  std::vector<WeightBlock> double_modulation;  // img_mod.lin, txt_mod.lin
  std::vector<WeightBlock> double_blocks;      // attention, QK norms, MLPs of both streams
  std::vector<WeightBlock> single_modulation;  // modulation.lin
  std::vector<WeightBlock> single_blocks;      // linear1, linear2, QK norms
  WeightBlock final_modulation;                // adaLN_modulation.1 (shift rows, then scale rows)
  WeightBlock final_layer;                     // linear

  // Every block, in the order a plain forward pass first uses them.
  std::vector<const WeightBlock*> AllBlocks() const;
  int64_t nbytes() const;
};

// Loads (zero-copy for the BFL layout; split q/k/v concatenated for the diffusers layout) and
// checks every shape against `config`. Throws CheckpointError naming file and tensor.
FluxWeights LoadFluxWeights(const Checkpoint& checkpoint, const FluxConfig& config);

// The BFL name of every tensor of a FLUX checkpoint with this config, with its shape.
std::vector<std::pair<std::string, std::vector<int64_t>>> FluxTensorShapes(
    const FluxConfig& config);

}  // namespace streamdit
