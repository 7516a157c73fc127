// Running the Python references in tests/reference/ (the virtual environment's python3 with numpy,
// sentencepiece and torch: STREAMDIT_PYTHON, through tests/support/build_paths.h)
// from a test: the one place that builds the command line and checks the exit status.
#pragma once

#include <stdio.h>

#include <array>
#include <stdexcept>
#include <string>

#include "tests/support/build_paths.h"
namespace streamdit::test_support {

inline const char* const kPython = build_paths::Python();

// `relative` (e.g. "tests/reference/t5_encoder_reference.py") inside the source tree.
inline std::string SourcePath(const std::string& relative) {
  return std::string(build_paths::SourceDir()) + "/" + relative;
}

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

// Runs `python3 tests/reference/<script> <args>` and returns its stdout; the script's stderr goes
// to the test log. Throws std::runtime_error naming the command and its exit status when it cannot
// start or exits non-zero, which fails the calling test. `args` must be shell-safe (scratch paths
// and numbers) or quoted with ShellQuote.
inline std::string RunPythonReference(const std::string& script, const std::string& args) {
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

}  // namespace streamdit::test_support
