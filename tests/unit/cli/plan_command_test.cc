// `streamdit plan` on a full-size FLUX.1 dev layout: a sparse safetensors file with every tensor
// of flux1-dev.safetensors at its real shape and dtype (bf16) and no data. The plan reads only
// the header, so it answers at once for a 24 GB model. Each kind of error exits with the code
// server/cli/exit_code.h maps its status to.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>

#include "cli_test_support.h"
#include "engine/checkpoint/safetensors.h"
#include "engine/flux/flux_config.h"
#include "engine/flux/flux_weights.h"
#include "server/cli/exit_code.h"

namespace streamdit::server::cli {
namespace {

using engine::DType;
using engine::FluxConfig;
using engine::SafetensorsWriter;
using engine::TensorInfo;
using testing::Cli;
using testing::CliRun;

class PlanCommandTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    path_ = new std::string(
        (std::filesystem::temp_directory_path() /
         ("streamdit_plan_flux1_dev_" + std::to_string(::getpid()) + ".safetensors"))
            .string());
    const FluxConfig dev;  // FLUX.1 dev: hidden 3072, 19 double + 38 single blocks, guidance
    std::vector<TensorInfo> infos;
    uint64_t offset = 0;
    for (const auto& [name, shape] : FluxTensorShapes(dev)) {
      TensorInfo info;
      info.name = name;
      info.dtype = DType::kBF16;
      info.shape = shape;
      int64_t numel = 1;
      for (int64_t d : shape) numel *= d;
      info.begin = offset;
      info.end = offset + static_cast<uint64_t>(numel) * 2;
      offset = info.end;
      infos.push_back(info);
    }
    total_bytes_ = static_cast<int64_t>(offset);
    SafetensorsWriter::WriteSparse(*path_, infos, {});
  }
  static void TearDownTestSuite() {
    std::filesystem::remove(*path_);
    delete path_;
  }

  static CliRun Plan(const std::string& budget, const std::string& storage = "bf16") {
    return Cli({"plan", "--model-dir", *path_, "--budget", budget, "--width", "1024", "--height",
                "1024", "--storage", storage, "--bandwidth", "25", "--tflops", "400"});
  }
  // The transformer line: resident blocks, total blocks, streamed GB per step, predicted peak.
  struct TransformerLine {
    int resident = -1, blocks = -1;
    double streamed_gb = -1, peak_gib = -1;
  };
  static TransformerLine Parse(const std::string& out) {
    static const std::regex line(
        R"(transformer: (\d+)/(\d+) blocks resident .*streamed per step ([0-9.]+) GB.*predicted peak ([0-9.]+) GiB)");
    std::smatch m;
    TransformerLine parsed;
    if (std::regex_search(out, m, line)) {
      parsed.resident = std::stoi(m[1]);
      parsed.blocks = std::stoi(m[2]);
      parsed.streamed_gb = std::stod(m[3]);
      parsed.peak_gib = std::stod(m[4]);
    }
    return parsed;
  }

  static std::string* path_;
  static int64_t total_bytes_;
};

std::string* PlanCommandTest::path_ = nullptr;
int64_t PlanCommandTest::total_bytes_ = 0;

TEST_F(PlanCommandTest, FullSizeDevAt24To8GiBFillsTheBudgetAndStaysUnderIt) {
  // 19 double + 38 single blocks, their modulation, embedders, final layer and its modulation.
  const int blocks = 19 * 2 + 38 * 2 + 2 + 2;
  TransformerLine previous;
  for (int gib : {24, 16, 12, 8}) {
    const CliRun outcome = Plan(std::to_string(gib) + "GiB");
    ASSERT_EQ(outcome.code, 0) << outcome.err;
    const TransformerLine line = Parse(outcome.out);
    SCOPED_TRACE(std::to_string(gib) + " GiB:\n" + outcome.out);
    ASSERT_EQ(line.blocks, blocks);
    EXPECT_LE(line.peak_gib, gib);
    // Filling, not merely respecting: the budget is mostly used.
    EXPECT_GT(line.peak_gib, gib * 0.85);
    if (previous.resident >= 0) {
      EXPECT_LE(line.resident, previous.resident);
      EXPECT_GE(line.streamed_gb, previous.streamed_gb);
    }
    previous = line;
  }
  // At 8 GiB most of the 23.8 GB streams every step, but not all of it.
  EXPECT_GT(previous.streamed_gb, 10.0);
  EXPECT_LT(previous.streamed_gb, total_bytes_ / 1e9);
}

