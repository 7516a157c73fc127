// The scheduler's weight modes carried out for real: a kLoad launch materializes the model's
// weights on its device in the compute dtype and they stay there (the device's meter shows them,
// per model); later launches share that copy without copying it; a launch of another model that
// needs the room evicts them and the device gets its bytes back.
#include <gtest/gtest.h>

#include "tests/integration/server_test_rig.h"

namespace streamdit::server::testing {
namespace {

// The demo model without a prompt cache: nothing but resident weights stays on a device
// between jobs.
ModelSettings UncachedDemoModel(const std::string& name) {
  ModelSettings settings = DemoModel(name);
  settings.pipeline.prompt_cache_bytes = 0;
  return settings;
}

absl::StatusOr<JobResult> RunJob(GenerationService& service, const std::string& model,
                                 uint64_t seed) {
  GenerationJob job;
  job.model = model;
  job.request.prompt = "residency";
  job.request.seed = seed;
  return RunToEnd(service, std::move(job));
}

int64_t ResidentBytes(const DeviceStatusView& device, const std::string& model) {
  for (const ResidentWeightsView& weights : device.resident_weights) {
    if (weights.model == model) return weights.bytes;
  }
  return 0;
}

TEST(Residency, LoadKeepsSharesAndEvictsTheWeightsOnTheDevice) {
  absl::StatusOr<std::unique_ptr<ModelRegistry>> loaded =
      ModelRegistry::Load({UncachedDemoModel("a"), UncachedDemoModel("b")});
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  const ModelRegistry& models = **loaded;
  EngineMemoryEstimator estimator(models);
  scheduler::JobShape shape;
  shape.model = "a";
  shape.width = shape.height = 64;
  shape.steps = 2;
  const absl::StatusOr<scheduler::MemoryDemand> demand = estimator.Estimate(shape);
  ASSERT_TRUE(demand.ok()) << demand.status();
  const int64_t weights = models.Find("a")->weight_bytes;
  ASSERT_EQ(demand->weight_bytes, weights);

  // Room for one model resident and a job beside it, not for both models.
  ServiceSettings settings;
  settings.devices = {{"cpu:0", weights + demand->working_bytes + weights / 2}};
  GenerationService service(
      models, settings, std::make_unique<EngineMemoryEstimator>(models),
      std::make_unique<EngineLaunchRunner>(models, *ExecutionTargetsOf(settings.devices)));

  // kLoad: the weights arrive and stay, measured on the device.
  absl::StatusOr<JobResult> first = RunJob(service, "a", 1);
  ASSERT_TRUE(first.ok()) << first.status();
  DeviceStatusView device = service.Status().devices.at(0);
  ASSERT_EQ(device.resident_models, std::vector<std::string>{"a"});
  EXPECT_EQ(ResidentBytes(device, "a"), weights);
  EXPECT_EQ(device.resident_bytes, weights);
  EXPECT_EQ(device.used_bytes, weights) << "the launch's own bytes came back, the weights stayed";
  EXPECT_LT(first->peak_bytes, weights) << "the load is the device's, not the job's peak";
  EXPECT_LE(first->peak_bytes, first->budget_bytes);
  EXPECT_LE(device.peak_bytes, device.budget_bytes);

  // kShared: the same copy, nothing new loaded, the same image for the same seed.
  absl::StatusOr<JobResult> again = RunJob(service, "a", 1);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->output.png, first->output.png);
  EXPECT_LT(again->peak_bytes, weights) << "a shared launch copied the weights";
  device = service.Status().devices.at(0);
  EXPECT_EQ(device.used_bytes, weights);
  EXPECT_EQ(ResidentBytes(device, "a"), weights);

  // Model b needs the room: a is evicted and b's weights take its place.
  absl::StatusOr<JobResult> other = RunJob(service, "b", 1);
  ASSERT_TRUE(other.ok()) << other.status();
  device = service.Status().devices.at(0);
  EXPECT_EQ(device.resident_models, std::vector<std::string>{"b"});
  EXPECT_EQ(ResidentBytes(device, "a"), 0);
  EXPECT_EQ(ResidentBytes(device, "b"), weights);
  EXPECT_EQ(device.used_bytes, weights);
  EXPECT_LE(device.peak_bytes, device.budget_bytes);
}

}  // namespace
}  // namespace streamdit::server::testing
