#include "engine/streaming/residency_plan.h"

#include <algorithm>
#include <set>
#include <sstream>

#include "engine/memory/allocation_bytes.h"
#include "engine/status/status_error.h"

namespace streamdit::engine {

int64_t SlotBytes(const StoredTensor& tensor) { return (tensor.nbytes() + 63) / 64 * 64; }

std::vector<PlannedBlock> DescribeBlocks(const std::vector<const WeightBlock*>& blocks,
                                         const std::vector<bool>& per_step,
                                         torch::ScalarType compute_dtype, torch::Device device) {
  std::vector<PlannedBlock> out;
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    PlannedBlock planned;
    planned.block = blocks[i];
    planned.per_step = i < per_step.size() ? per_step[i] : true;
    // What BlockTensors decodes: the small tensors all at Acquire, the matmul weights one at a
    // time at use (the largest, with its codec's transient bytes).
    int64_t at_acquire = 0;
    int64_t largest_at_use = 0;
    for (const auto& [name, tensor] : blocks[i]->tensors) {
      planned.storage_bytes += SlotBytes(tensor);
      if (!MaterializeCopies(tensor, compute_dtype)) continue;
      // The decoded tensor as the device's allocator counts it, plus what its codec takes besides.
      const int64_t decoded = AllocationBytes(tensor.numel(), compute_dtype, device) +
                              DecodeTransientBytes(tensor, compute_dtype, device);
      if (DecodedAtUse(name, tensor, compute_dtype)) {
        largest_at_use = std::max(largest_at_use, decoded);
      } else {
        at_acquire += decoded;
      }
    }
    planned.compute_bytes = at_acquire + largest_at_use;
    out.push_back(planned);
  }
  return out;
}

namespace {

int64_t ConversionBytes(const std::vector<PlannedBlock>& blocks) {
  int64_t bytes = 0;
  for (const auto& b : blocks) bytes = std::max(bytes, b.compute_bytes);
  return bytes;
}

int RingSlots(const StreamingOptions& options) { return std::max(0, options.prefetch_depth) + 1; }

}  // namespace

int64_t MinimumWeightBytes(const std::vector<PlannedBlock>& blocks,
                           const StreamingOptions& options) {
  int64_t largest = 0;
  for (const auto& b : blocks) largest = std::max(largest, b.storage_bytes);
  return RingSlots(options) * largest + ConversionBytes(blocks);
}

ResidencyPlan PlanResidency(std::vector<PlannedBlock> blocks, int64_t weight_budget,
                            const StreamingOptions& options) {
  const int64_t conversion = ConversionBytes(blocks);
  int64_t total = 0;
  for (const auto& b : blocks) total += b.storage_bytes;

  ResidencyPlan plan;
  plan.conversion_bytes = conversion;
  if (total + conversion <= weight_budget) {  // everything fits: no streaming at all
    for (auto& b : blocks) b.resident = true;
    plan.blocks = std::move(blocks);
    plan.resident_bytes = total;
    return plan;
  }
  const int64_t minimum = MinimumWeightBytes(blocks, options);
  if (weight_budget < minimum) {
    throw ResourceExhausted("weight budget " + std::to_string(weight_budget) +
                            " bytes is below the minimum of " + std::to_string(minimum) +
                            " bytes (streaming ring for the largest block)");
  }
  // Try every possible largest-streamed-block size: blocks above it must be resident; the rest of
  // the budget is filled with the largest per-step blocks that fit. Keep the plan that leaves the
  // most bytes resident (the fewest streamed per step).
  const int slots = RingSlots(options);
  std::set<int64_t> sizes;
  for (const auto& b : blocks) sizes.insert(b.storage_bytes);
  std::vector<std::size_t> by_size(blocks.size());
  for (std::size_t i = 0; i < blocks.size(); ++i) by_size[i] = i;
  std::stable_sort(by_size.begin(), by_size.end(), [&](std::size_t a, std::size_t b) {
    return blocks[a].storage_bytes > blocks[b].storage_bytes;
  });

  int64_t best_resident = -1;
  std::vector<bool> best;
  for (int64_t largest_streamed : sizes) {
    int64_t left = weight_budget - conversion - slots * largest_streamed;
    std::vector<bool> resident(blocks.size(), false);
    for (std::size_t i : by_size) {
      if (blocks[i].storage_bytes > largest_streamed) {
        resident[i] = true;
        left -= blocks[i].storage_bytes;
      }
    }
    if (left < 0) continue;
    int64_t per_step_resident = 0;
    for (std::size_t i : by_size) {
      if (resident[i]) {
        if (blocks[i].per_step) per_step_resident += blocks[i].storage_bytes;
        continue;
      }
      if (blocks[i].per_step && blocks[i].storage_bytes <= left) {
        resident[i] = true;
        left -= blocks[i].storage_bytes;
        per_step_resident += blocks[i].storage_bytes;
      }
    }
    if (per_step_resident > best_resident) {
      best_resident = per_step_resident;
      best = resident;
    }
  }
  plan.num_slots = slots;
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    blocks[i].resident = best[i];
    if (best[i]) {
      plan.resident_bytes += blocks[i].storage_bytes;
    } else {
      plan.slot_bytes = std::max(plan.slot_bytes, blocks[i].storage_bytes);
    }
  }
  plan.blocks = std::move(blocks);
  return plan;
}

int64_t ResidencyPlan::streamed_bytes_per_step() const {
  int64_t bytes = 0;
  for (const auto& b : blocks) {
    if (b.per_step && !b.resident) bytes += b.storage_bytes;
  }
  return bytes;
}

int64_t ResidencyPlan::streamed_bytes_per_request() const {
  int64_t bytes = 0;
  for (const auto& b : blocks) {
    if (!b.per_step && !b.resident) bytes += b.storage_bytes;
  }
  return bytes;
}

int ResidencyPlan::resident_count() const {
  int count = 0;
  for (const auto& b : blocks) count += b.resident ? 1 : 0;
  return count;
}

std::string ResidencyPlan::Describe() const {
  std::ostringstream out;
  out << resident_count() << "/" << blocks.size() << " blocks resident (" << resident_bytes
      << " bytes), ring " << num_slots << " x " << slot_bytes << " bytes, conversion "
      << conversion_bytes << " bytes, streamed per step " << streamed_bytes_per_step()
      << " bytes, per request " << streamed_bytes_per_request() << " bytes";
  return out.str();
}

}  // namespace streamdit::engine
