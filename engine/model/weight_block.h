// Every model (FLUX transformer, T5, CLIP, VAE decoder) is a sequence of weight blocks executed in
// order. A block's weights live in the host tier as StoredTensors; before the block computes, a
// WeightProvider hands out its tensors in the compute dtype on the compute device. The provider is
// the seam where residency and streaming plug in (engine/streaming/): the models never know
// whether a block was resident or just copied into a slot.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "engine/checkpoint/checkpoint.h"
#include "engine/tensor/stored_tensor.h"

namespace streamdit::engine {

class BlockAdapters;  // engine/model/low_rank_adapters.h

struct WeightBlock {
  std::string name;  // e.g. "double_blocks.3"; unique within a model
  // Tensor names relative to the block (e.g. "img_attn.qkv.weight") with their host copies.
  std::vector<std::pair<std::string, StoredTensor>> tensors;

  int64_t nbytes() const;
  // Adds `checkpoint[prefix + name]` (zero-copy view) under `name`; checks the shape when given.
  void AddFrom(const Checkpoint& checkpoint, const std::string& prefix, const std::string& name,
               const std::vector<int64_t>& shape = {});
  void Add(const std::string& name, StoredTensor tensor);
};

// Whether a tensor that must be decoded or converted for compute is decoded at use, layer by layer
// (ScopedBlock::Linear), rather than when its block is acquired: the matmul weights ("*.weight",
// 2-D, not an embedding table). Only one of them is then decoded at a time, so a block costs its
// largest layer's decode, not all of its layers' (DescribeBlocks plans exactly that).
bool DecodedAtUse(const std::string& name, const StoredTensor& tensor, torch::ScalarType compute);

// Embedding tables are 2-D "*.weight" tensors too (T5 "shared", CLIP "token_embedding", T5's
// relative attention bias), but they are read as tables, not multiplied.
bool IsEmbeddingTable(const std::string& name);

// The compute-ready tensors of one block; the matmul weights in a stored format other than the
// compute dtype stay stored views (slot or resident copy) until their layer runs.
class BlockTensors {
 public:
  BlockTensors() = default;
  explicit BlockTensors(std::unordered_map<std::string, torch::Tensor> tensors)
      : tensors_(std::move(tensors)) {}
  // Materializes every tensor of `stored` (names with their stored views) that is not
  // DecodedAtUse; keeps the others to decode at each use.
  BlockTensors(const std::vector<std::pair<std::string, StoredTensor>>& stored,
               torch::ScalarType compute, torch::Device device);
  // Tensors already in the compute dtype on `device`, and stored ones (on `device` too) to decode
  // at each use: a resident copy held in its stored format (engine/pipeline/resident_format.h).
  BlockTensors(std::unordered_map<std::string, torch::Tensor> ready,
               std::unordered_map<std::string, StoredTensor> deferred, torch::ScalarType compute,
               torch::Device device)
      : tensors_(std::move(ready)),
        deferred_(std::move(deferred)),
        compute_(compute),
        device_(device) {}
  // The tensor in the compute dtype: a tensor decoded at use is decoded by this call (a new
  // tensor each time, freed with the caller's last reference). Throws StatusError INTERNAL naming
  // the tensor when absent: a model asking for a tensor its block was not built with is a bug of
  // the engine, not of the request.
  torch::Tensor operator[](const std::string& name) const;
  bool has(const std::string& name) const {
    return tensors_.count(name) != 0 || deferred_.count(name) != 0;
  }

  // The job's low-rank additions to this block's linear layers (LoRA), applied by
  // ScopedBlock::Linear; null when the job has none for this block.
  const std::shared_ptr<const BlockAdapters>& adapters() const { return adapters_; }
  void set_adapters(std::shared_ptr<const BlockAdapters> adapters) {
    adapters_ = std::move(adapters);
  }

 private:
  std::unordered_map<std::string, torch::Tensor> tensors_;
  std::unordered_map<std::string, StoredTensor> deferred_;  // decoded at use
  torch::ScalarType compute_ = torch::kFloat;
  torch::Device device_ = torch::kCPU;
  std::shared_ptr<const BlockAdapters> adapters_;
};

// What a provider that copies blocks onto the device did so far (zero for one that does not).
struct WeightStreamingStats {
  int64_t streamed_bytes = 0;  // bytes of the block copies started
  double stall_seconds = 0;    // time Acquire spent waiting for a copy to finish
};

// Hands out a block's tensors for the duration of its computation. Callers hold a block through
// ScopedBlock (engine/model/scoped_block.h), which releases it on every exit.
class WeightProvider {
 public:
  virtual ~WeightProvider() = default;
  virtual BlockTensors Acquire(const WeightBlock& block) = 0;
  // Called when the block's computation is finished; its tensors may be reused afterwards.
  virtual void Release(const WeightBlock& block) { (void)block; }
  // The order in which blocks will be acquired, repeated `passes` times (0: without end), so that
  // a streaming provider can copy ahead. A hint: blocks acquired out of order are still served.
  // Providers that do not prefetch ignore it.
  virtual void SetOrder(const std::vector<const WeightBlock*>& order, int64_t passes) {
    (void)order;
    (void)passes;
  }
  virtual WeightStreamingStats stats() const { return {}; }
};

// Materializes every block from the host tier at each Acquire (no residency management): the
// reference behaviour that streaming must reproduce bit for bit.
class DirectWeightProvider : public WeightProvider {
 public:
  DirectWeightProvider(torch::ScalarType compute_dtype, torch::Device device)
      : compute_dtype_(compute_dtype), device_(device) {}
  BlockTensors Acquire(const WeightBlock& block) override;

 private:
  torch::ScalarType compute_dtype_;
  torch::Device device_;
};

}  // namespace streamdit::engine
