// `--lora` on the command line (issue 13): `generate --local --lora FILE:SCALE` applies a LoRA file
// and records it in the PNG, `plan --lora` adds its bytes to the plan, `generate --server --lora
// NAME:SCALE` asks a server for one it lists (`models` shows them), and bad values exit with the
// flag or the file named.
#include <gtest/gtest.h>

#include <filesystem>

#include "cli_test_support.h"
#include "served_test_support.h"
#include "server/cli/exit_code.h"
#include "tests/support/lora_files.h"
#include "tests/unit/engine/lora_pairs.h"

namespace streamdit::server::cli {
namespace {

using testing::Cli;
using testing::CliRun;
using testing::GenerateLocal;
using testing::ReadFile;
using testing::ScratchDir;
using testing::SharedDemoModelDir;

std::string WriteStyle(const ScratchDir& dir) {
  const std::string path = dir.File("style.safetensors");
  test_support::WriteLoraFile(path, test_support::LoraFileFormat::kKohya,
                              engine::lora_testing::KohyaPairs(), 5);
  return path;
}

TEST(LoraFlags, LocalGenerateAppliesTheFileAndRecordsItInThePng) {
  ScratchDir dir;
  const std::string lora = WriteStyle(dir);
  const CliRun with = GenerateLocal({"--lora", lora + ":0.8"}, dir.File("with.png"));
  ASSERT_EQ(with.code, 0) << with.err;
  const CliRun without = GenerateLocal({}, dir.File("without.png"));
  ASSERT_EQ(without.code, 0) << without.err;
  const std::string png = ReadFile(dir.File("with.png"));
  EXPECT_NE(png, ReadFile(dir.File("without.png")));
  EXPECT_NE(png.find("Lora: style:0.8"), std::string::npos);
}

TEST(LoraFlags, BadLoraValuesExitNamingTheFlagOrTheFile) {
  ScratchDir dir;
  const std::string lora = WriteStyle(dir);
  const CliRun nan = GenerateLocal({"--lora", lora + ":nan"}, dir.File("a.png"));
  EXPECT_EQ(nan.code, kExitUsage) << nan.err;
  EXPECT_NE(nan.err.find("--lora"), std::string::npos) << nan.err;
  const CliRun strong = GenerateLocal({"--lora", lora + ":50"}, dir.File("a.png"));
  EXPECT_EQ(strong.code, kExitUsage) << strong.err;
  EXPECT_NE(strong.err.find("loras[0].strength must be in [-10, 10], got 50"), std::string::npos)
      << strong.err;
  const CliRun missing =
      GenerateLocal({"--lora", dir.File("absent.safetensors")}, dir.File("a.png"));
  EXPECT_EQ(missing.code, ExitCodeFor(absl::NotFoundError(""))) << missing.err;
  EXPECT_NE(missing.err.find(dir.File("absent.safetensors")), std::string::npos) << missing.err;
  EXPECT_FALSE(std::filesystem::exists(dir.File("a.png")));
}

TEST(LoraFlags, PlanCountsTheLorasBytes) {
  ScratchDir dir;
  const std::string lora = WriteStyle(dir);
  const std::vector<std::string> args = {"plan",     "--model-dir", SharedDemoModelDir(),
                                         "--budget", "1GiB",        "--width",
                                         "64",       "--height",    "64",
                                         "--dtype",  "f32",         "--bandwidth",
                                         "10",       "--tflops",    "1"};
  const CliRun plain = Cli(args);
  ASSERT_EQ(plain.code, 0) << plain.err;
  std::vector<std::string> with_args = args;
  with_args.insert(with_args.end(), {"--lora", lora});
  const CliRun with = Cli(with_args);
  ASSERT_EQ(with.code, 0) << with.err;
  EXPECT_NE(with.out.find("lora style (kohya, rank 6, 8 layers, strength 1): t5 "),
            std::string::npos)
      << with.out;
  EXPECT_NE(plain.out, with.out);
}

#if STREAMDIT_CLI_SERVICE
TEST(LoraFlags, ServedGenerateNamesALoraTheServerLists) {
  ScratchDir loras;
  WriteStyle(loras);
  testing::InProcessServer server(testing::DemoConfigYaml(SharedDemoModelDir()) + "lora_dirs: [" +
                                  loras.path() + "]\n");
  const CliRun models = Cli({"models", "--server", server.address()});
  ASSERT_EQ(models.code, 0) << models.err;
  EXPECT_NE(models.out.find("style"), std::string::npos) << models.out;
  EXPECT_NE(models.out.find("kohya"), std::string::npos) << models.out;

  ScratchDir out;
  const CliRun run = Cli({"generate", "--server", server.address(), "--prompt", "x", "--lora",
                          "style:0.5", "--out", out.File("a.png")});
  ASSERT_EQ(run.code, 0) << run.err;
  EXPECT_NE(ReadFile(out.File("a.png")).find("Lora: style:0.5"), std::string::npos);
  const CliRun unknown = Cli({"generate", "--server", server.address(), "--prompt", "x", "--lora",
                              "nope", "--out", out.File("b.png")});
  EXPECT_EQ(unknown.code, ExitCodeFor(absl::NotFoundError(""))) << unknown.err;
  EXPECT_NE(unknown.err.find("no LoRA named 'nope'"), std::string::npos) << unknown.err;
  EXPECT_TRUE(server.Stop().ok());
}
#endif

}  // namespace
}  // namespace streamdit::server::cli
