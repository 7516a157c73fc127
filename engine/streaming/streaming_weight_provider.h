// A WeightProvider that keeps the plan's resident blocks on the device and streams the others
// through a ring of reusable device slots, copying the next blocks (in the expected order) while
// the current one computes. All of its device memory (resident copies and the ring) is allocated
// in the constructor, so a job's weight footprint is fixed before its first step; nothing is
// allocated per step except the compute-dtype conversions of a block stored in another format
// (its small tensors at Acquire, its matmul weights one at a time in ScopedBlock::Linear).
//
// The copies and their ordering against compute are a SlotTransfer's (engine/streaming/
// slot_transfer.h): on the CPU a memcpy worker thread (the "device" is host RAM counted by the
// memory meter); on CUDA a copy stream ordered by events, from pinned host memory when the host
// tier was pinned (engine/streaming/pinned_host_tier.h). The provider only decides which block
// goes into which slot, by one claiming rule shared by prefetching and on-demand copies.
//
// On CUDA the stream current at Acquire and Release must be the one that runs the block's kernels
// (the launch's compute stream): Acquire makes it wait for the block's copy and Release records
// the point after which the slot may be overwritten, so a block's tensors (views of its slot) must
// not be used by work queued after its Release.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "engine/device/execution_target.h"
#include "engine/model/weight_block.h"
#include "engine/streaming/residency_plan.h"
#include "engine/streaming/slot_transfer.h"

namespace streamdit::engine {

class StreamingWeightProvider : public WeightProvider {
 public:
  // Allocates the resident copies and the ring on `target`'s device; copies through
  // MakeSlotTransfer(target, ...).
  StreamingWeightProvider(const ResidencyPlan& plan, const StreamingOptions& options,
                          const ExecutionTarget& target);
  // The same with a given transfer for plan.num_slots slots on the target's device (tests record
  // the provider's calls through a fake one).
  StreamingWeightProvider(const ResidencyPlan& plan, const StreamingOptions& options,
                          const ExecutionTarget& target, std::unique_ptr<SlotTransfer> transfer);
  ~StreamingWeightProvider() override;
  StreamingWeightProvider(const StreamingWeightProvider&) = delete;
  StreamingWeightProvider& operator=(const StreamingWeightProvider&) = delete;

  // The order in which blocks will be acquired, repeated `passes` times (0: without end), for
  // prefetching: nothing is copied ahead past the last pass. Blocks acquired out of this order are
  // still served, just without overlap.
  void SetOrder(const std::vector<const WeightBlock*>& order, int64_t passes) override;

  BlockTensors Acquire(const WeightBlock& block) override;
  void Release(const WeightBlock& block) override;

  // Bytes of the copies into slots started so far, and time compute waited for copies
  // (SlotTransfer::stall_seconds).
  WeightStreamingStats stats() const override;
  int64_t streamed_bytes() const { return stats().streamed_bytes; }
  double stall_seconds() const { return stats().stall_seconds; }

 private:
  // kFree: no block. kCopied: a block's copy was started (it may still be in flight; the transfer
  // orders it before any use), not acquired yet; may be claimed for another block. kInUse:
  // acquired and not yet released; never claimed.
  enum class SlotState { kFree, kCopied, kInUse };
  struct Slot {
    torch::Tensor buffer;  // kByte, plan.slot_bytes, on the device
    const WeightBlock* block = nullptr;
    SlotState state = SlotState::kFree;
  };

  BlockTensors Materialized(const std::vector<StoredTensor>& tensors, const WeightBlock& block);
  std::vector<StoredTensor> SlotViews(const Slot& slot, const WeightBlock& block) const;
  // Requires mu_. The streamed blocks expected after `block` within the prefetch depth, soonest
  // first (none past the last announced pass, nor `block` itself again).
  std::vector<const WeightBlock*> UpcomingLocked(const WeightBlock* block) const;
  // Requires mu_. Starts copies of the upcoming blocks after `block` that no slot holds yet.
  void PrefetchAfterLocked(const WeightBlock* block);
  // Requires mu_. The one slot-claiming rule, for prefetching and for a block needed now alike: a
  // slot not in use, preferring a free one, then one whose block is not in `keep` (soonest first);
  // for a block needed now (`needed_now`) finally the one in `keep` needed last. -1 if none.
  // Claiming never waits on the device: the transfer orders the new copy after the slot's
  // previous copy and its last consumer.
  int ClaimSlotLocked(const std::vector<const WeightBlock*>& keep, bool needed_now) const;
  // Requires mu_. Puts `block` in slot `index` and starts its copy.
  void StartCopyLocked(int index, const WeightBlock& block);

  StreamingOptions options_;
  torch::Device device_;
  std::unordered_map<const WeightBlock*, std::vector<StoredTensor>> resident_;
  std::vector<const WeightBlock*> order_;  // streamed blocks only
  std::unordered_map<const WeightBlock*, std::size_t> order_index_;
  int64_t order_acquisitions_left_ = -1;  // streamed acquisitions still expected; -1: unbounded

  mutable std::mutex mu_;
  std::condition_variable cv_;  // a slot was released
  int64_t streamed_bytes_ = 0;
  std::vector<Slot> slots_;
  // Declared after slots_, so destroyed before the buffers its copies may still write.
  std::unique_ptr<SlotTransfer> transfer_;
};

}  // namespace streamdit::engine
