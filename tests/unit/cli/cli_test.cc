// The `streamdit` command line as a whole: --help on every command, parse errors, the debug
// command's errors, and the built binary writing the demo model from a folder that is not the
// repository (the corpus is compiled in).
#include <gtest/gtest.h>

#include <filesystem>

#include "cli_test_support.h"
#include "server/cli/exit_code.h"
#include "server/cli/flux_forward_command.h"

namespace streamdit::server::cli {
namespace {

using testing::Cli;
using testing::CliRun;
using testing::ScratchDir;

TEST(Cli, HelpOnEveryCommandExits0) {
  std::vector<std::vector<std::string>> commands = {
      {"--help"},          {"generate", "--help"},
      {"plan", "--help"},  {"demo-model", "--help"},
      {"debug", "--help"}, {"debug", "flux-forward", "--help"}};
#if STREAMDIT_CLI_SERVICE
  for (const char* command : {"serve", "status", "models"}) commands.push_back({command, "--help"});
#endif
  for (const std::vector<std::string>& args : commands) {
    const CliRun run = Cli(args);
    EXPECT_EQ(run.code, 0) << args[0] << ": " << run.err;
    EXPECT_NE(run.out.find("Usage:"), std::string::npos) << run.out;
  }
  EXPECT_NE(Cli({"plan", "--help"}).out.find("--model-dir"), std::string::npos);
  EXPECT_NE(Cli({"generate", "--help"}).out.find("--batch"), std::string::npos);
#if STREAMDIT_CLI_SERVICE
  EXPECT_NE(Cli({"generate", "--help"}).out.find("--server"), std::string::npos);
  EXPECT_NE(Cli({"serve", "--help"}).out.find("--grace-period"), std::string::npos);
#endif
}

TEST(Cli, NoOrUnknownCommandIsAParseError) {
  EXPECT_EQ(Cli({}).code, kExitUsage);
  const CliRun unknown = Cli({"paint"});
  EXPECT_EQ(unknown.code, kExitUsage);
  EXPECT_NE(unknown.err.find("paint"), std::string::npos) << unknown.err;
  EXPECT_EQ(Cli({"debug"}).code, kExitUsage);
}

TEST(Cli, ExplicitConfigThatDoesNotExistIsNamed) {
  ScratchDir dir;
  const CliRun run =
      Cli({"--config", dir.File("none.yaml"), "generate", "--out", dir.File("x.png")});
  EXPECT_EQ(run.code, ExitCodeFor(absl::NotFoundError("")));
  EXPECT_NE(run.err.find("none.yaml"), std::string::npos) << run.err;
}

TEST(FluxForwardCommand, MissingFlagsAndFilesExitByTheirStatus) {
  ScratchDir dir;
  std::ostringstream out, err;
  EXPECT_EQ(RunFluxForwardCommand({"--inputs", "a", "--out", "b"}, out, err), kExitUsage);
  EXPECT_NE(err.str().find("--model"), std::string::npos) << err.str();
  std::ostringstream out2, err2;
  EXPECT_EQ(RunFluxForwardCommand(
                {"--model", dir.File("none.safetensors"), "--inputs", "a", "--out", dir.File("b")},
                out2, err2),
            ExitCodeFor(absl::NotFoundError("")));
  EXPECT_NE(err2.str().find("none.safetensors"), std::string::npos) << err2.str();
  std::ostringstream out3, err3;
  EXPECT_EQ(RunFluxForwardCommand({"--model", "m", "--inputs", "a", "--out", "b", "--dtype", "x"},
                                  out3, err3),
            kExitUsage);
}

TEST(DemoModelCommand, TheBinaryWritesTheDemoModelFromAnyFolder) {
  ScratchDir cwd;  // not the repository: no assets/ here
  ASSERT_EQ(testing::RunBinaryIn(cwd.path(), "demo-model model"), 0)
      << testing::ReadFile(cwd.File("streamdit.log"));
  for (const char* file : {"flux1-demo.safetensors", "ae.safetensors", "t5xxl_fp16.safetensors",
                           "clip_l.safetensors", "spiece.model", "vocab.json", "merges.txt"}) {
    EXPECT_GT(std::filesystem::file_size(cwd.File(std::string("model/") + file)), 0u) << file;
  }
  // The same bytes as the shared demo model written in-process (deterministic).
  EXPECT_EQ(testing::ReadFile(cwd.File("model/merges.txt")),
            testing::ReadFile(testing::SharedDemoModelDir() + "/merges.txt"));
}

TEST(DemoModelCommand, ErrorsExitByTheirStatus) {
  ScratchDir dir;
  EXPECT_EQ(Cli({"demo-model"}).code, kExitUsage);  // DIR missing
  const CliRun corpus = Cli({"demo-model", dir.File("m"), "--corpus", dir.File("no-corpus.txt")});
  EXPECT_EQ(corpus.code, ExitCodeFor(absl::NotFoundError("")));
  EXPECT_NE(corpus.err.find("no-corpus.txt"), std::string::npos) << corpus.err;
}

}  // namespace
}  // namespace streamdit::server::cli
