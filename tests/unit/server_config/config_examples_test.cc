// Every file in config/examples/ loads, and says what its name promises.
#include <gtest/gtest.h>

#include <filesystem>
#include <set>
#include <string>

#include "server/config/config_loader.h"
#include "tests/support/build_paths.h"

namespace streamdit::server {
namespace {

const std::filesystem::path kExamples =
    std::filesystem::path(build_paths::SourceDir()) / "config" / "examples";

ServerConfig Load(const std::string& name) {
  absl::StatusOr<ServerConfig> config = LoadServerConfig((kExamples / name).string());
  EXPECT_TRUE(config.ok()) << config.status();
  return config.ok() ? *std::move(config) : ServerConfig{};
}

TEST(ConfigExamples, EveryExampleLoads) {
  std::set<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(kExamples)) {
    if (entry.path().extension() != ".yaml") continue;
    names.insert(entry.path().filename().string());
    const absl::StatusOr<ServerConfig> config = LoadServerConfig(entry.path().string());
    EXPECT_TRUE(config.ok()) << config.status();
  }
  EXPECT_EQ(names, (std::set<std::string>{"demo-cpu.yaml", "flux1-dev-16gb.yaml",
                                          "flux1-dev-4gpu.yaml", "flux1-schnell-8gb.yaml"}));
}

TEST(ConfigExamples, DemoCpuServesTheDemoModelFromTheBuildFolder) {
  const ServerConfig config = Load("demo-cpu.yaml");
  ASSERT_EQ(config.devices.size(), 1u);
  EXPECT_EQ(config.devices[0].name, "cpu:0");
  EXPECT_EQ(*config.devices[0].EffectiveBudget(0), int64_t{8} << 30);
  ASSERT_EQ(config.models.size(), 1u);
  const ModelSpec& model = config.models[0];
  EXPECT_EQ(config.default_model, "flux1-demo");
  EXPECT_EQ(model.family, ModelFamily::kDev);
  EXPECT_TRUE(model.create_demo);
  // Relative to the file's folder: config/examples/../../build/demo-model.
  EXPECT_EQ(std::filesystem::path(model.dir),
            (std::filesystem::path(build_paths::SourceDir()) / "build" / "demo-model")
                .lexically_normal());
  EXPECT_EQ(model.paths.transformer,
            std::vector<std::string>{model.dir + "/flux1-demo.safetensors"});
  EXPECT_EQ(model.compute_dtype, ComputeDtype::kF32);
  EXPECT_EQ(model.defaults.steps, 4);
  EXPECT_EQ(model.defaults.width, 512);
  EXPECT_EQ(model.defaults.height, 512);
  EXPECT_EQ(model.defaults.t5_max_length, 128);
}

TEST(ConfigExamples, FluxDevOn16GbStreamsFp8IntoABudgetBelowTheCard) {
  const ServerConfig config = Load("flux1-dev-16gb.yaml");
  ASSERT_EQ(config.devices.size(), 1u);
  const DeviceConfigSpec& gpu = config.devices[0];
  EXPECT_EQ(gpu.name, "cuda:0");
  const int64_t card = int64_t{16} << 30;
  const int64_t budget = *gpu.EffectiveBudget(card);
  EXPECT_LE(budget, int64_t{15} << 30);
  EXPECT_GT(budget, int64_t{13} << 30);
  ASSERT_EQ(config.models.size(), 1u);
  const ModelSpec& model = config.models[0];
  EXPECT_EQ(model.family, ModelFamily::kDev);
  EXPECT_EQ(model.storage, HostStorage::kFp8);
  EXPECT_EQ(model.compute_dtype, ComputeDtype::kBf16);
  EXPECT_EQ(model.resident_format, ResidentCopy::kStored);
  EXPECT_EQ(model.defaults.steps, 50);
  EXPECT_EQ(model.defaults.width, 1024);
  EXPECT_EQ(model.defaults.height, 1024);
  EXPECT_EQ(model.defaults.guidance, 3.5);
}

TEST(ConfigExamples, FluxDevOnFourGpus) {
  const ServerConfig config = Load("flux1-dev-4gpu.yaml");
  ASSERT_EQ(config.devices.size(), 4u);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(config.devices[i].name, "cuda:" + std::to_string(i));
    EXPECT_EQ(config.devices[i].kind, DeviceKind::kCuda);
    EXPECT_TRUE(config.devices[i].budget.is_fraction());
  }
  EXPECT_EQ(config.models.at(0).family, ModelFamily::kDev);
}

TEST(ConfigExamples, FluxSchnellOn8GbCard) {
  const ServerConfig config = Load("flux1-schnell-8gb.yaml");
  ASSERT_EQ(config.devices.size(), 1u);
  EXPECT_LT(*config.devices[0].EffectiveBudget(0), int64_t{8} << 30);
  const ModelSpec& model = config.models.at(0);
  EXPECT_EQ(model.family, ModelFamily::kSchnell);
  EXPECT_EQ(model.storage, HostStorage::kFp8);
  EXPECT_EQ(model.defaults.steps, 4);
  EXPECT_FALSE(model.defaults.guidance.has_value());
}

}  // namespace
}  // namespace streamdit::server
