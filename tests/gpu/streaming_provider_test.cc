// The streaming provider on a CUDA device (engine/streaming/streaming_weight_provider.h): a
// pinned host tier streamed through the CUDA slot transfer at the minimum budget, every prefetch
// depth, several passes; fp8 blocks cross as fp8 codes and are decoded on the device to the CPU
// decode's values; the bytes streamed are the streamed blocks' once per acquisition. Only
// libtorch's device-generic API: built in every configuration. Label `gpu`: skipped, naming the
// reason, where there is no device.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <vector>

#include "engine/model/scoped_block.h"
#include "engine/streaming/pinned_host_tier.h"
#include "engine/streaming/residency_plan.h"
#include "engine/streaming/streaming_weight_provider.h"
#include "tests/gpu/skip_without_cuda.h"
#include "tests/gpu/streamed_test_blocks.h"

namespace streamdit::engine {
namespace {

using testing_support::BlockPointers;
using testing_support::StreamedTestBlocks;

TEST(StreamingOnCuda, Fp8BlocksStreamedAsCodesAndDecodedOnTheDevice) {
  SKIP_WITHOUT_CUDA_DEVICE();
  const ExecutionTarget target = ExecutionTarget::Cuda(0);
  auto blocks = StreamedTestBlocks(4);
  PinHostTier(BlockPointers(blocks), target);
  std::vector<const WeightBlock*> order(blocks.size());
  for (std::size_t i = 0; i < blocks.size(); ++i) order[i] = blocks[i].get();
  for (int depth : {0, 1, 2}) {
    StreamingOptions options;
    options.prefetch_depth = depth;
    options.compute_dtype = torch::kBFloat16;
    const auto described = DescribeBlocks(order, {}, options.compute_dtype, target.device);
    const ResidencyPlan plan =
        PlanResidency(described, MinimumWeightBytes(described, options), options);
    StreamingWeightProvider provider(plan, options, target);
    provider.SetOrder(order, /*passes=*/3);
    int64_t expected_bytes = 0;
    for (int pass = 0; pass < 3; ++pass) {
      for (const auto& block : blocks) {
        ScopedBlock scoped(provider, *block);
        for (const auto& [name, stored] : block->tensors) {
          const torch::Tensor on_device = scoped[name];
          ASSERT_EQ(on_device.device(), target.device) << name;
          const torch::Tensor cpu = Materialize(stored, options.compute_dtype, torch::kCPU);
          EXPECT_TRUE(torch::equal(on_device.cpu(), cpu)) << block->name << " " << name;
        }
        const bool resident = [&] {
          for (const auto& p : plan.blocks) {
            if (p.block == block.get()) return p.resident;
          }
          return false;
        }();
        if (!resident) expected_bytes += block->nbytes();
      }
    }
    EXPECT_EQ(provider.streamed_bytes(), expected_bytes) << "depth " << depth;
  }
}

}  // namespace
}  // namespace streamdit::engine
