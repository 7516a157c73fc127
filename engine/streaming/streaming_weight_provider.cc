#include "engine/streaming/streaming_weight_provider.h"

#include <algorithm>

#include "engine/status/status_error.h"

namespace streamdit::engine {

StreamingWeightProvider::StreamingWeightProvider(const ResidencyPlan& plan,
                                                 const StreamingOptions& options,
                                                 const ExecutionTarget& target)
    : StreamingWeightProvider(
          plan, options, target,
          MakeSlotTransfer(target, plan.num_slots, /*background=*/options.prefetch_depth > 0)) {}

StreamingWeightProvider::StreamingWeightProvider(const ResidencyPlan& plan,
                                                 const StreamingOptions& options,
                                                 const ExecutionTarget& target,
                                                 std::unique_ptr<SlotTransfer> transfer)
    : options_(options), device_(target.device), transfer_(std::move(transfer)) {
  if (!transfer_) throw Internal("StreamingWeightProvider: no slot transfer");
  for (const PlannedBlock& planned : plan.blocks) {
    if (!planned.resident) continue;
    std::vector<StoredTensor> copies;
    for (const auto& [name, stored] : planned.block->tensors) {
      StoredTensor copy = stored;
      copy.data = stored.data.to(device_, /*non_blocking=*/false, /*copy=*/true);
      copies.push_back(std::move(copy));
    }
    resident_.emplace(planned.block, std::move(copies));
  }
  slots_.resize(plan.num_slots);
  for (Slot& slot : slots_) {
    slot.buffer =
        torch::empty({plan.slot_bytes}, torch::TensorOptions().dtype(torch::kByte).device(device_));
  }
}

StreamingWeightProvider::~StreamingWeightProvider() = default;

void StreamingWeightProvider::SetOrder(const std::vector<const WeightBlock*>& order,
                                       int64_t passes) {
  std::lock_guard<std::mutex> lock(mu_);
  order_.clear();
  order_index_.clear();
  for (const WeightBlock* block : order) {
    if (resident_.count(block)) continue;
    order_index_[block] = order_.size();
    order_.push_back(block);
  }
  order_acquisitions_left_ = passes > 0 ? passes * static_cast<int64_t>(order_.size()) : -1;
}

std::vector<StoredTensor> StreamingWeightProvider::SlotViews(const Slot& slot,
                                                             const WeightBlock& block) const {
  // Views of the slot's own storage (not raw pointers), at the offsets the copy used.
  std::vector<StoredTensor> views;
  const std::vector<int64_t> offsets = SlotLayout(block);
  for (std::size_t i = 0; i < block.tensors.size(); ++i) {
    const StoredTensor& stored = block.tensors[i].second;
    StoredTensor view = stored;
    view.data = slot.buffer.narrow(0, offsets[i], stored.nbytes())
                    .view(stored.data.scalar_type())
                    .view(stored.data.sizes());
    views.push_back(std::move(view));
  }
  return views;
}

BlockTensors StreamingWeightProvider::Materialized(const std::vector<StoredTensor>& tensors,
                                                   const WeightBlock& block) {
  std::vector<std::pair<std::string, StoredTensor>> named;
  named.reserve(tensors.size());
  for (std::size_t i = 0; i < tensors.size(); ++i)
    named.emplace_back(block.tensors[i].first, tensors[i]);
  // Matmul weights stay views of the slot (or resident copy) and are decoded layer by layer; the
  // slot stays in use until Release, so the views remain valid while the block computes.
  return BlockTensors(named, options_.compute_dtype, device_);
}

std::vector<const WeightBlock*> StreamingWeightProvider::UpcomingLocked(
    const WeightBlock* block) const {
  std::vector<const WeightBlock*> upcoming;
  auto it = order_index_.find(block);
  if (it == order_index_.end() || options_.prefetch_depth <= 0) return upcoming;
  int64_t depth = options_.prefetch_depth;
  if (order_acquisitions_left_ >= 0) depth = std::min(depth, order_acquisitions_left_);
  for (int64_t ahead = 1; ahead <= depth; ++ahead) {
    const WeightBlock* next = order_[(it->second + ahead) % order_.size()];
    if (next == block) break;
    upcoming.push_back(next);
  }
  return upcoming;
}

int StreamingWeightProvider::ClaimSlotLocked(const std::vector<const WeightBlock*>& keep,
                                             bool needed_now) const {
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    if (slots_[i].state == SlotState::kFree) return static_cast<int>(i);
  }
  // A copied block that is not wanted soon (the order changed, or a block was acquired out of
  // order) gives way.
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    if (slots_[i].state == SlotState::kCopied &&
        std::find(keep.begin(), keep.end(), slots_[i].block) == keep.end()) {
      return static_cast<int>(i);
    }
  }
  if (!needed_now) return -1;  // a prefetch never evicts a block wanted sooner than its own
  for (auto want = keep.rbegin(); want != keep.rend(); ++want) {
    for (std::size_t i = 0; i < slots_.size(); ++i) {
      if (slots_[i].state == SlotState::kCopied && slots_[i].block == *want) {
        return static_cast<int>(i);
      }
    }
  }
  return -1;
}

