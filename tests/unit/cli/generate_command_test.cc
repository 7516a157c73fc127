// `streamdit generate --local` on the demo model: a memory budget holds and reports the measured
// peak beside the predicted one; --batch writes one PNG per image with consecutive seeds; and
// each kind of error exits with the code server/cli/exit_code.h maps its status to, writing no
// image.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>

#include "cli_test_support.h"
#include "server/cli/exit_code.h"
#include "tests/support/png_pixels.h"

namespace streamdit::server::cli {
namespace {

using testing::Cli;
using testing::CliRun;
using testing::GenerateLocal;
using testing::ReadFile;
using testing::ScratchDir;
using testing::SharedDemoModelDir;

TEST(GenerateCommand, BudgetedRunReportsAMeasuredPeakWithinTheBudget) {
  ScratchDir dir;
  const CliRun run = GenerateLocal({"--budget", "64MiB"}, dir.File("a.png"));
  ASSERT_EQ(run.code, 0) << run.err;
  EXPECT_TRUE(std::filesystem::exists(dir.File("a.png")));
  std::smatch m;
  const std::regex memory(
      R"(memory: budget ([0-9.]+) MiB, predicted peak ([0-9.]+) MiB, measured peak ([0-9.]+) MiB)");
  ASSERT_TRUE(std::regex_search(run.out, m, memory)) << run.out;
  EXPECT_DOUBLE_EQ(std::stod(m[1]), 64.0);
  EXPECT_LE(std::stod(m[3]), 64.0);
  EXPECT_GE(std::stod(m[2]) + 0.05, std::stod(m[3]));  // printed to 0.1 MiB

  // The same image as without a budget; --local is the default.
  std::vector<std::string> plain_args = {
      "generate", "--model-dir", SharedDemoModelDir(), "--prompt", "a quiet harbour",
      "--width",  "64",          "--height",           "64",       "--steps",
      "2",        "--out",       dir.File("b.png")};
  const CliRun plain = Cli(plain_args);
  ASSERT_EQ(plain.code, 0) << plain.err;
  EXPECT_EQ(ReadFile(dir.File("a.png")), ReadFile(dir.File("b.png")));
}

TEST(GenerateCommand, BatchWritesOnePngPerImageWithConsecutiveSeeds) {
  ScratchDir dir;
  const CliRun batch = GenerateLocal({"--seed", "7", "--batch", "2"}, dir.File("out.png"));
  ASSERT_EQ(batch.code, 0) << batch.err;
  EXPECT_FALSE(std::filesystem::exists(dir.File("out.png")));
  EXPECT_NE(batch.out.find("wrote " + dir.File("out-0.png") + " (64x64, 2 steps, seed 7,"),
            std::string::npos)
      << batch.out;
  EXPECT_NE(batch.out.find("wrote " + dir.File("out-1.png") + " (64x64, 2 steps, seed 8,"),
            std::string::npos)
      << batch.out;
  // Image 1 of the batch is the one-image request with seed + 1, as the README promises: within a
  // few float ulps (the batch's matrix products have other shapes, so their sums may round
  // differently), which moves a pixel by at most one level where it sits on a boundary.
  const CliRun single = GenerateLocal({"--seed", "8"}, dir.File("single.png"));
  ASSERT_EQ(single.code, 0) << single.err;
  EXPECT_NE(single.out.find("wrote " + dir.File("single.png") + " (64x64, 2 steps, seed 8,"),
            std::string::npos)
      << single.out;
  const test_support::PixelDifference difference = test_support::ComparePixels(
      ReadFile(dir.File("out-1.png")), ReadFile(dir.File("single.png")));
  EXPECT_LE(difference.max_level, 1);
  EXPECT_LE(difference.share, 0.01);
}

TEST(GenerateCommand, BadFlagValuesAndRequestsExit2NamingTheFlag) {
  ScratchDir dir;
  for (const std::vector<std::string>& bad :
       std::vector<std::vector<std::string>>{{"--budget", "plenty"},
                                             {"--storage", "fp4"},
                                             {"--dtype", "fp4"},
                                             {"--seed", "-1"},
                                             {"--steps", "many"},
                                             {"--batch", "0"},
                                             {"--threads", "0"},
                                             {"--width", "100"},
                                             {"--frobnicate", "1"}}) {
    const CliRun run = GenerateLocal(bad, dir.File("x.png"));
    EXPECT_EQ(run.code, kExitUsage) << bad[0] << " " << bad[1] << ": " << run.err;
    EXPECT_TRUE(run.err.find(bad[0]) != std::string::npos ||
                run.err.find(bad[0].substr(2)) != std::string::npos)
        << run.err;
    EXPECT_TRUE(run.err.find(bad[1]) != std::string::npos) << run.err;
  }
  EXPECT_FALSE(std::filesystem::exists(dir.File("x.png")));
}

TEST(GenerateCommand, BudgetBelowTheMinimumIsRefusedNamingTheMinimum) {
  ScratchDir dir;
  const CliRun small = GenerateLocal({"--budget", "1MiB"}, dir.File("c.png"));
  EXPECT_EQ(small.code, ExitCodeFor(absl::ResourceExhaustedError(""))) << small.err;
  EXPECT_NE(small.err.find("below this job's minimum"), std::string::npos) << small.err;
  EXPECT_FALSE(std::filesystem::exists(dir.File("c.png")));
}

TEST(GenerateCommand, MissingAndCorruptModelFilesExit1NamingTheFile) {
  ScratchDir dir;
  const CliRun missing = GenerateLocal({}, dir.File("m.png"), dir.File("no-such-model"));
  EXPECT_EQ(missing.code, ExitCodeFor(absl::NotFoundError(""))) << missing.err;
  EXPECT_NE(missing.err.find("no-such-model"), std::string::npos) << missing.err;

  // A copy of the demo model whose VAE is garbage.
  const std::string model = dir.File("model");
  std::filesystem::copy(SharedDemoModelDir(), model);
  std::ofstream(model + "/ae.safetensors", std::ios::trunc) << "garbage";
  const CliRun corrupt = GenerateLocal({}, dir.File("n.png"), model);
  EXPECT_EQ(corrupt.code, ExitCodeFor(absl::DataLossError(""))) << corrupt.err;
  EXPECT_NE(corrupt.err.find("ae.safetensors"), std::string::npos) << corrupt.err;
  EXPECT_FALSE(std::filesystem::exists(dir.File("n.png")));
}

}  // namespace
}  // namespace streamdit::server::cli
