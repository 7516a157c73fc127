// The CUDA SlotTransfer: copies run on one copy stream per device, ordered by events against the
// compute stream (the stream current on the calling thread at WaitReady and MarkConsumed). In the
// steady state the host never waits: block k+1's copy is queued while block k's kernels are, the
// compute stream waits on the copy's event before block k+1's first kernel, and the copy that
// reuses block k's slot waits, on the copy stream, for the event recorded after block k's kernels.
#include <ATen/cuda/CUDAEvent.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include <array>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "engine/status/status_error.h"
#include "engine/streaming/slot_transfer.h"

namespace streamdit::engine {
namespace {

// One copy stream per device for the whole process: every provider streaming to a device queues
// its copies there, so concurrent jobs share the copy engine in order instead of racing on it. It
// is a stream of its own, not one of libtorch's pool streams (which a compute stream may also be
// drawn from: copies would then queue behind kernels), and non-blocking, so that work on the
// legacy default stream does not serialize with it. Created once, never destroyed.
c10::cuda::CUDAStream CopyStream(c10::DeviceIndex device) {
  static std::mutex mu;
  static std::array<std::optional<c10::cuda::CUDAStream>, 64> streams;
  std::lock_guard<std::mutex> lock(mu);
  auto& stream = streams.at(static_cast<std::size_t>(device));
  if (!stream) {
    c10::cuda::CUDAGuard on_device(device);
    cudaStream_t raw = nullptr;
    C10_CUDA_CHECK(cudaStreamCreateWithFlags(&raw, cudaStreamNonBlocking));
    stream = c10::cuda::getStreamFromExternal(raw, device);
  }
  return *stream;
}

class CudaSlotTransfer : public SlotTransfer {
 public:
  CudaSlotTransfer(torch::Device device, int slots)
      : device_(device), copy_stream_(CopyStream(device.index())), slots_(slots) {}

  ~CudaSlotTransfer() override {
    // The slot buffers are freed after this (the provider owns them): no copy may still write
    // them. A throwing destructor would terminate; a failed sync has nothing left to protect.
    try {
      for (const Slot& slot : slots_) {
        if (slot.ready) slot.ready->synchronize();
      }
    } catch (...) {
    }
  }

  void StartCopy(int index, const WeightBlock& block, const torch::Tensor& buffer) override {
    Slot& slot = slots_.at(static_cast<std::size_t>(index));
    c10::cuda::CUDAStreamGuard guard(copy_stream_);
    // Use before reuse: the kernels that read the previous occupant finish before this copy
    // overwrites it (an earlier copy into the slot is ordered by the stream itself).
    if (slot.consumed) slot.consumed->block(copy_stream_);
    const std::vector<int64_t> offsets = SlotLayout(block);
    for (std::size_t i = 0; i < block.tensors.size(); ++i) {
      const torch::Tensor& data = block.tensors[i].second.data;
      const int64_t bytes = data.numel() * data.element_size();
      if (bytes == 0) continue;
      // Stored bytes as they are (fp8 codes, GGML blocks, bf16): decoded on the device at use.
      const torch::Tensor source = data.contiguous().reshape({-1}).view(torch::kByte);
      // From pinned host memory this is a DMA on the copy stream that the host does not wait for.
      buffer.narrow(0, offsets[i], bytes).copy_(source, /*non_blocking=*/true);
    }
    slot.ready = std::make_shared<at::cuda::CUDAEvent>(cudaEventDefault);  // timed: stall stats
    slot.ready->record(copy_stream_);
  }

  void WaitReady(int index) override {
    Slot& slot = slots_.at(static_cast<std::size_t>(index));
    if (!slot.ready) return;
    const c10::cuda::CUDAStream compute = c10::cuda::getCurrentCUDAStream(device_.index());
    // Copy before use, with the host free to queue the block's kernels right away. The time the
    // compute stream stalls is (copy done) - (compute reached the wait), read once both finished.
    auto reached = std::make_shared<at::cuda::CUDAEvent>(cudaEventDefault);
    reached->record(compute);
    slot.ready->block(compute);
    std::lock_guard<std::mutex> lock(stall_mu_);
    waits_.push_back(Wait{std::move(reached), slot.ready});
    CollectStallsLocked();
  }

  void MarkConsumed(int index) override {
    Slot& slot = slots_.at(static_cast<std::size_t>(index));
    if (!slot.consumed) slot.consumed.emplace();
    // Recorded after the block's kernels were queued: the next copy into the slot waits on it.
    slot.consumed->record(c10::cuda::getCurrentCUDAStream(device_.index()));
  }

  bool CopyDone(int index) const override {
    const Slot& slot = slots_.at(static_cast<std::size_t>(index));
    return !slot.ready || slot.ready->query();
  }

  double stall_seconds() const override {
    std::lock_guard<std::mutex> lock(stall_mu_);
    CollectStallsLocked();
    return stall_seconds_;
  }

 private:
  struct Slot {
    std::shared_ptr<at::cuda::CUDAEvent> ready;   // the last copy into the slot
    std::optional<at::cuda::CUDAEvent> consumed;  // after the last kernels that read it
  };
  struct Wait {
    std::shared_ptr<at::cuda::CUDAEvent> reached;  // the compute stream at the wait
    std::shared_ptr<at::cuda::CUDAEvent> ready;    // the copy it waited for
  };

  // Adds the stalls of the finished waits, in order (a later wait cannot finish before an earlier
  // one on the same stream), so that pending waits stay few.
  void CollectStallsLocked() const {
    while (!waits_.empty() && waits_.front().reached->query() && waits_.front().ready->query()) {
      const float ms = waits_.front().reached->elapsed_time(*waits_.front().ready);
      if (ms > 0) stall_seconds_ += ms / 1000.0;
      waits_.pop_front();
    }
  }

  torch::Device device_;
  c10::cuda::CUDAStream copy_stream_;
  std::vector<Slot> slots_;
  mutable std::mutex stall_mu_;
  mutable std::deque<Wait> waits_;
  mutable double stall_seconds_ = 0;
};

}  // namespace

std::unique_ptr<SlotTransfer> MakeSlotTransfer(const ExecutionTarget& target, int slots,
                                               bool background) {
  if (!target.is_cuda()) return std::make_unique<CpuSlotTransfer>(slots, background);
  if (!target.device.has_index()) {
    throw InvalidArgument("streaming to " + target.str() + ": a CUDA target names its device");
  }
  return std::make_unique<CudaSlotTransfer>(target.device, slots);
}

}  // namespace streamdit::engine
