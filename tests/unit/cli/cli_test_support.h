// Running `streamdit` commands in tests: in-process through RunCli (what the binary's main calls),
// or the built binary itself in another working directory; a scratch folder; and the demo model
// written once per test binary (from the corpus compiled into the engine).
#pragma once

#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/demo/demo_model.h"
#include "server/cli/cli.h"
#include "tests/support/build_paths.h"
#include "tests/support/file_bytes.h"
#include "tests/support/scratch_dir.h"

namespace streamdit::server::cli::testing {

struct CliRun {
  int code = -1;
  std::string out, err;
};

// `streamdit ARGS...` in this process.
inline CliRun Cli(const std::vector<std::string>& args) {
  std::ostringstream out, err;
  CliRun run;
  run.code = RunCli(args, out, err);
  run.out = out.str();
  run.err = err.str();
  return run;
}

// The suites' scratch folder and whole-file reads (tests/support/).
class ScratchDir : public test_support::ScratchDir {
 public:
  ScratchDir() : test_support::ScratchDir("streamdit_cli") {}
};
using test_support::ReadFile;

// The demo model, written on first use and shared by every test of the binary, removed at exit
// (ctest runs each test in its own process: a folder left behind per test would fill the disk).
inline const std::string& SharedDemoModelDir() {
  static const std::string path = [] {
    static const ScratchDir created;
    engine::WriteDemoModel(created.path());
    return created.path();
  }();
  return path;
}

// `generate --local` on a model folder (the shared demo model by default) at the test size: the
// prompt "a quiet harbour", 64x64, 2 steps, `extra` flags appended.
inline CliRun GenerateLocal(const std::vector<std::string>& extra, const std::string& out_path,
                            const std::string& model_dir = SharedDemoModelDir()) {
  std::vector<std::string> args = {
      "generate", "--local",  "--model-dir", model_dir, "--prompt", "a quiet harbour", "--width",
      "64",       "--height", "64",          "--steps", "2",        "--out",           out_path};
  args.insert(args.end(), extra.begin(), extra.end());
  return Cli(args);
}

// The built binary (cli_tests depends on it).
inline std::string StreamditBinary() {
  return std::string(build_paths::BinaryDir()) + "/server/streamdit";
}

// Runs the binary with `args` (already shell-quoted) in `cwd`; stdout and stderr go to
// `cwd`/streamdit.log. Returns the exit code.
inline int RunBinaryIn(const std::string& cwd, const std::string& args) {
  const std::string command =
      "cd '" + cwd + "' && '" + StreamditBinary() + "' " + args + " > streamdit.log 2>&1";
  const int status = std::system(command.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace streamdit::server::cli::testing
