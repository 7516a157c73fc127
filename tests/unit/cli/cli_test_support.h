// Running `streamdit` commands in tests: in-process through RunCli (what the binary's main calls),
// or the built binary itself in another working directory; a scratch folder; and the demo model
// written once per test binary (from the corpus compiled into the engine).
#pragma once

#include <stdlib.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/demo/demo_model.h"
#include "server/cli/cli.h"

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

// A fresh folder under the system temp dir, removed with everything in it at destruction.
class ScratchDir {
 public:
  ScratchDir() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "streamdit_cli_XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~ScratchDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  std::string path() const { return path_.string(); }
  std::string File(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// The demo model, written on first use and shared by every test of the binary (never removed
// before exit: tests use it to the end).
inline const std::string& SharedDemoModelDir() {
  static const std::string path = [] {
    auto* created = new ScratchDir();
    engine::WriteDemoModel(created->path());
    return created->path();
  }();
  return path;
}

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::ostringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

// The built binary (cli_tests depends on it).
inline std::string StreamditBinary() {
  return std::string(STREAMDIT_BINARY_DIR) + "/server/streamdit";
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
