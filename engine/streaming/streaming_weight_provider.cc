#include "engine/streaming/streaming_weight_provider.h"

#include <algorithm>
#include <chrono>
#include <cstring>

#include "engine/memory/device_charge.h"
#include "engine/status/status_error.h"

namespace streamdit::engine {

StreamingWeightProvider::StreamingWeightProvider(const ResidencyPlan& plan,
                                                 const StreamingOptions& options,
                                                 torch::Device device)
    : options_(options), device_(device) {
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
  if (options_.prefetch_depth > 0 && !slots_.empty()) {
    // The prefetch worker works for this job: its allocations go to the job's device.
    worker_ = std::thread([this, device = ScopedDeviceCharge::Current()] {
      ScopedDeviceCharge charge(device);
      WorkerLoop();
    });
  }
}

StreamingWeightProvider::~StreamingWeightProvider() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
}

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

void StreamingWeightProvider::CopyInto(Slot& slot, const WeightBlock& block) {
  // Host tier to device slot. On CPU both are host RAM: a plain memcpy per tensor, which keeps the
  // worker thread out of libtorch's intra-op thread pool.
  uint8_t* dst = slot.buffer.data_ptr<uint8_t>();
  int64_t offset = 0;
  for (const auto& [name, stored] : block.tensors) {
    torch::Tensor source = stored.data.is_contiguous() ? stored.data : stored.data.contiguous();
    std::memcpy(dst + offset, source.data_ptr(), source.numel() * source.element_size());
    offset += SlotBytes(stored);
  }
}

std::vector<StoredTensor> StreamingWeightProvider::SlotViews(const Slot& slot,
                                                             const WeightBlock& block) const {
  std::vector<StoredTensor> views;
  uint8_t* base = slot.buffer.data_ptr<uint8_t>();
  int64_t offset = 0;
  for (const auto& [name, stored] : block.tensors) {
    StoredTensor view = stored;
    view.data =
        torch::from_blob(base + offset, stored.data.sizes(),
                         torch::TensorOptions().dtype(stored.data.scalar_type()).device(device_));
    offset += SlotBytes(stored);
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

int StreamingWeightProvider::ClaimSlotLocked(const WeightBlock* avoid_future) {
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    if (slots_[i].state == SlotState::kFree) return static_cast<int>(i);
  }
  // A prefetched block that is not the one we are about to need may give way.
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    if (slots_[i].state == SlotState::kReady && slots_[i].block != avoid_future) {
      return static_cast<int>(i);
    }
  }
  return -1;
}

void StreamingWeightProvider::PrefetchAfterLocked(const WeightBlock* block) {
  if (!worker_.joinable() || order_.empty()) return;
  auto it = order_index_.find(block);
  if (it == order_index_.end()) return;
  std::vector<const WeightBlock*> wanted;
  int depth = options_.prefetch_depth;
  if (order_acquisitions_left_ >= 0) {
    depth = static_cast<int>(std::min<int64_t>(depth, order_acquisitions_left_));
  }
  for (int ahead = 1; ahead <= depth; ++ahead) {
    const WeightBlock* next = order_[(it->second + ahead) % order_.size()];
    if (next == block) break;
    wanted.push_back(next);
  }
  for (const WeightBlock* next : wanted) {
    bool present = false;
    for (const Slot& slot : slots_) present = present || slot.block == next;
    if (present) continue;
    // A free slot, else one holding a prefetched block that is no longer wanted (after SetOrder
    // changed the order, or a block acquired out of order).
    int index = -1;
    for (std::size_t i = 0; i < slots_.size() && index < 0; ++i) {
      if (slots_[i].state == SlotState::kFree) index = static_cast<int>(i);
    }
    for (std::size_t i = 0; i < slots_.size() && index < 0; ++i) {
      if (slots_[i].state == SlotState::kReady &&
          std::find(wanted.begin(), wanted.end(), slots_[i].block) == wanted.end()) {
        index = static_cast<int>(i);
      }
    }
    if (index < 0) return;  // the ring is full; Release will continue the prefetch
    slots_[index].block = next;
    slots_[index].state = SlotState::kLoading;
    // Counted when scheduled (under the lock), so the count does not depend on copy timing.
    streamed_bytes_ += next->nbytes();
    copy_queue_.push_back(index);
    cv_.notify_all();
  }
}

BlockTensors StreamingWeightProvider::Acquire(const WeightBlock& block) {
  if (auto it = resident_.find(&block); it != resident_.end())
    return Materialized(it->second, block);
  std::unique_lock<std::mutex> lock(mu_);
  int index = -1;
  auto find = [&] {
    for (std::size_t i = 0; i < slots_.size(); ++i) {
      if (slots_[i].block == &block && slots_[i].state != SlotState::kFree)
        return static_cast<int>(i);
    }
    return -1;
  };
  index = find();
  const auto wait_start = std::chrono::steady_clock::now();
  if (index < 0) {
    // Not prefetched: copy it here, into a slot that is free or holds an unneeded block.
    while ((index = ClaimSlotLocked(&block)) < 0) {
      if (slots_.empty())
        throw Internal("block " + block.name + " is streamed but the plan has no slots");
      cv_.wait(lock);
    }
    slots_[index].block = &block;
    slots_[index].state = SlotState::kLoading;
    streamed_bytes_ += block.nbytes();
    lock.unlock();
    CopyInto(slots_[index], block);
    lock.lock();
    slots_[index].state = SlotState::kReady;
  }
  cv_.wait(lock, [&] { return slots_[index].state == SlotState::kReady; });
  stall_seconds_ +=
      std::chrono::duration<double>(std::chrono::steady_clock::now() - wait_start).count();
  slots_[index].state = SlotState::kInUse;
  if (order_acquisitions_left_ > 0 && order_index_.count(&block)) --order_acquisitions_left_;
  PrefetchAfterLocked(&block);
  std::vector<StoredTensor> views = SlotViews(slots_[index], block);
  lock.unlock();
  return Materialized(views, block);
}

void StreamingWeightProvider::Release(const WeightBlock& block) {
  if (resident_.count(&block)) return;
  std::lock_guard<std::mutex> lock(mu_);
  for (Slot& slot : slots_) {
    if (slot.block == &block && slot.state == SlotState::kInUse) {
      slot.block = nullptr;
      slot.state = SlotState::kFree;
    }
  }
  PrefetchAfterLocked(&block);
  cv_.notify_all();
}

void StreamingWeightProvider::WorkerLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    cv_.wait(lock, [&] { return stopping_ || !copy_queue_.empty(); });
    if (stopping_) return;
    const int index = copy_queue_.front();
    copy_queue_.pop_front();
    const WeightBlock* block = slots_[index].block;
    lock.unlock();
    CopyInto(slots_[index], *block);
    lock.lock();
    slots_[index].state = SlotState::kReady;
    cv_.notify_all();
  }
}

WeightStreamingStats StreamingWeightProvider::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return WeightStreamingStats{streamed_bytes_, stall_seconds_};
}

}  // namespace streamdit::engine
