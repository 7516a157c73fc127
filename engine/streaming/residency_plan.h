// Which weight blocks stay resident on the device and which stream through a ring of slots, given
// a byte budget for weights. The plan is made once per job (never per step) and fills the budget:
// it keeps as many bytes resident as fit after reserving the streaming window.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "engine/model/weight_block.h"

namespace streamdit::engine {

struct StreamingOptions {
  // Blocks copied ahead of the one computing (0 = copy on demand, no overlap).
  int prefetch_depth = 1;
  torch::ScalarType compute_dtype = torch::kFloat;
};

struct PlannedBlock {
  const WeightBlock* block = nullptr;
  int64_t storage_bytes = 0;  // bytes as stored (what a copy moves), 64-byte aligned per tensor
  // Counted bytes its decode to the compute dtype takes at most while it computes: its small
  // tensors, plus its largest matmul weight decoded at use with the codec's transient bytes
  // (BlockTensors, DecodeTransientBytes); 0 when everything is already in the compute dtype.
  int64_t compute_bytes = 0;
  bool per_step = true;  // used every step; false for once-per-request blocks (modulation)
  bool resident = false;
};

struct ResidencyPlan {
  std::vector<PlannedBlock> blocks;  // in the order given
  int num_slots = 0;                 // streaming ring size (0 when everything is resident)
  int64_t slot_bytes = 0;            // one slot: the largest streamed block
  // Decodes made at use when a block's stored format differs from the compute dtype (the largest
  // block's compute_bytes; 0 when no conversion is needed).
  int64_t conversion_bytes = 0;
  int64_t resident_bytes = 0;

  // Device bytes the weights take at most: resident + ring + conversion.
  int64_t weight_bytes() const {
    return resident_bytes + num_slots * slot_bytes + conversion_bytes;
  }
  // Bytes copied per pass over the per-step blocks (one denoising step).
  int64_t streamed_bytes_per_step() const;
  // Bytes copied once per request (blocks not used every step, and not resident).
  int64_t streamed_bytes_per_request() const;
  int resident_count() const;
  std::string Describe() const;
};

// Bytes a tensor takes inside a slot (64-byte aligned).
int64_t SlotBytes(const StoredTensor& tensor);
// Describes the blocks (sizes, per-step flags) without deciding residency.
std::vector<PlannedBlock> DescribeBlocks(const std::vector<const WeightBlock*>& blocks,
                                         const std::vector<bool>& per_step,
                                         torch::ScalarType compute_dtype, torch::Device device);
// The least weight bytes any plan needs: the ring for the largest block plus its conversion.
int64_t MinimumWeightBytes(const std::vector<PlannedBlock>& blocks,
                           const StreamingOptions& options);
// Throws StatusError RESOURCE_EXHAUSTED naming the minimum when `weight_budget` is below it.
ResidencyPlan PlanResidency(std::vector<PlannedBlock> blocks, int64_t weight_budget,
                            const StreamingOptions& options);

}  // namespace streamdit::engine
