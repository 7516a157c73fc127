// Resident weights (the scheduler's kLoad / kShared): the model's weights materialized once on
// the device in the compute dtype, charged to the device that loaded them, shared by every job
// without a copy, and given back to that device when the last holder lets go.
#include "engine/pipeline/resident_weights.h"

#include <gtest/gtest.h>

#include <thread>

#include "engine/memory/cpu_memory_meter.h"
#include "engine/memory/device_charge.h"
#include "engine/pipeline/flux_pipeline.h"
#include "engine/status/status_error.h"
#include "pipeline_test_support.h"

namespace streamdit::engine {
namespace {

using pipeline_testing::MakeRequest;
using pipeline_testing::SharedDemoModelDir;
using pipeline_testing::SmallDemoConfig;

PipelineConfig UncachedConfig() {
  PipelineConfig config = SmallDemoConfig(SharedDemoModelDir());
  config.prompt_cache_bytes = 0;  // every job encodes: its bytes are its own
  return config;
}

TEST(ResidentWeights, LoadChargesTheDeviceExactlyItsBytesAndFreesThemThere) {
  CpuMemoryMeter::Install();
  const FluxPipeline pipeline = FluxPipeline::Load(UncachedConfig());
  MemoryMeter device;
  std::shared_ptr<const ResidentWeights> weights;
  {
    ScopedDeviceCharge charge(&device);
    weights = ResidentWeights::Load(pipeline, ExecutionTarget::Cpu());
  }
  EXPECT_EQ(weights->bytes(), ResidentWeights::BytesOf(pipeline, torch::kCPU));
  EXPECT_EQ(device.current_bytes(), weights->bytes());
  std::thread([released = std::move(weights)]() mutable { released.reset(); }).join();
  EXPECT_EQ(device.current_bytes(), 0) << "freed on another thread, released on the device";
}

TEST(ResidentWeights, JobsOnResidentWeightsGetTheSameImagesAndAllocateNoWeights) {
  CpuMemoryMeter::Install();
  const FluxPipeline pipeline = FluxPipeline::Load(UncachedConfig());
  const GenerationRequest request = MakeRequest("a lighthouse at dusk", 7, 64, 64, 2, 2);
  const GenerationResult reference = pipeline.Generate(request, ExecutionTarget::Cpu());

  MemoryMeter device;
  ScopedDeviceCharge charge(&device);
  JobMemoryOptions memory;
  memory.resident_weights = ResidentWeights::Load(pipeline, ExecutionTarget::Cpu());
  const int64_t resident = device.current_bytes();
  {
    const MemoryMeter::Window window = device.OpenWindow();
    const GenerationResult first = pipeline.Generate(request, ExecutionTarget::Cpu(), {}, memory);
    // The first job's own peak: measured before the second job runs beside its retained result.
    const int64_t job_peak = window.peak_above_start_bytes();
    const GenerationResult second = pipeline.Generate(request, ExecutionTarget::Cpu(), {}, memory);
    EXPECT_TRUE(torch::equal(first.latents, reference.latents));
    EXPECT_TRUE(torch::equal(first.images, reference.images));
    EXPECT_TRUE(torch::equal(second.images, reference.images));

    // Each job's own bytes: its activations, never a copy of the weights; predicted safely.
    ASSERT_TRUE(first.memory.measured);
    EXPECT_LT(job_peak, resident / 4) << "a job copied the resident weights";
    EXPECT_GE(first.memory.predicted_peak_bytes, first.memory.measured_peak());
    EXPECT_GE(first.memory.predicted_peak_bytes, job_peak);
    EXPECT_EQ(first.memory.streamed_bytes, 0);
  }
  EXPECT_EQ(device.current_bytes(), resident) << "the weights stay after the jobs, nothing else";
}

TEST(ResidentWeights, ABudgetBelowTheJobsOwnBytesIsRefusedBeforeAnyWork) {
  CpuMemoryMeter::Install();
  const FluxPipeline pipeline = FluxPipeline::Load(UncachedConfig());
  JobMemoryOptions memory;
  memory.resident_weights = ResidentWeights::Load(pipeline, ExecutionTarget::Cpu());
  memory.budget_bytes = 1024;
  int steps = 0;
  GenerationCallbacks callbacks;
  callbacks.on_step = [&](const GenerationProgress&) { ++steps; };
  try {
    pipeline.Generate(MakeRequest("x", 1), ExecutionTarget::Cpu(), callbacks, memory);
    FAIL() << "a 1 KiB budget ran";
  } catch (const StatusError& error) {
    EXPECT_EQ(error.status().code(), absl::StatusCode::kResourceExhausted);
    EXPECT_NE(std::string(error.status().message()).find("beside the resident weights"),
              std::string::npos)
        << error.status();
  }
  EXPECT_EQ(steps, 0);
}

TEST(ResidentWeights, ALoadAboveTheDeviceLimitFailsAndKeepsNothing) {
  CpuMemoryMeter::Install();
  const FluxPipeline pipeline = FluxPipeline::Load(UncachedConfig());
  MemoryMeter device;
  device.set_limit_bytes(ResidentWeights::BytesOf(pipeline, torch::kCPU) / 2);
  ScopedDeviceCharge charge(&device);
  EXPECT_THROW(ResidentWeights::Load(pipeline, ExecutionTarget::Cpu()), c10::OutOfMemoryError);
  EXPECT_EQ(device.current_bytes(), 0);
}

}  // namespace
}  // namespace streamdit::engine
