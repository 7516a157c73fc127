// A budget is a hard ceiling in the pipeline API (issue 22): with a budget the job runs under a
// meter of its own, so a misprediction (here forced by a device whose meter has less room than the
// job's budget) ends the job with RESOURCE_EXHAUSTED naming the phase and the budget, never with a
// silent crossing; and the device is left as the job found it.
#include <gtest/gtest.h>

#include <string>

#include "engine/memory/cpu_memory_meter.h"
#include "engine/memory/device_charge.h"
#include "engine/memory/job_ceiling.h"
#include "engine/pipeline/flux_pipeline.h"
#include "engine/pipeline/generation_request.h"
#include "engine/status/exception_status.h"
#include "pipeline_test_support.h"

namespace streamdit::engine {
namespace {

using pipeline_testing::SharedDemoModelDir;
using pipeline_testing::SmallDemoConfig;

TEST(PipelineCeiling, AnAllocationPastTheRoomEndsTheJobNamingThePhaseAndTheBudget) {
  CpuMemoryMeter::Install();
  PipelineConfig config = SmallDemoConfig(SharedDemoModelDir());
  config.prompt_cache_bytes = 0;
  const FluxPipeline pipeline = FluxPipeline::Load(config);
  const GenerationRequest request = pipeline_testing::MakeRequest("a ceiling", 3);
  const ResolvedRequest job =
      ResolveGenerationRequest(request, pipeline.defaults(), pipeline.limits());
  const JobMemoryPlan plan = pipeline.PlanMemory(job, torch::kCPU, std::nullopt);
  JobMemoryOptions memory;
  memory.budget_bytes = plan.resident_budget_bytes();

  // The device has far less room than the budget the job was given: its first large allocation
  // (T5's activations, in the encode phase) is refused.
  MemoryMeter device;
  device.set_limit_bytes(64 << 10);
  absl::Status status;
  {
    ScopedDeviceCharge charge(&device);
    status = StatusOfCall([&] { pipeline.Generate(request, ExecutionTarget::Cpu(), {}, memory); });
  }
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted) << status;
  const std::string message(status.message());
  EXPECT_NE(message.find("out of memory in the encode phase"), std::string::npos) << message;
  EXPECT_NE(message.find("the job's budget of " + FormatBytes(*memory.budget_bytes) + " was hit"),
            std::string::npos)
      << message;
  // Everything the failed job allocated was returned.
  EXPECT_EQ(device.current_bytes(), 0);

  // The same job with the room it needs runs, and measures within its budget.
  const GenerationResult result = pipeline.Generate(request, ExecutionTarget::Cpu(), {}, memory);
  ASSERT_TRUE(result.memory.measured);
  EXPECT_LE(result.memory.measured_peak(), *memory.budget_bytes);
}

}  // namespace
}  // namespace streamdit::engine
