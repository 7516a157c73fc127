// `streamdit generate --local` with a memory budget: the job runs within it and reports the
// measured peak beside the predicted one; a budget below the minimum or an unreadable size is a
// clear error with exit code 2, and no image is written.
#include "engine/tools/generate_command.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <regex>
#include <sstream>

#include "engine/tools/plan_command.h"
#include "pipeline_test_support.h"

namespace streamdit::engine {
namespace {

using pipeline_testing::PipelineScratchDir;
using pipeline_testing::SharedDemoModelDir;

struct CommandRun {
  int code;
  std::string out, err;
};

CommandRun Generate(const std::vector<std::string>& extra, const std::string& out_path) {
  std::vector<std::string> args = {"--local",
                                   "--model-dir",
                                   SharedDemoModelDir(),
                                   "--prompt",
                                   "a quiet harbour",
                                   "--width",
                                   "64",
                                   "--height",
                                   "64",
                                   "--steps",
                                   "2",
                                   "--out",
                                   out_path};
  args.insert(args.end(), extra.begin(), extra.end());
  std::ostringstream out, err;
  const int code = RunGenerateCommand(args, out, err);
  return {code, out.str(), err.str()};
}

TEST(GenerateCommand, BudgetedRunReportsAMeasuredPeakWithinTheBudget) {
  PipelineScratchDir dir;
  const CommandRun run = Generate({"--budget", "64MiB"}, dir.File("a.png"));
  ASSERT_EQ(run.code, 0) << run.err;
  EXPECT_TRUE(std::filesystem::exists(dir.File("a.png")));
  std::smatch m;
  const std::regex memory(
      R"(memory: budget ([0-9.]+) MiB, predicted peak ([0-9.]+) MiB, measured peak ([0-9.]+) MiB)");
  ASSERT_TRUE(std::regex_search(run.out, m, memory)) << run.out;
  EXPECT_DOUBLE_EQ(std::stod(m[1]), 64.0);
  EXPECT_LE(std::stod(m[3]), 64.0);
  EXPECT_GE(std::stod(m[2]) + 0.05, std::stod(m[3]));  // printed to 0.1 MiB

  // The same image as without a budget.
  const CommandRun plain = Generate({}, dir.File("b.png"));
  ASSERT_EQ(plain.code, 0) << plain.err;
  EXPECT_EQ(pipeline_testing::ReadFile(dir.File("a.png")),
            pipeline_testing::ReadFile(dir.File("b.png")));
}

TEST(GenerateCommand, BudgetBelowTheMinimumOrUnreadableIsRefused) {
  PipelineScratchDir dir;
  const CommandRun small = Generate({"--budget", "1MiB"}, dir.File("c.png"));
  EXPECT_EQ(small.code, 2);
  EXPECT_NE(small.err.find("below this job's minimum"), std::string::npos) << small.err;
  EXPECT_FALSE(std::filesystem::exists(dir.File("c.png")));
  const CommandRun bad = Generate({"--budget", "plenty"}, dir.File("d.png"));
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.err.find("--budget"), std::string::npos) << bad.err;
  const CommandRun storage = Generate({"--storage", "fp4"}, dir.File("e.png"));
  EXPECT_EQ(storage.code, 2);
  EXPECT_NE(storage.err.find("fp4"), std::string::npos) << storage.err;
}

}  // namespace
}  // namespace streamdit::engine
