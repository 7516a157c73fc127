// Helpers shared by the T5 tests: a scratch folder and running the Python references in
// tests/reference/ with Debian's python3 (numpy, sentencepiece).
#pragma once

#include <stdlib.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <stdexcept>
#include <string>

namespace streamdit::engine::t5_testing {

inline constexpr const char* kPython = "/usr/bin/python3";

inline std::string SourcePath(const std::string& relative) {
  return std::string(STREAMDIT_SOURCE_DIR) + "/" + relative;
}

// A fresh folder under the system temp dir, removed with everything in it at destruction.
class ScratchDir {
 public:
  ScratchDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "streamdit_t5_XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~ScratchDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  std::string File(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// Single-quotes `text` for the shell.
inline std::string ShellQuote(const std::string& text) {
  std::string quoted = "'";
  for (char c : text) {
    if (c == '\'') {
      quoted += "'\\''";
    } else {
      quoted += c;
    }
  }
  return quoted + "'";
}

// Runs `/usr/bin/python3 tests/reference/<script> <args>` and returns its stdout; throws with the
// command when it exits non-zero (the script's stderr goes to the test log).
inline std::string RunPython(const std::string& script, const std::string& args) {
  const std::string command =
      std::string(kPython) + " " + ShellQuote(SourcePath("tests/reference/" + script)) + " " + args;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) throw std::runtime_error("popen failed: " + command);
  std::string output;
  std::array<char, 4096> buffer;
  std::size_t n = 0;
  while ((n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0) output.append(buffer.data(), n);
  const int status = pclose(pipe);
  if (status != 0) {
    throw std::runtime_error("reference failed (status " + std::to_string(status) +
                             "): " + command);
  }
  return output;
}

}  // namespace streamdit::engine::t5_testing
