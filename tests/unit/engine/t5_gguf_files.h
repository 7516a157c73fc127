// The demo model's T5 encoder as llama.cpp's GGUF files are laid out, written by the PyPI `gguf`
// package's name map, writer and quantizer (tests/reference/t5_gguf_writer.py), with gguf's own
// dequantization of the same weights as an F32 safetensors file under HF's names.
#pragma once

#include <map>
#include <sstream>
#include <string>
#include <utility>

#include "engine/demo/demo_model.h"
#include "pipeline_test_support.h"
#include "tests/support/python_reference.h"

namespace streamdit::engine::pipeline_testing {

// Runs the writer on the demo T5: `gguf_path` in `type` and `arch`, and gguf's dequantization as
// F32 safetensors. Returns the script's report: gguf name -> (GGML type name, stored bytes).
inline std::map<std::string, std::pair<std::string, int64_t>> WriteGgufT5(
    const std::string& gguf_path, const std::string& type, const std::string& dequantized_path,
    const std::string& arch = "t5encoder") {
  const std::string source = SharedDemoModelDir() + "/" + kDemoT5File;
  const std::string report = test_support::RunPythonReference(
      "t5_gguf_writer.py", test_support::ShellQuote(source) + " " +
                               test_support::ShellQuote(gguf_path) + " " + type + " " +
                               test_support::ShellQuote(dequantized_path) + " " + arch);
  std::map<std::string, std::pair<std::string, int64_t>> stored;
  std::istringstream lines(report);
  std::string name, stored_type;
  int64_t bytes = 0;
  while (lines >> name >> stored_type >> bytes) stored[name] = {stored_type, bytes};
  return stored;
}

}  // namespace streamdit::engine::pipeline_testing
