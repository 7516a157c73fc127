// `streamdit plan` on a full-size FLUX.1 dev layout: a sparse safetensors file with every tensor
// of flux1-dev.safetensors at its real shape and dtype (bf16) and no data. The plan reads only
// the header, so it answers at once for a 24 GB model.
#include "engine/tools/plan_command.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <regex>
#include <sstream>

#include "engine/checkpoint/safetensors.h"
#include "engine/flux/flux_config.h"
#include "engine/flux/flux_weights.h"
#include "engine/tools/flag_values.h"

namespace streamdit::engine {
namespace {

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

  struct Outcome {
    int code;
    std::string out, err;
  };
  static Outcome Plan(const std::string& budget, const std::string& storage = "bf16") {
    std::ostringstream out, err;
    const int code =
        RunPlanCommand({"--model", *path_, "--budget", budget, "--width", "1024", "--height",
                        "1024", "--storage", storage, "--bandwidth", "25", "--tflops", "400"},
                       out, err);
    return {code, out.str(), err.str()};
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
    const Outcome outcome = Plan(std::to_string(gib) + "GiB");
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
  const Outcome outcome = Plan("1GiB");
  EXPECT_EQ(outcome.code, 1);
  EXPECT_NE(outcome.err.find("below this job's minimum of"), std::string::npos) << outcome.err;
  EXPECT_TRUE(outcome.out.empty());
}

TEST_F(PlanCommandTest, BadArgumentsAreNamed) {
  std::ostringstream out, err;
  EXPECT_EQ(RunPlanCommand({"--model", *path_, "--budget", "lots"}, out, err), 2);
  EXPECT_NE(err.str().find("--budget"), std::string::npos) << err.str();
  std::ostringstream out2, err2;
  EXPECT_EQ(RunPlanCommand({"--model", "/nonexistent.safetensors", "--budget", "8GiB"}, out2, err2),
            2);
  EXPECT_NE(err2.str().find("/nonexistent.safetensors"), std::string::npos) << err2.str();
}

TEST(ParseByteSize, BinaryAndDecimalUnits) {
  EXPECT_EQ(ParseByteSize("--budget", "24GiB"), 24ll << 30);
  EXPECT_EQ(ParseByteSize("--budget", "24G"), 24ll << 30);
  EXPECT_EQ(ParseByteSize("--budget", "24GB"), 24000000000ll);
  EXPECT_EQ(ParseByteSize("--budget", "512MiB"), 512ll << 20);
  EXPECT_EQ(ParseByteSize("--budget", "1.5GiB"), 3ll << 29);
  EXPECT_EQ(ParseByteSize("--budget", "1048576"), 1048576);
  EXPECT_THROW(ParseByteSize("--budget", "-1G"), std::invalid_argument);
  EXPECT_THROW(ParseByteSize("--budget", "12 parsecs"), std::invalid_argument);
  EXPECT_THROW(ParseByteSize("--budget", ""), std::invalid_argument);
}

}  // namespace
}  // namespace streamdit::engine
