// The FLUX transformer's weights as weight blocks, under BFL names whatever the file layout.
// Modulation Linears sit in blocks of their own: they read only `vec`, so a request can compute
// every step's modulation in one pass over them (issue: modulation precompute) while the token
// weights stream once per step.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "engine/checkpoint/checkpoint.h"
#include "engine/flux/flux_config.h"
#include "engine/model/weight_block.h"

namespace streamdit::engine {

struct FluxWeights {
  WeightBlock vec_embedders;                   // time_in, vector_in, guidance_in
  WeightBlock input_embedders;                 // img_in, txt_in
  std::vector<WeightBlock> double_modulation;  // img_mod.lin, txt_mod.lin
  std::vector<WeightBlock> double_blocks;      // attention, QK norms, MLPs of both streams
  std::vector<WeightBlock> single_modulation;  // modulation.lin
  std::vector<WeightBlock> single_blocks;      // linear1, linear2, QK norms
  WeightBlock final_modulation;                // adaLN_modulation.1 (shift rows, then scale rows)
  WeightBlock final_layer;                     // linear

  // Every block, modulation next to its block.
  std::vector<const WeightBlock*> AllBlocks() const;
  // The same blocks, for changing how their tensors are held (e.g. ConvertBlocksToFp8).
  std::vector<WeightBlock*> MutableBlocks();
  // The exact order in which the forward pass acquires blocks: computing vec and the modulation
  // (VecAndModulationOrder), then the token path (StepOrder). Streaming prefetches in this order.
  std::vector<const WeightBlock*> VecAndModulationOrder() const;
  std::vector<const WeightBlock*> StepOrder() const;
  std::vector<const WeightBlock*> ForwardOrder() const;
  int64_t nbytes() const;
};

// The blocks that fp8 storage converts: the double/single blocks, their modulation and the final
// layer with its modulation (nearly all bytes). The vec and input embedders stay precise: they are
// small, and every later block reads their output.
std::vector<WeightBlock*> Fp8EligibleBlocks(FluxWeights& weights);

// Groups tensors into blocks; `source(name, shape)` supplies each BFL-named tensor (files, or
// random weights for benchmarks).
using FluxTensorSource =
    std::function<StoredTensor(const std::string& name, const std::vector<int64_t>& shape)>;
FluxWeights AssembleFluxWeights(const FluxConfig& config, const FluxTensorSource& source);

// Loads (zero-copy for the BFL layout; split q/k/v concatenated for the diffusers layout) and
// checks every shape against `config`. Throws CheckpointError naming file and tensor.
FluxWeights LoadFluxWeights(const Checkpoint& checkpoint, const FluxConfig& config);

// The BFL name of every tensor of a FLUX checkpoint with this config, with its shape.
std::vector<std::pair<std::string, std::vector<int64_t>>> FluxTensorShapes(
    const FluxConfig& config);

}  // namespace streamdit::engine
