// A WeightProvider that keeps the plan's resident blocks on the device and streams the others
// through a ring of reusable device slots, copying the next blocks (in the expected order) while
// the current one computes. All of its device memory (resident copies and the ring) is allocated
// in the constructor, so a job's weight footprint is fixed before its first step; nothing is
// allocated per step except the compute-dtype conversions of a block stored in another format
// (its small tensors at Acquire, its matmul weights one at a time in ScopedBlock::Linear).
//
// CPU builds copy on a worker thread with memcpy (the "device" is host RAM counted by the memory
// meter). CUDA builds (later) copy on a side stream from pinned host memory, ordered by events.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "engine/model/weight_block.h"
#include "engine/streaming/residency_plan.h"

namespace streamdit::engine {

class StreamingWeightProvider : public WeightProvider {
 public:
  StreamingWeightProvider(const ResidencyPlan& plan, const StreamingOptions& options,
                          torch::Device device);
  ~StreamingWeightProvider() override;
  StreamingWeightProvider(const StreamingWeightProvider&) = delete;
  StreamingWeightProvider& operator=(const StreamingWeightProvider&) = delete;

  // The order in which blocks will be acquired, repeated `passes` times (0: without end), for
  // prefetching: nothing is copied ahead past the last pass. Blocks acquired out of this order are
  // still served, just without overlap.
  void SetOrder(const std::vector<const WeightBlock*>& order, int64_t passes) override;

  BlockTensors Acquire(const WeightBlock& block) override;
  void Release(const WeightBlock& block) override;

  // Bytes of the copies into slots started so far, and time Acquire spent waiting for copies.
  WeightStreamingStats stats() const override;
  int64_t streamed_bytes() const { return stats().streamed_bytes; }
  double stall_seconds() const { return stats().stall_seconds; }

 private:
  enum class SlotState { kFree, kLoading, kReady, kInUse };
  struct Slot {
    torch::Tensor buffer;  // kByte, plan.slot_bytes
    const WeightBlock* block = nullptr;
    SlotState state = SlotState::kFree;
  };

  BlockTensors Materialized(const std::vector<StoredTensor>& tensors, const WeightBlock& block);
  std::vector<StoredTensor> SlotViews(const Slot& slot, const WeightBlock& block) const;
  // Requires mu_. Starts copies of the blocks following `block` in the order into free slots.
  void PrefetchAfterLocked(const WeightBlock* block);
  // Requires mu_. A slot to copy into: free, else holding an unneeded prefetched block; -1 if none.
  int ClaimSlotLocked(const WeightBlock* avoid_future);
  static void CopyInto(Slot& slot, const WeightBlock& block);
  void WorkerLoop();

  StreamingOptions options_;
  torch::Device device_;
  std::unordered_map<const WeightBlock*, std::vector<StoredTensor>> resident_;
  std::vector<Slot> slots_;
  std::vector<const WeightBlock*> order_;  // streamed blocks only
  std::unordered_map<const WeightBlock*, std::size_t> order_index_;
  int64_t order_acquisitions_left_ = -1;  // streamed acquisitions still expected; -1: unbounded

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<int> copy_queue_;  // slot indices in kLoading state, copied by the worker
  bool stopping_ = false;
  int64_t streamed_bytes_ = 0;
  double stall_seconds_ = 0;
  std::thread worker_;
};

}  // namespace streamdit::engine
