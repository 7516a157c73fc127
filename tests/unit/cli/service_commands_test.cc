// `streamdit serve`, `generate --server`, `status` and `models` (server/cli/service/): the serve
// command's refusals exit by their status naming the key or the folder; then one server in this
// process (Serve on a thread, on a free loopback port) answers the client commands as a user calls
// them: a PNG and a summary, progress lines, readable tables, a bad request exiting 2 naming the
// field, an unreachable server exiting 1.
#include <gtest/gtest.h>

#include <filesystem>
#include <memory>

#include "cli_test_support.h"
#include "engine/device/cuda_devices.h"
#include "served_test_support.h"
#include "server/cli/exit_code.h"

#if STREAMDIT_CLI_SERVICE

namespace streamdit::server::cli {
namespace {

using testing::Cli;
using testing::CliRun;
using testing::DemoConfigYaml;
using testing::InProcessServer;
using testing::ReadFile;
using testing::ScratchDir;
using testing::SharedDemoModelDir;
using testing::WriteText;

TEST(ServeCommand, ABadConfigurationExits2NamingTheKey) {
  ScratchDir dir;
  WriteText(dir.File("bad.yaml"),
            "listen: 127.0.0.1:0\ndevices:\n  - name: cpu:0\n    budget: lots\n"
            "models:\n  - name: m\n    dir: model\n");
  const CliRun run = Cli({"--config", dir.File("bad.yaml"), "serve"});
  EXPECT_EQ(run.code, kExitUsage) << run.err;
  EXPECT_NE(run.err.find("devices[0].budget"), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("lots"), std::string::npos) << run.err;
}

TEST(ServeCommand, ACudaDeviceOnAMachineWithoutOneExits2NamingTheDeviceAndTheReason) {
  if (engine::DiscoverCudaDevices().ok()) GTEST_SKIP() << "this machine has a CUDA device";
  ScratchDir dir;
  WriteText(dir.File("gpu.yaml"),
            "listen: 127.0.0.1:0\ndevices:\n  - name: cuda:0\n    budget: 90%\n"
            "models:\n  - name: m\n    dir: model\n");
  const CliRun run = Cli({"--config", dir.File("gpu.yaml"), "serve"});
  EXPECT_EQ(run.code, kExitUsage) << run.err;
  EXPECT_NE(run.err.find("cuda:0"), std::string::npos) << run.err;
  // The CUDA runtime's own reason, e.g. "cudaGetDeviceCount: cudaErrorNoDevice (...)".
  EXPECT_NE(run.err.find("cudaGetDeviceCount"), std::string::npos) << run.err;
}

TEST(ServeCommand, ABadFlagExits2NamingTheFlag) {
  ScratchDir dir;
  WriteText(dir.File("c.yaml"), DemoConfigYaml(SharedDemoModelDir()));
  const CliRun run = Cli({"--config", dir.File("c.yaml"), "serve", "--grace-period", "soon"});
  EXPECT_EQ(run.code, kExitUsage) << run.err;
  EXPECT_NE(run.err.find("--grace-period"), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("soon"), std::string::npos) << run.err;
}

TEST(ServeCommand, AMissingModelFolderExits1NamingIt) {
  ScratchDir dir;
  WriteText(dir.File("c.yaml"),
            DemoConfigYaml(dir.File("no-such-model"), "    create_demo: false\n"));
  const CliRun run = Cli({"--config", dir.File("c.yaml"), "serve"});
  EXPECT_EQ(run.code, ExitCodeFor(absl::NotFoundError(""))) << run.err;
  EXPECT_NE(run.err.find("no-such-model"), std::string::npos) << run.err;
}

class ServedCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = new InProcessServer(DemoConfigYaml(SharedDemoModelDir()));
  }
  static void TearDownTestSuite() {
    EXPECT_TRUE(server_->Stop().ok());  // a clean drain
    delete server_;
    server_ = nullptr;
  }
  static std::string Address() { return server_->address(); }

  static InProcessServer* server_;
};

InProcessServer* ServedCli::server_ = nullptr;

TEST_F(ServedCli, GenerateWritesThePngAndASummary) {
  ScratchDir dir;
  const CliRun run = Cli({"generate", "--server", Address(), "--prompt", "a quiet harbour",
                          "--seed", "3", "--out", dir.File("a.png")});
  ASSERT_EQ(run.code, 0) << run.err;
  EXPECT_EQ(ReadFile(dir.File("a.png")).substr(0, 8), "\x89PNG\r\n\x1a\n");
  EXPECT_NE(run.out.find("wrote " + dir.File("a.png") + " (64x64, seed 3)"), std::string::npos)
      << run.out;
  EXPECT_NE(run.out.find("device cpu:0, queued "), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("budget "), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("denoise "), std::string::npos) << run.out;
  // Not a terminal: plain progress lines on stderr.
  EXPECT_NE(run.err.find("queued at position 0\n"), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("step 1/2"), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("step 2/2"), std::string::npos) << run.err;
  EXPECT_EQ(run.err.find('\r'), std::string::npos) << run.err;
}

