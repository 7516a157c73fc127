#include "engine/streaming/slot_transfer.h"

#include <chrono>
#include <cstring>

#include "engine/memory/device_charge.h"
#include "engine/streaming/residency_plan.h"

namespace streamdit::engine {

std::vector<int64_t> SlotLayout(const WeightBlock& block) {
  std::vector<int64_t> offsets;
  offsets.reserve(block.tensors.size());
  int64_t offset = 0;
  for (const auto& [name, stored] : block.tensors) {
    offsets.push_back(offset);
    offset += SlotBytes(stored);
  }
  return offsets;
}

CpuSlotTransfer::CpuSlotTransfer(int slots, bool background)
    : pending_(static_cast<std::size_t>(slots)), copying_(static_cast<std::size_t>(slots), false) {
  if (background && slots > 0) {
    // The worker copies for the job that built the transfer: its allocations (a contiguous copy of
    // a strided source, if any) go to the job's device.
    worker_ = std::thread([this, device = ScopedDeviceCharge::Current()] {
      ScopedDeviceCharge charge(device);
      WorkerLoop();
    });
  }
}

CpuSlotTransfer::~CpuSlotTransfer() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
}

void CpuSlotTransfer::Copy(const WeightBlock& block, const torch::Tensor& buffer) {
  // Host tier to slot, both host RAM: a plain memcpy per tensor, which keeps the worker thread out
  // of libtorch's intra-op thread pool.
  uint8_t* dst = buffer.data_ptr<uint8_t>();
  const std::vector<int64_t> offsets = SlotLayout(block);
  for (std::size_t i = 0; i < block.tensors.size(); ++i) {
    const torch::Tensor& data = block.tensors[i].second.data;
    torch::Tensor source = data.is_contiguous() ? data : data.contiguous();
    std::memcpy(dst + offsets[i], source.data_ptr(), source.numel() * source.element_size());
  }
}

void CpuSlotTransfer::StartCopy(int slot, const WeightBlock& block, const torch::Tensor& buffer) {
  std::lock_guard<std::mutex> lock(mu_);
  // A copy still queued for this slot is replaced: its block was never read. One in progress
  // finishes first (RunPendingLocked waits for it), so two copies never write a slot at once.
  pending_[slot] = Pending{&block, buffer};
  if (worker_.joinable()) {
    queue_.push_back(slot);
    cv_.notify_all();
  }
}

void CpuSlotTransfer::RunPendingLocked(int slot, std::unique_lock<std::mutex>& lock) {
  cv_.wait(lock, [&] { return !copying_[slot]; });
  Pending job = std::move(pending_[slot]);
  pending_[slot] = Pending{};
  if (job.block == nullptr) return;
  copying_[slot] = true;
  lock.unlock();
  Copy(*job.block, job.buffer);
  lock.lock();
  copying_[slot] = false;
  cv_.notify_all();
}

void CpuSlotTransfer::WaitReady(int slot) {
  const auto start = std::chrono::steady_clock::now();
  std::unique_lock<std::mutex> lock(mu_);
  // Waits for a copy in progress, then runs the one still queued (if the worker has not taken it).
  RunPendingLocked(slot, lock);
  cv_.wait(lock, [&] { return !copying_[slot]; });
  stall_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

bool CpuSlotTransfer::CopyDone(int slot) const {
  std::lock_guard<std::mutex> lock(mu_);
  return pending_[slot].block == nullptr && !copying_[slot];
}

double CpuSlotTransfer::stall_seconds() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stall_seconds_;
}

void CpuSlotTransfer::WorkerLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (stopping_) return;
    const int slot = queue_.front();
    queue_.pop_front();
    // A stale entry (its copy was taken over by WaitReady) finds nothing pending.
    RunPendingLocked(slot, lock);
  }
}

}  // namespace streamdit::engine
