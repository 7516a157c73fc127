// The demo model's transformer as city96's FLUX GGUF files are laid out, written by the PyPI `gguf`
// package's writer and quantizer (tests/reference/flux_gguf_writer.py; K-quants by our numpy
// encoder, tests/reference/kquant_encoder.py), in two model folders that share the demo's encoders,
// VAE and tokenizers:
//   gguf_dir       flux1-demo-<TYPE>.gguf (block weights in TYPE, the rest BF16 / F32)
//   reference_dir  flux1-demo.safetensors holding gguf's own dequantization of the same weights
//                  as F32: the model the GGUF one must reproduce.
// Written once per test binary and type, removed at exit (like SharedDemoModelDir).
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <sstream>
#include <string>

#include "engine/demo/demo_model.h"
#include "pipeline_test_support.h"
#include "tests/support/python_reference.h"

namespace streamdit::engine::pipeline_testing {

struct GgufFluxModel {
  std::string gguf_dir;
  std::string gguf_path;
  std::string reference_dir;
  // What the file stores, as gguf's reader reads it back: name -> (GGML type name, stored bytes).
  std::map<std::string, std::pair<std::string, int64_t>> stored;
};

// Copies the demo model's files other than the transformer into `directory`.
inline void CopyDemoCompanions(const std::string& demo_dir, const std::string& directory) {
  namespace fs = std::filesystem;
  for (const char* name :
       {kDemoAeFile, kDemoT5File, kDemoClipFile, "spiece.model", "vocab.json", "merges.txt"}) {
    fs::copy_file(fs::path(demo_dir) / name, fs::path(directory) / name,
                  fs::copy_options::overwrite_existing);
  }
}

// Runs the writer on the demo transformer: `gguf_path` in `type` (optionally of another
// architecture) and the dequantized F32 reference. Returns the script's per-tensor report.
inline std::map<std::string, std::pair<std::string, int64_t>> WriteGgufTransformer(
    const std::string& gguf_path, const std::string& type, const std::string& dequantized_path,
    const std::string& arch = "flux") {
  const std::string source = SharedDemoModelDir() + "/" + kDemoTransformerFile;
  const std::string report = test_support::RunPythonReference(
      "flux_gguf_writer.py", test_support::ShellQuote(source) + " " +
                                 test_support::ShellQuote(gguf_path) + " " + type + " " +
                                 test_support::ShellQuote(dequantized_path) + " " + arch);
  std::map<std::string, std::pair<std::string, int64_t>> stored;
  std::istringstream lines(report);
  std::string name, stored_type;
  int64_t bytes = 0;
  while (lines >> name >> stored_type >> bytes) stored[name] = {stored_type, bytes};
  return stored;
}

inline const GgufFluxModel& SharedGgufDemoModel(const std::string& type) {
  static std::map<std::string, GgufFluxModel> models;
  static std::vector<std::unique_ptr<PipelineScratchDir>> dirs;  // removed at exit
  auto it = models.find(type);
  if (it != models.end()) return it->second;
  dirs.push_back(std::make_unique<PipelineScratchDir>());
  const std::string gguf_dir = dirs.back()->path();
  dirs.push_back(std::make_unique<PipelineScratchDir>());
  const std::string reference_dir = dirs.back()->path();
  GgufFluxModel model;
  model.gguf_dir = gguf_dir;
  model.gguf_path = gguf_dir + "/flux1-demo-" + type + ".gguf";
  model.reference_dir = reference_dir;
  model.stored =
      WriteGgufTransformer(model.gguf_path, type, reference_dir + "/" + kDemoTransformerFile);
  CopyDemoCompanions(SharedDemoModelDir(), gguf_dir);
  CopyDemoCompanions(SharedDemoModelDir(), reference_dir);
  return models.emplace(type, std::move(model)).first->second;
}

}  // namespace streamdit::engine::pipeline_testing
