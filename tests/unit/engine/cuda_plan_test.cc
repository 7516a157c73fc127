// A job planned for a CUDA device, without one (planning reads shapes only): the plan counts the
// BLAS workspace every component's matmuls take through the caching allocator and fused
// attention's log-sum-exp, so that the device's budget holds what the card really allocates.
#include <gtest/gtest.h>

#include "engine/flux/flux_transformer.h"
#include "engine/memory/cuda_kernel_scratch.h"
#include "engine/pipeline/flux_pipeline.h"
#include "tests/unit/engine/pipeline_test_support.h"

namespace streamdit::engine {
namespace {

using pipeline_testing::MakeRequest;
using pipeline_testing::SharedDemoModelDir;
using pipeline_testing::SmallDemoConfig;

TEST(CudaPlan, CountsTheBlasWorkspaceAndFusedAttentionScratch) {
  const FluxPipeline pipeline = FluxPipeline::Load(SmallDemoConfig(SharedDemoModelDir()));
  const ResolvedRequest job = ResolveGenerationRequest(MakeRequest("a fox", 1, 256, 256, 2),
                                                       pipeline.defaults(), pipeline.limits());
  const torch::Device cuda(torch::kCUDA, 0);
  const JobMemoryPlan cpu = pipeline.PlanMemory(job, torch::kCPU, std::nullopt);
  const JobMemoryPlan gpu = pipeline.PlanMemory(job, cuda, std::nullopt);
  // Per tensor, CUDA's 512-byte rounding and the CPU allocator's header differ by less than 512
  // bytes; the demo model has a few hundred tensors.
  constexpr int64_t kRounding = int64_t{1} << 20;
  const int64_t scratch =
      kCudaBlasWorkspaceBytes +
      CudaAttentionScratchBytes(1, pipeline.transformer().config().num_heads, 16 * 16 + 32);
  EXPECT_GE(gpu.predicted_peak_bytes(), cpu.predicted_peak_bytes() + scratch - kRounding);
  EXPECT_LE(gpu.predicted_peak_bytes(), cpu.predicted_peak_bytes() + scratch + kRounding);
  EXPECT_GE(gpu.minimum_budget_bytes(),
            cpu.minimum_budget_bytes() + kCudaBlasWorkspaceBytes - kRounding);
  // Under the same budget the CUDA plan still fits it: the scratch comes out of the weights' room.
  const int64_t budget = gpu.minimum_budget_bytes() + (int64_t{4} << 20);
  const JobMemoryPlan tight = pipeline.PlanMemory(job, cuda, budget);
  EXPECT_LE(tight.predicted_peak_bytes(), budget);
}

}  // namespace
}  // namespace streamdit::engine