void StreamingWeightProvider::StartCopyLocked(int index, const WeightBlock& block) {
  Slot& slot = slots_[index];
  slot.block = &block;
  slot.state = SlotState::kCopied;
  // Counted when started (under the lock), so the count does not depend on copy timing.
  streamed_bytes_ += block.nbytes();
  transfer_->StartCopy(index, block, slot.buffer);
}

void StreamingWeightProvider::PrefetchAfterLocked(const WeightBlock* block) {
  const std::vector<const WeightBlock*> upcoming = UpcomingLocked(block);
  for (const WeightBlock* next : upcoming) {
    bool present = false;
    for (const Slot& slot : slots_) present = present || slot.block == next;
    if (present) continue;
    const int index = ClaimSlotLocked(upcoming, /*needed_now=*/false);
    if (index < 0) return;  // the ring is full; Release continues the prefetch
    StartCopyLocked(index, *next);
  }
}

BlockTensors StreamingWeightProvider::Acquire(const WeightBlock& block) {
  if (auto it = resident_.find(&block); it != resident_.end())
    return Materialized(it->second, block);
  std::unique_lock<std::mutex> lock(mu_);
  if (slots_.empty())
    throw Internal("block " + block.name + " is streamed but the plan has no slots");
  int index = -1;
  while (index < 0) {
    bool in_use = false;
    for (std::size_t i = 0; i < slots_.size() && index < 0; ++i) {
      if (slots_[i].block != &block) continue;
      in_use = slots_[i].state == SlotState::kInUse;
      if (slots_[i].state == SlotState::kCopied) index = static_cast<int>(i);
    }
    if (index < 0 && !in_use) {
      // Not prefetched: copy it now, by the same rule as a prefetch, keeping the blocks wanted
      // after it if another slot can be had.
      index = ClaimSlotLocked(UpcomingLocked(&block), /*needed_now=*/true);
      if (index >= 0) StartCopyLocked(index, block);
    }
    // Held by another acquisition, or every slot in use: wait for a Release.
    if (index < 0) cv_.wait(lock);
  }
  slots_[index].state = SlotState::kInUse;
  if (order_acquisitions_left_ > 0 && order_index_.count(&block)) --order_acquisitions_left_;
  PrefetchAfterLocked(&block);
  std::vector<StoredTensor> views = SlotViews(slots_[index], block);
  lock.unlock();
  // In use, so no claim touches the slot while this waits (CPU) or orders the compute stream.
  transfer_->WaitReady(index);
  return Materialized(views, block);
}

void StreamingWeightProvider::Release(const WeightBlock& block) {
  if (resident_.count(&block)) return;
  std::lock_guard<std::mutex> lock(mu_);
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    Slot& slot = slots_[i];
    if (slot.block == &block && slot.state == SlotState::kInUse) {
      // Before the slot can be claimed: the next copy into it waits for the kernels queued so far.
      transfer_->MarkConsumed(static_cast<int>(i));
      slot.block = nullptr;
      slot.state = SlotState::kFree;
    }
  }
  PrefetchAfterLocked(&block);
  cv_.notify_all();
}

WeightStreamingStats StreamingWeightProvider::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return WeightStreamingStats{streamed_bytes_, transfer_->stall_seconds()};
}

}  // namespace streamdit::engine
