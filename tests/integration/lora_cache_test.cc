// The devices' LoRA adapter caches carried out for real (issue 13): a launch converts the
// adapters its device lacks once, before it runs and outside its budget (the device's meter shows
// them, measured, as the scheduler counts them); later launches with the same LoRA use that copy
// and get the same image as a job that converts its own; past the cache's bound the least
// recently used idle adapter leaves and the device gets its bytes back.
#include <gtest/gtest.h>

#include <mutex>

#include "engine/lora/lora_loader.h"
#include "tests/integration/server_test_rig.h"
#include "tests/support/lora_files.h"
#include "tests/support/scratch_dir.h"
#include "tests/unit/engine/lora_pairs.h"

namespace streamdit::server::testing {
namespace {

using test_support::LoraFileFormat;

struct AdapterLoads : scheduler::SchedulerObserver {
  std::mutex mu;
  std::vector<std::string> loaded;
  std::vector<std::string> evicted;
  void OnAdapterLoaded(int, const std::string& key, std::int64_t) override {
    std::lock_guard<std::mutex> lock(mu);
    loaded.push_back(key.substr(0, key.find('#')));
  }
  void OnAdapterEvicted(int, const std::string& key, std::int64_t) override {
    std::lock_guard<std::mutex> lock(mu);
    evicted.push_back(key.substr(0, key.find('#')));
  }
};

absl::StatusOr<JobResult> RunJob(GenerationService& service, const std::string& lora) {
  GenerationJob job;
  job.request.prompt = "a lantern on a pier";
  job.request.seed = 5;
  if (!lora.empty()) job.loras = {{lora, 0.75f}};
  return RunToEnd(service, std::move(job));
}

int64_t ListedBytes(const ModelRegistry& models, const std::string& lora) {
  for (const LoraListing& listing : models.loras().List(models.default_model().name)) {
    if (listing.name == lora) return listing.device_bytes;
  }
  return -1;
}

int64_t WeightBytes(const DeviceStatusView& device) {
  int64_t bytes = 0;
  for (const ResidentWeightsView& weights : device.resident_weights) bytes += weights.bytes;
  return bytes;
}

std::vector<std::string> CachedNames(const DeviceStatusView& device) {
  std::vector<std::string> names;
  for (const CachedLoraView& lora : device.cached_loras) names.push_back(lora.name);
  return names;
}

TEST(LoraCache, AdaptersStayOnTheDeviceAreSharedAndLeaveLeastRecentlyUsedFirst) {
  test_support::ScratchDir dir("streamdit_lora_cache");
  test_support::WriteLoraFile(dir.File("style.safetensors"), LoraFileFormat::kKohya,
                              engine::lora_testing::KohyaPairs(), 1);
  test_support::WriteLoraFile(dir.File("detail.safetensors"), LoraFileFormat::kBfl,
                              engine::lora_testing::BflPairs(), 2);
  ModelSettings model = DemoModel();
  model.pipeline.prompt_cache_bytes = 0;  // nothing but weights and adapters stays between jobs
  absl::StatusOr<std::unique_ptr<ModelRegistry>> loaded =
      ModelRegistry::Load({model}, {dir.path()});
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ModelRegistry& models = **loaded;
  ASSERT_TRUE(models.loras().Rescan().errors.empty());
  const int64_t style_bytes = ListedBytes(models, "style");
  const int64_t detail_bytes = ListedBytes(models, "detail");
  ASSERT_GT(style_bytes, 0);
  ASSERT_GT(detail_bytes, 0);

  // The cache holds one of the two adapters once idle.
  ServiceSettings settings;
  settings.devices = {{"cpu:0", 4ll << 30, std::max(style_bytes, detail_bytes)}};
  AdapterLoads loads;
  ServiceObservers observers;
  observers.scheduler = &loads;
  GenerationService service(
      models, settings, std::make_unique<EngineMemoryEstimator>(models),
      std::make_unique<EngineLaunchRunner>(models, *ExecutionTargetsOf(settings.devices)),
      observers);

  // First use: converted once onto the device, kept there, measured as the scheduler counts it.
  absl::StatusOr<JobResult> first = RunJob(service, "style");
  ASSERT_TRUE(first.ok()) << first.status();
  DeviceStatusView device = service.Status().devices.at(0);
  ASSERT_EQ(CachedNames(device), std::vector<std::string>{"style"});
  EXPECT_EQ(device.cached_loras[0].bytes, style_bytes);
  EXPECT_EQ(device.adapter_bytes, style_bytes);
  EXPECT_EQ(device.used_bytes, WeightBytes(device) + style_bytes)
      << "the launch's own bytes came back; the weights and the adapter stayed";
  EXPECT_LE(first->peak_bytes, first->budget_bytes);

  // Second use: the cached copy, not a new one; the image of a job that converts its own.
  absl::StatusOr<JobResult> again = RunJob(service, "style");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->output.png, first->output.png);
  EXPECT_EQ(loads.loaded, std::vector<std::string>{"style"});
  const engine::FluxPipeline& pipeline = *models.default_model().pipeline;
  engine::GenerationRequest direct;
  direct.prompt = "a lantern on a pier";
  direct.seed = 5;
  direct.loras = {{engine::LoadLoraAdapter(dir.File("style.safetensors"), "style",
                                           engine::LoraTargets::Of(pipeline.models())),
                   0.75f}};
  EXPECT_EQ(again->output.png, pipeline.Generate(direct, engine::ExecutionTarget::Cpu()).png);
  device = service.Status().devices.at(0);
  EXPECT_EQ(device.used_bytes, WeightBytes(device) + style_bytes);

  // Another LoRA past the bound: the idle "style" leaves, "detail" stays after its launch.
  absl::StatusOr<JobResult> other = RunJob(service, "detail");
  ASSERT_TRUE(other.ok()) << other.status();
  device = service.Status().devices.at(0);
  EXPECT_EQ(CachedNames(device), std::vector<std::string>{"detail"});
  EXPECT_EQ(device.adapter_bytes, detail_bytes);
  EXPECT_EQ(device.used_bytes, WeightBytes(device) + detail_bytes);
  EXPECT_EQ(loads.evicted, std::vector<std::string>{"style"});
  EXPECT_LE(device.peak_bytes, device.budget_bytes);

  // A job without LoRAs leaves the cache as it is.
  ASSERT_TRUE(RunJob(service, "").ok());
  EXPECT_EQ(CachedNames(service.Status().devices.at(0)), std::vector<std::string>{"detail"});
}

}  // namespace
}  // namespace streamdit::server::testing
