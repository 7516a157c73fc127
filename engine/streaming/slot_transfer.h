// How a streamed block's bytes get from the host tier into a slot of the streaming ring, and how
// those copies are ordered against the compute that reads the slots. The StreamingWeightProvider
// decides which block goes into which slot (its state machine, under its lock); a SlotTransfer
// moves the bytes and keeps two orders, so that a device whose kernels run after the host queued
// them (CUDA) is as safe as the CPU, whose kernels have finished when the host returns:
//
//   copy before use:   work the caller issues after WaitReady(s) sees all bytes of the slot's last
//                      StartCopy(s) (CPU: the host waited; CUDA: the compute stream waits on the
//                      copy's event, the host does not);
//   use before reuse:  a StartCopy(s) overwrites the slot only after the compute issued before the
//                      slot's last MarkConsumed(s) has finished, and after any earlier copy into s
//                      (CPU: that compute is already done; CUDA: the copy stream waits on the
//                      consumed event, again without a host wait).
//
// The provider's protocol per slot: StartCopy -> WaitReady -> (kernels reading the slot) ->
// MarkConsumed -> StartCopy ...; a prefetched block that turns out unneeded may be replaced by a
// second StartCopy without WaitReady or MarkConsumed in between (its copy was never read).
// StartCopy and MarkConsumed are called under the provider's lock and never wait for a copy;
// WaitReady is called without it and may block (CPU). The source tensors (the host tier) and the
// slot buffers must outlive the copies: both belong to objects that outlive the transfer.
#pragma once

#include <torch/types.h>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "engine/device/execution_target.h"
#include "engine/model/weight_block.h"

namespace streamdit::engine {

class SlotTransfer {
 public:
  virtual ~SlotTransfer() = default;

  // Starts copying `block`'s tensors, packed as SlotLayout says, into `buffer` (the slot's kByte
  // tensor on the target device), ordered after the slot's previous copy and its last
  // MarkConsumed. Asynchronous: returns before the bytes are there.
  virtual void StartCopy(int slot, const WeightBlock& block, const torch::Tensor& buffer) = 0;
  // Orders the caller's subsequent work on the compute device after the slot's last copy.
  virtual void WaitReady(int slot) = 0;
  // Every read of the slot has been issued (the block was released): the next StartCopy into it
  // waits for those reads.
  virtual void MarkConsumed(int slot) = 0;
  // Whether the slot's last copy has completed (a non-blocking query, for tests and diagnostics).
  virtual bool CopyDone(int slot) const = 0;
  // Time compute waited for copies: on the CPU the host's wait in WaitReady; on CUDA the compute
  // stream's wait, measured by events (waits still in flight are counted once they finish).
  virtual double stall_seconds() const = 0;
};

// The byte offset of each of `block`'s tensors inside a slot: packed in order, each SlotBytes
// (64-byte aligned) after the previous one. The copy and the provider's views of a slot agree
// through this one function.
std::vector<int64_t> SlotLayout(const WeightBlock& block);

// Today's CPU behaviour: a memcpy per tensor. With `background`, copies run on a worker thread
// (which allocates, if at all, for the device charged where the transfer was constructed); a
// WaitReady on a copy that has not started yet takes it over and copies it on the waiting thread,
// so an on-demand copy never queues behind prefetches. Without `background`, every copy runs in
// WaitReady. MarkConsumed has nothing to wait for: CPU kernels finished before Release.
class CpuSlotTransfer : public SlotTransfer {
 public:
  CpuSlotTransfer(int slots, bool background);
  ~CpuSlotTransfer() override;
  CpuSlotTransfer(const CpuSlotTransfer&) = delete;
  CpuSlotTransfer& operator=(const CpuSlotTransfer&) = delete;

  void StartCopy(int slot, const WeightBlock& block, const torch::Tensor& buffer) override;
  void WaitReady(int slot) override;
  void MarkConsumed(int slot) override { (void)slot; }
  bool CopyDone(int slot) const override;
  double stall_seconds() const override;

 private:
  struct Pending {
    const WeightBlock* block = nullptr;  // null: nothing queued for the slot
    torch::Tensor buffer;
  };
  static void Copy(const WeightBlock& block, const torch::Tensor& buffer);
  // Requires the lock held by `lock`; copies the slot's pending block with the lock released.
  void RunPendingLocked(int slot, std::unique_lock<std::mutex>& lock);
  void WorkerLoop();

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Pending> pending_;
  std::vector<bool> copying_;
  std::deque<int> queue_;  // slots with a pending copy, for the worker (may hold stale entries)
  bool stopping_ = false;
  double stall_seconds_ = 0;
  std::thread worker_;
};

// The transfer for `target`'s device: CpuSlotTransfer on the CPU; on CUDA a copy stream of the
// device with events per slot (engine/streaming/slot_transfer_cuda.cc). `background`: whether
// copies may run ahead of WaitReady (prefetching); a CUDA copy always does. Throws StatusError
// FAILED_PRECONDITION for a CUDA target in a build without CUDA.
std::unique_ptr<SlotTransfer> MakeSlotTransfer(const ExecutionTarget& target, int slots,
                                               bool background);

}  // namespace streamdit::engine
