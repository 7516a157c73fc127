// The CUDA slot transfer (engine/streaming/slot_transfer.h) on a device: blocks copied from a
// pinned host tier arrive with their bytes; a copy runs on the copy stream while the compute stream
// is busy (overlap); WaitReady does not make the host wait; a copy into a slot whose reader is
// still queued waits for it on the device (the reader sees the old bytes, the slot then the new).
// Uses libtorch's CUDA API (streams, a spin kernel): built in the CUDA configuration only. Label
// `gpu`: skipped, naming the reason, where there is no device.
#include <ATen/cuda/Sleep.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "engine/streaming/pinned_host_tier.h"
#include "engine/streaming/residency_plan.h"
#include "engine/streaming/slot_transfer.h"
#include "tests/gpu/skip_without_cuda.h"
#include "tests/gpu/streamed_test_blocks.h"

namespace streamdit::engine {
namespace {

using testing_support::BlockPointers;
using testing_support::StreamedTestBlocks;

// A spin of about half a second to a second on current GPUs: long next to a few-MB copy.
constexpr int64_t kSpinCycles = 1'000'000'000;

int64_t SlotBytesOf(const std::vector<std::unique_ptr<WeightBlock>>& blocks) {
  int64_t most = 0;
  for (const auto& b : blocks) {
    int64_t bytes = 0;
    for (const auto& [name, stored] : b->tensors) bytes += SlotBytes(stored);
    most = std::max(most, bytes);
  }
  return most;
}

// The slot's bytes of `block`'s tensors, back on the host, next to the host tier's.
void ExpectSlotHolds(const torch::Tensor& slot_on_host, const WeightBlock& block) {
  const std::vector<int64_t> offsets = SlotLayout(block);
  for (std::size_t i = 0; i < block.tensors.size(); ++i) {
    const torch::Tensor& host = block.tensors[i].second.data;
    const int64_t bytes = host.numel() * host.element_size();
    const torch::Tensor expected = host.contiguous().reshape({-1}).view(torch::kByte);
    EXPECT_TRUE(torch::equal(slot_on_host.narrow(0, offsets[i], bytes), expected))
        << block.name << " " << block.tensors[i].first;
  }
}

bool PollUntil(const std::function<bool()>& done, double seconds) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < end) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return done();
}

TEST(CudaSlotTransfer, CopiesOverlapComputeAndWaitForTheirReaders) {
  SKIP_WITHOUT_CUDA_DEVICE();
  const ExecutionTarget target = ExecutionTarget::Cuda(0);
  auto blocks = StreamedTestBlocks(3);
  EXPECT_GT(PinHostTier(BlockPointers(blocks), target), 0);
  for (const auto& b : blocks) {
    for (const auto& [name, stored] : b->tensors) EXPECT_TRUE(stored.data.is_pinned()) << name;
  }
  EXPECT_EQ(PinHostTier(BlockPointers(blocks), target), 0) << "pinned pages are kept";

  const c10::cuda::CUDAStream compute = c10::cuda::getStreamFromPool(false, 0);
  c10::cuda::CUDAStreamGuard on_compute(compute);
  const int64_t slot_bytes = SlotBytesOf(blocks);
  const auto options = torch::TensorOptions().dtype(torch::kByte).device(target.device);
  std::vector<torch::Tensor> slots = {torch::zeros({slot_bytes}, options),
                                      torch::zeros({slot_bytes}, options)};
  std::unique_ptr<SlotTransfer> transfer = MakeSlotTransfer(target, 2, /*background=*/true);

  // Bytes: copy, wait on the compute stream, read there.
  transfer->StartCopy(0, *blocks[0], slots[0]);
  transfer->WaitReady(0);
  ExpectSlotHolds(slots[0].clone().cpu(), *blocks[0]);

  // Overlap: with the compute stream spinning, a copy into a slot nobody read finishes anyway.
  at::cuda::sleep(kSpinCycles);
  transfer->StartCopy(1, *blocks[1], slots[1]);
  EXPECT_TRUE(PollUntil([&] { return transfer->CopyDone(1); }, 10.0))
      << "the copy did not finish while compute ran";
  EXPECT_FALSE(compute.query()) << "the spin ended before the copy: no overlap shown";
  compute.synchronize();

  // Reuse after the reader: slot 0 is read by kernels queued behind a spin; the copy of another
  // block into it, started right after MarkConsumed, waits on the device for them.
  transfer->WaitReady(0);
  at::cuda::sleep(kSpinCycles);
  const torch::Tensor read = slots[0].clone();
  transfer->MarkConsumed(0);
  transfer->StartCopy(0, *blocks[2], slots[0]);
  EXPECT_FALSE(transfer->CopyDone(0)) << "the copy did not wait for the slot's reader";
  // WaitReady orders the compute stream; the host goes on at once.
  const auto before_wait = std::chrono::steady_clock::now();
  transfer->WaitReady(0);
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - before_wait).count(),
            0.1);
  const torch::Tensor after = slots[0].clone();
  ExpectSlotHolds(read.cpu(), *blocks[0]);
  ExpectSlotHolds(after.cpu(), *blocks[2]);
  EXPECT_TRUE(transfer->CopyDone(0));
  EXPECT_GE(transfer->stall_seconds(), 0.0);
}

}  // namespace
}  // namespace streamdit::engine
