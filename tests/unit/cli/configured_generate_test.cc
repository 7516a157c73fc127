// `streamdit generate --local` on configured models (config/default.yaml's format, read through
// the configuration library as `streamdit serve` reads it): the default model's defaults apply,
// --model picks another, only the chosen model's files matter, create_demo writes the demo model,
// --model-dir replaces the folder; and config/default.yaml itself is what the README says.
#include <gtest/gtest.h>

#include <filesystem>

#include "cli_test_support.h"
#include "served_test_support.h"
#include "server/cli/exit_code.h"
#include "tests/support/build_paths.h"

#if STREAMDIT_CLI_SERVICE

namespace streamdit::server::cli {
namespace {

// The CLI suites' helpers (cli_test_support.h, served_test_support.h).
using namespace testing;  // NOLINT(build/namespaces)

// A second model "broken" whose folder does not exist, after the demo model (the default).
std::string TwoModels(const std::string& broken_dir) {
  return DemoConfigYaml(SharedDemoModelDir()) + "  - name: broken\n    dir: " + broken_dir +
         "\n    defaults: {steps: 3, width: 80, height: 64}\n";
}

TEST(ConfiguredGenerate, TheDefaultModelsDefaultsApplyAndOnlyItsFilesMatter) {
  ScratchDir dir;
  WriteText(dir.File("c.yaml"), TwoModels(dir.File("no-such-model")));
  const CliRun run = Cli({"--config", dir.File("c.yaml"), "generate", "--prompt", "a quiet harbour",
                          "--seed", "5", "--out", dir.File("a.png")});
  ASSERT_EQ(run.code, 0) << run.err;
  EXPECT_NE(
      run.out.find("wrote " + dir.File("a.png") + " (64x64, 2 steps, seed 5, model flux1-demo)"),
      std::string::npos)
      << run.out;

  const CliRun broken = Cli({"--config", dir.File("c.yaml"), "generate", "--model", "broken",
                             "--prompt", "x", "--out", dir.File("b.png")});
  EXPECT_EQ(broken.code, ExitCodeFor(absl::NotFoundError(""))) << broken.err;
  EXPECT_NE(broken.err.find("no-such-model"), std::string::npos) << broken.err;
  EXPECT_FALSE(std::filesystem::exists(dir.File("b.png")));

  const CliRun unknown = Cli({"--config", dir.File("c.yaml"), "generate", "--model", "nope",
                              "--prompt", "x", "--out", dir.File("b.png")});
  EXPECT_EQ(unknown.code, ExitCodeFor(absl::NotFoundError(""))) << unknown.err;
  EXPECT_NE(unknown.err.find("'nope'"), std::string::npos) << unknown.err;
}

TEST(ConfiguredGenerate, ModelDirReplacesTheChosenModelsFolder) {
  ScratchDir dir;
  WriteText(dir.File("c.yaml"), TwoModels(dir.File("no-such-model")));
  // "broken"'s settings (80x64, 3 steps) on the demo model's files.
  const CliRun run =
      Cli({"--config", dir.File("c.yaml"), "generate", "--model", "broken", "--model-dir",
           SharedDemoModelDir(), "--prompt", "x", "--seed", "1", "--out", dir.File("a.png")});
  ASSERT_EQ(run.code, 0) << run.err;
  EXPECT_NE(run.out.find("(80x64, 3 steps, seed 1, model broken)"), std::string::npos) << run.out;
}

TEST(ConfiguredGenerate, CreateDemoWritesTheDemoModelWhereTheConfigSays) {
  ScratchDir dir;
  std::filesystem::create_directories(dir.File("config"));
  // A relative dir is relative to the configuration's folder.
  WriteText(dir.File("config/c.yaml"), DemoConfigYaml("../models/demo", "    create_demo: true\n"));
  const CliRun run = Cli({"--config", dir.File("config/c.yaml"), "generate", "--prompt", "x",
                          "--out", dir.File("a.png")});
  ASSERT_EQ(run.code, 0) << run.err;
  EXPECT_NE(run.out.find("creating the demo model in"), std::string::npos) << run.out;
  EXPECT_EQ(ReadFile(dir.File("models/demo/merges.txt")),
            ReadFile(SharedDemoModelDir() + "/merges.txt"));
}

TEST(ConfiguredGenerate, ABadConfigurationExits2NamingTheKey) {
  ScratchDir dir;
  WriteText(dir.File("c.yaml"),
            DemoConfigYaml(SharedDemoModelDir()).replace(0, 0, "listen: nowhere\n"));
  const CliRun run = Cli(
      {"--config", dir.File("c.yaml"), "generate", "--prompt", "x", "--out", dir.File("a.png")});
  EXPECT_EQ(run.code, kExitUsage) << run.err;
  EXPECT_NE(run.err.find("listen"), std::string::npos) << run.err;
}

TEST(DefaultConfig, TheDemoModelOnOneCpuDeviceListeningOnLoopback) {
  const std::string path = std::string(build_paths::SourceDir()) + "/config/default.yaml";
  const absl::StatusOr<ServerConfig> config = LoadServerConfig(path);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->listen, "127.0.0.1:50051");
  EXPECT_FALSE(config->metrics_listen.has_value());
  ASSERT_EQ(config->devices.size(), 1u);
  EXPECT_EQ(config->devices[0].name, "cpu:0");
  EXPECT_EQ(config->devices[0].budget.bytes, 8ll << 30);
  ASSERT_EQ(config->models.size(), 1u);
  const ModelSpec& model = config->models[0];
  EXPECT_TRUE(model.create_demo);
  EXPECT_EQ(
      std::filesystem::path(model.dir).lexically_normal(),
      (std::filesystem::path(build_paths::SourceDir()) / "build/demo-model").lexically_normal());
  EXPECT_EQ(model.defaults.steps, 4);
  EXPECT_EQ(model.defaults.width, 512);
  EXPECT_EQ(model.defaults.height, 512);
  EXPECT_EQ(model.defaults.t5_max_length, 128);
}

}  // namespace
}  // namespace streamdit::server::cli

#endif  // STREAMDIT_CLI_SERVICE
