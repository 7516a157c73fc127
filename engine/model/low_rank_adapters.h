// Low-rank additions to a model's linear layers, applied at run time without touching the layers'
// weights (LoRA: y = W x + b + scale * (up (down x) + up_bias)). The weights a provider hands out
// may be shared by every job on the device (resident) or be a streaming slot reused block after
// block; an adapter never writes them, so jobs with different adapters share one copy.
//
// A delta may apply to some samples of a batch only (a batch mixes requests with different LoRA
// sets): row r of an input with N rows belongs to sample r % batch_samples. This holds for both
// layouts the transformer feeds its linears: the token path ([batch, L, features]: N = batch) and
// the modulation precompute ([steps * batch, features], step-major).
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/model/weight_block.h"

namespace streamdit::engine {

struct LowRankDelta {
  torch::Tensor down;            // [rank, in] in the compute dtype, on the compute device
  torch::Tensor up;              // [rows, rank]
  torch::Tensor up_bias;         // [rows], or undefined
  int64_t row_offset = 0;        // the first output feature it adds to (a slice of a fused layer)
  double scale = 1.0;            // the file's alpha / rank times the request's strength
  std::vector<int64_t> samples;  // the samples it applies to; empty: every row
  int64_t batch_samples = 1;     // the batch's sample count (the row -> sample rule above)
};

// The deltas of one block's linear layers, by module name within the block ("img_attn.qkv").
class BlockAdapters {
 public:
  void Add(const std::string& module, LowRankDelta delta);
  bool empty() const { return deltas_.empty(); }
  bool has(const std::string& module) const { return deltas_.count(module) != 0; }
  // Adds the module's deltas to `y` (its linear's output for `x`) in place. Throws StatusError
  // INTERNAL when a delta does not fit `y` or `x` (a bug: deltas are checked against the model
  // when their file is loaded).
  void Apply(const std::string& module, const torch::Tensor& x, torch::Tensor& y) const;

 private:
  std::unordered_map<std::string, std::vector<LowRankDelta>> deltas_;
};

// Block name -> its adapters, for one component of one job.
using ComponentAdapters = std::unordered_map<std::string, std::shared_ptr<const BlockAdapters>>;

// Hands out the base provider's tensors with the job's adapters attached (BlockTensors::adapters),
// which ScopedBlock::Linear applies. Streaming order, release and statistics are the base's.
class AdaptedWeightProvider : public WeightProvider {
 public:
  AdaptedWeightProvider(std::unique_ptr<WeightProvider> base,
                        std::shared_ptr<const ComponentAdapters> adapters)
      : base_(std::move(base)), adapters_(std::move(adapters)) {}
  BlockTensors Acquire(const WeightBlock& block) override;
  void Release(const WeightBlock& block) override { base_->Release(block); }
  void SetOrder(const std::vector<const WeightBlock*>& order, int64_t passes) override {
    base_->SetOrder(order, passes);
  }
  WeightStreamingStats stats() const override { return base_->stats(); }

 private:
  std::unique_ptr<WeightProvider> base_;
  std::shared_ptr<const ComponentAdapters> adapters_;
};

}  // namespace streamdit::engine