TEST_F(ServedCli, GenerateBatchWritesOnePngPerImageWithConsecutiveSeeds) {
  ScratchDir dir;
  const CliRun run = Cli({"generate", "--server", Address(), "--prompt", "a quiet harbour",
                          "--seed", "7", "--batch", "2", "--out", dir.File("b.png")});
  ASSERT_EQ(run.code, 0) << run.err;
  EXPECT_FALSE(std::filesystem::exists(dir.File("b.png")));
  EXPECT_NE(run.out.find("wrote " + dir.File("b-0.png") + " (64x64, seed 7)"), std::string::npos)
      << run.out;
  EXPECT_NE(run.out.find("wrote " + dir.File("b-1.png") + " (64x64, seed 8)"), std::string::npos)
      << run.out;
}

TEST_F(ServedCli, StatusAndModelsPrintTheDeviceAndTheModel) {
  const CliRun status = Cli({"status", "--server", Address()});
  ASSERT_EQ(status.code, 0) << status.err;
  EXPECT_NE(status.out.find("serving"), std::string::npos) << status.out;
  EXPECT_NE(status.out.find("cpu:0"), std::string::npos) << status.out;
  EXPECT_NE(status.out.find("4 GiB"), std::string::npos) << status.out;  // the budget

  const CliRun models = Cli({"models", "--server", Address()});
  ASSERT_EQ(models.code, 0) << models.err;
  EXPECT_NE(models.out.find("flux1-demo"), std::string::npos) << models.out;
  EXPECT_NE(models.out.find("64x64"), std::string::npos) << models.out;
}

TEST_F(ServedCli, ABadRequestExits2NamingTheField) {
  ScratchDir dir;
  const CliRun run = Cli({"generate", "--server", Address(), "--prompt", "x", "--width", "100",
                          "--out", dir.File("c.png")});
  EXPECT_EQ(run.code, kExitUsage) << run.err;
  EXPECT_NE(run.err.find("width"), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("100"), std::string::npos) << run.err;
  EXPECT_FALSE(std::filesystem::exists(dir.File("c.png")));

  const CliRun model = Cli({"generate", "--server", Address(), "--prompt", "x", "--model",
                            "no-such-model", "--out", dir.File("c.png")});
  EXPECT_EQ(model.code, ExitCodeFor(absl::NotFoundError(""))) << model.err;
  EXPECT_NE(model.err.find("no-such-model"), std::string::npos) << model.err;
}

TEST_F(ServedCli, LocalFlagsAreRefusedWithServer) {
  const CliRun run = Cli({"generate", "--server", Address(), "--budget", "1GiB", "--prompt", "x"});
  EXPECT_EQ(run.code, kExitUsage) << run.err;
  EXPECT_NE(run.err.find("--budget"), std::string::npos) << run.err;
  EXPECT_EQ(Cli({"generate", "--tls-ca", "ca.pem", "--prompt", "x"}).code, kExitUsage);
}

TEST(ClientCommands, AnUnreachableServerExits1NamingIt) {
  ScratchDir dir;
  // Nothing listens on port 1 of the loopback (a privileged port no test binds).
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"generate", "--server", "127.0.0.1:1", "--prompt", "x", "--out", dir.File("d.png")},
           {"status", "--server", "127.0.0.1:1"},
           {"models", "--server", "127.0.0.1:1"}}) {
    const CliRun run = Cli(args);
    EXPECT_EQ(run.code, ExitCodeFor(absl::UnavailableError(""))) << args[0] << ": " << run.err;
    EXPECT_NE(run.err.find("127.0.0.1:1"), std::string::npos) << run.err;
  }
  EXPECT_FALSE(std::filesystem::exists(dir.File("d.png")));
}

TEST(ClientCommands, TheDefaultAddressIsTheConfiguredListenAddressOnLoopback) {
  ScratchDir dir;
  // Port 0 in the file cannot be dialled: the error names the address read from the file.
  std::string yaml = DemoConfigYaml(SharedDemoModelDir());
  yaml.replace(yaml.find("127.0.0.1:0"), 11, "0.0.0.0:1");
  WriteText(dir.File("c.yaml"), yaml);
  const CliRun run = Cli({"--config", dir.File("c.yaml"), "status"});
  EXPECT_EQ(run.code, ExitCodeFor(absl::UnavailableError(""))) << run.err;
  EXPECT_NE(run.err.find("server 127.0.0.1:1:"), std::string::npos) << run.err;
}

}  // namespace
}  // namespace streamdit::server::cli

#endif  // STREAMDIT_CLI_SERVICE