TEST_F(PlanCommandTest, Fp8StorageStreamsAboutHalfTheBytes) {
  const TransformerLine bf16 = Parse(Plan("8GiB", "bf16").out);
  const TransformerLine fp8 = Parse(Plan("8GiB", "fp8").out);
  ASSERT_GT(bf16.streamed_gb, 0);
  // Half the bytes per block, and more of them fit: less than half is streamed.
  EXPECT_LT(fp8.streamed_gb, bf16.streamed_gb * 0.5);
  EXPECT_GT(fp8.resident, bf16.resident);
}

TEST_F(PlanCommandTest, BudgetBelowTheMinimumNamesTheMinimum) {
  const CliRun outcome = Plan("1GiB");
  EXPECT_EQ(outcome.code, ExitCodeFor(absl::ResourceExhaustedError("")));
  EXPECT_NE(outcome.err.find("below this job's minimum of"), std::string::npos) << outcome.err;
  EXPECT_TRUE(outcome.out.empty());
}

TEST_F(PlanCommandTest, TheOldModelFlagStillWorks) {
  const CliRun outcome =
      Cli({"plan", "--model", *path_, "--budget", "16GiB", "--bandwidth", "25", "--tflops", "400"});
  ASSERT_EQ(outcome.code, 0) << outcome.err;
  EXPECT_GT(Parse(outcome.out).resident, 0) << outcome.out;
}

TEST_F(PlanCommandTest, BadFlagValuesExit2NamingTheFlag) {
  for (const std::vector<std::string>& bad :
       std::vector<std::vector<std::string>>{{"--budget", "lots"},
                                             {"--budget", "8GiB", "--width", "8"},
                                             {"--budget", "8GiB", "--steps", "x"},
                                             {"--budget", "8GiB", "--dtype", "fp4"},
                                             {"--budget", "8GiB", "--tflops", "0"},
                                             {"--budget", "8GiB", "--frobnicate", "1"}}) {
    std::vector<std::string> args = {"plan", "--model-dir", *path_};
    args.insert(args.end(), bad.begin(), bad.end());
    const CliRun run = Cli(args);
    EXPECT_EQ(run.code, kExitUsage) << bad[bad.size() - 2];
    EXPECT_NE(run.err.find(bad[bad.size() - 2]), std::string::npos) << run.err;
  }
  // Neither --model-dir nor --budget.
  EXPECT_EQ(Cli({"plan", "--budget", "8GiB"}).code, kExitUsage);
  EXPECT_EQ(Cli({"plan", "--model-dir", *path_}).code, kExitUsage);
}

TEST_F(PlanCommandTest, MissingAndCorruptModelFilesExit1NamingTheFile) {
  const CliRun missing = Cli({"plan", "--model-dir", "/nonexistent.safetensors", "--budget", "8GiB",
                              "--bandwidth", "25", "--tflops", "400"});
  EXPECT_EQ(missing.code, ExitCodeFor(absl::NotFoundError("")));
  EXPECT_NE(missing.err.find("/nonexistent.safetensors"), std::string::npos) << missing.err;

  testing::ScratchDir dir;
  const std::string corrupt = dir.File("corrupt.safetensors");
  std::ofstream(corrupt) << "not a safetensors file at all";
  const CliRun bad = Cli(
      {"plan", "--model-dir", corrupt, "--budget", "8GiB", "--bandwidth", "25", "--tflops", "400"});
  EXPECT_EQ(bad.code, ExitCodeFor(absl::DataLossError("")));
  EXPECT_NE(bad.err.find(corrupt), std::string::npos) << bad.err;
}

}  // namespace
}  // namespace streamdit::server::cli
