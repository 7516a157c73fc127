#pragma once

// Helpers for the CLIP tests: the shared scratch folder and Python runner (tests/support/), and
// reading a text file such as the training corpus.

#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

#include "tests/support/python_reference.h"
#include "tests/support/scratch_dir.h"

namespace streamdit::engine::clip_testing {

using test_support::RunPythonReference;
using test_support::ScratchDir;
using test_support::SourcePath;

inline std::string ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  std::ostringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

}  // namespace streamdit::engine::clip_testing
