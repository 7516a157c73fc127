// Holds one weight block's compute-ready tensors for the duration of a scope: the constructor
// acquires the block from its provider, the destructor releases it. Every model computes a block
// through one of these, so the release policy is the same everywhere:
//
//   The block is released on every path out of the scope: the normal one and unwinding from an
//   exception thrown by the computation (a failed or cancelled job must not keep a streaming
//   slot). Release happens in the destructor, so WeightProvider::Release must not throw (it only
//   hands a slot back); a Release that throws terminates the process as a broken invariant.
//
// Blocks are released in reverse order of acquisition when scopes nest.
#pragma once

#include <torch/types.h>

#include <string>

#include "engine/model/weight_block.h"

namespace streamdit::engine {

class ScopedBlock {
 public:
  ScopedBlock(WeightProvider& provider, const WeightBlock& block)
      : provider_(provider), block_(block), tensors_(provider.Acquire(block)) {}
  ~ScopedBlock() { provider_.Release(block_); }
  ScopedBlock(const ScopedBlock&) = delete;
  ScopedBlock& operator=(const ScopedBlock&) = delete;

  // Throws StatusError INTERNAL naming the tensor when the block has none of that name. A tensor
  // decoded at use (BlockTensors) is decoded by each call.
  torch::Tensor operator[](const std::string& name) const { return tensors_[name]; }
  bool has(const std::string& name) const { return tensors_.has(name); }
  const BlockTensors& tensors() const { return tensors_; }

  // x @ `module`.weight^T (+ `module`.bias when the block has one): a linear layer of the block,
  // plus the job's low-rank deltas of `module` when it has any (BlockTensors::adapters). A weight
  // in a stored format (GGUF blocks, fp8, bf16 for f32 compute) is decoded here, right before its
  // matmul, and freed right after: one layer's decoded weight exists at a time.
  torch::Tensor Linear(const torch::Tensor& x, const std::string& module) const;

 private:
  WeightProvider& provider_;
  const WeightBlock& block_;
  BlockTensors tensors_;
};

}  // namespace streamdit::engine
