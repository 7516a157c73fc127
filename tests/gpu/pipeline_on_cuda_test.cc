// The whole pipeline on a CUDA device (label `gpu`), against the same pipeline on the CPU: the
// demo model's images in f32 agree within a grey level, bf16 on the GPU stays near f32, the
// caching allocator's own peak never passes the job's budget while streaming, the resident copy
// and the streamed run give the same image, and a budget below the minimum is refused before any
// work. Skipped, naming the reason, where there is no device.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "engine/flux/flux_transformer.h"
#include "engine/memory/cuda_device_meter.h"
#include "engine/pipeline/flux_pipeline.h"
#include "engine/pipeline/resident_weights.h"
#include "engine/status/minimum_budget.h"
#include "engine/status/status_error.h"
#include "tests/gpu/skip_without_cuda.h"
#include "tests/unit/engine/pipeline_test_support.h"

namespace streamdit::engine {
namespace {

using pipeline_testing::MakeRequest;
using pipeline_testing::SharedDemoModelDir;
using pipeline_testing::SmallDemoConfig;

const ExecutionTarget kCuda = ExecutionTarget::Cuda(0);

FluxPipeline DemoPipeline(torch::ScalarType compute, bool pinned = false) {
  PipelineConfig config = SmallDemoConfig(SharedDemoModelDir());
  config.compute_dtype = compute;
  config.pin_host_tier = pinned;
  config.prompt_cache_bytes = 0;  // each run encodes on its own device
  return FluxPipeline::Load(config);
}

// The least budget the request runs under on cuda:0, as the engine plans it.
int64_t MinimumOnCuda(const FluxPipeline& pipeline, const GenerationRequest& request) {
  const ResolvedRequest job =
      ResolveGenerationRequest(request, pipeline.defaults(), pipeline.limits());
  return pipeline.PlanMemory(job, kCuda.device, std::nullopt).minimum_budget_bytes();
}

// Largest difference in grey levels (0-255) between two [B, 3, H, W] images in [-1, 1].
double GreyLevels(const torch::Tensor& a, const torch::Tensor& b) {
  return (a - b).abs().max().item<double>() * 127.5;
}

TEST(PipelineOnCuda, F32ImagesMatchTheCpu) {
  SKIP_WITHOUT_CUDA_DEVICE();
  const FluxPipeline pipeline = DemoPipeline(torch::kFloat);
  const GenerationRequest request = MakeRequest("a lighthouse at dusk", 7, 128, 128, 4);
  const GenerationResult cpu = pipeline.Generate(request, ExecutionTarget::Cpu());
  const GenerationResult gpu = pipeline.Generate(request, kCuda);
  ASSERT_TRUE(gpu.images.device().is_cpu());
  EXPECT_LE(GreyLevels(gpu.images, cpu.images), 1.0);
  EXPECT_LE((gpu.latents - cpu.latents).abs().max().item<double>(), 1e-3);
}

TEST(PipelineOnCuda, Bf16StaysNearF32) {
  SKIP_WITHOUT_CUDA_DEVICE();
  const GenerationRequest request = MakeRequest("a lighthouse at dusk", 7, 128, 128, 4);
  const GenerationResult f32 = DemoPipeline(torch::kFloat).Generate(request, kCuda);
  const GenerationResult bf16 = DemoPipeline(torch::kBFloat16).Generate(request, kCuda);
  // bf16 keeps 8 bits of mantissa: a few grey levels on a random model, never a different image.
  EXPECT_LE(GreyLevels(bf16.images, f32.images), 16.0);
  EXPECT_LE((bf16.images - f32.images).abs().mean().item<double>() * 127.5, 2.0);
}

TEST(PipelineOnCuda, StreamingUnderABudgetNeverPassesItAndGivesTheResidentImage) {
  SKIP_WITHOUT_CUDA_DEVICE();
  const FluxPipeline pipeline = DemoPipeline(torch::kFloat);
  const GenerationRequest request = MakeRequest("a lighthouse at dusk", 7, 128, 128, 4);
  const int64_t minimum = MinimumOnCuda(pipeline, request);

  MemoryMeter meter;
  MeterCudaDevice(0, &meter, 0, 0);  // measure only: no cap on the allocator
  const GenerationResult resident = pipeline.Generate(request, kCuda);
  for (const int64_t budget : {minimum, minimum + minimum / 2}) {
    SCOPED_TRACE("budget " + std::to_string(budget));
    torch::cuda::synchronize();
    const int64_t before = ReadCudaAllocatorStats(0).allocated_bytes;
    ResetCudaPeakStats(0);
    JobMemoryOptions memory;
    memory.budget_bytes = budget;
    const GenerationResult streamed = pipeline.Generate(request, kCuda, {}, memory);
    torch::cuda::synchronize();
    // The allocator's own peak, not only our meter's: the ceiling is the card's truth.
    const int64_t peak = ReadCudaAllocatorStats(0).peak_allocated_bytes - before;
    EXPECT_LE(peak, budget);
    EXPECT_LE(streamed.memory.measured_peak(), streamed.memory.predicted_peak_bytes);
    EXPECT_TRUE(torch::equal(streamed.images, resident.images));
    EXPECT_GT(streamed.memory.streamed_bytes, 0);
  }
  MeterCudaDevice(0, nullptr, 0, 0);
}

TEST(PipelineOnCuda, APinnedHostTierStreamsTheSameImage) {
  SKIP_WITHOUT_CUDA_DEVICE();
  const FluxPipeline pageable = DemoPipeline(torch::kFloat);
  const FluxPipeline pinned = DemoPipeline(torch::kFloat, /*pinned=*/true);
  EXPECT_EQ(pageable.pinned_host_bytes(), 0);
  EXPECT_EQ(pinned.pinned_host_bytes(), pinned.transformer().weights().nbytes());
  const GenerationRequest request = MakeRequest("a lighthouse at dusk", 7, 128, 128, 4);
  JobMemoryOptions memory;
  memory.budget_bytes = MinimumOnCuda(pinned, request);
  EXPECT_TRUE(torch::equal(pinned.Generate(request, kCuda, {}, memory).images,
                           pageable.Generate(request, kCuda, {}, memory).images));
}

TEST(PipelineOnCuda, ResidentWeightsOnTheDeviceGiveTheSameImage) {
  SKIP_WITHOUT_CUDA_DEVICE();
  const FluxPipeline pipeline = DemoPipeline(torch::kFloat);
  const GenerationRequest request = MakeRequest("a lighthouse at dusk", 7, 128, 128, 4);
  const GenerationResult direct = pipeline.Generate(request, kCuda);
  JobMemoryOptions memory;
  memory.resident_weights = ResidentWeights::Load(pipeline, kCuda);
  ASSERT_EQ(memory.resident_weights->device(), kCuda.device);
  EXPECT_TRUE(torch::equal(pipeline.Generate(request, kCuda, {}, memory).images, direct.images));
}

TEST(PipelineOnCuda, ABudgetBelowTheMinimumIsRefusedBeforeAnyWork) {
  SKIP_WITHOUT_CUDA_DEVICE();
  const FluxPipeline pipeline = DemoPipeline(torch::kFloat);
  const GenerationRequest request = MakeRequest("a lighthouse at dusk", 7, 128, 128, 4);
  const int64_t minimum = MinimumOnCuda(pipeline, request);
  JobMemoryOptions memory;
  memory.budget_bytes = minimum - 1;
  try {
    pipeline.Generate(request, kCuda, {}, memory);
    FAIL() << "a budget below the minimum ran";
  } catch (const StatusError& error) {
    EXPECT_EQ(error.status().code(), absl::StatusCode::kResourceExhausted);
    EXPECT_EQ(MinimumBudgetOf(error.status()), minimum);
  }
}

TEST(PipelineOnCuda, TheAllocatorsCapTurnsAnOverrunIntoOutOfMemory) {
  SKIP_WITHOUT_CUDA_DEVICE();
  torch::cuda::synchronize();
  const CudaAllocatorStats before = ReadCudaAllocatorStats(0);
  const auto devices = DiscoverCudaDevices();
  ASSERT_TRUE(devices.ok());
  const int64_t total = devices->front().total_bytes;
  MemoryMeter meter;
  // Room for what is reserved now plus 64 MiB; a 256 MiB tensor must fail in the allocator.
  MeterCudaDevice(0, &meter, before.reserved_bytes + (int64_t{64} << 20), total);
  EXPECT_THROW(torch::empty({int64_t{256} << 20},
                            torch::TensorOptions().dtype(torch::kByte).device(torch::kCUDA, 0)),
               c10::OutOfMemoryError);
  const torch::Tensor small = torch::empty(
      {int64_t{16} << 20}, torch::TensorOptions().dtype(torch::kByte).device(torch::kCUDA, 0));
  EXPECT_GE(meter.current_bytes(), int64_t{16} << 20);
  MeterCudaDevice(0, nullptr, total, total);  // the whole card again
}

}  // namespace
}  // namespace streamdit::engine
