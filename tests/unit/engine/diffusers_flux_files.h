// A FLUX folder written by diffusers' own FluxPipeline.save_pretrained
// (tests/reference/diffusers_flux_folder.py: tiny random components, float32, the transformer and
// T5 in shards with their .index.json, tokenizers as transformers 5 saves them) with the demo
// model's trained tokenizers, and diffusers' FluxPipeline run on it. Written once per test binary,
// removed at exit (like SharedDemoModelDir).
#pragma once

#include <string>

#include "pipeline_test_support.h"
#include "tests/support/python_reference.h"

namespace streamdit::engine::pipeline_testing {

inline const std::string& SharedDiffusersFluxDir() {
  static const std::string path = [] {
    static const PipelineScratchDir created;
    test_support::RunPythonReference("diffusers_flux_folder.py",
                                     "write " + test_support::ShellQuote(created.path()) + " " +
                                         test_support::ShellQuote(SharedDemoModelDir()) +
                                         " >/dev/null");
    return created.path();
  }();
  return path;
}

// What diffusers' FluxPipeline made of one request on `model_dir`, given the engine's initial noise
// for `seed` as its latents.
struct DiffusersImage {
  std::string png;         // diffusers' PIL image (its rounding to 8 bits)
  std::string image_path;  // safetensors: "image" F32 [3, H, W] in [0, 1], before that rounding
};

inline DiffusersImage RunDiffusersFluxPipeline(const std::string& model_dir,
                                               const std::string& out_dir,
                                               const std::string& prompt, uint64_t seed, int width,
                                               int height, int steps, double guidance,
                                               int t5_length) {
  DiffusersImage image;
  const std::string png_path = out_dir + "/diffusers.png";
  image.image_path = out_dir + "/diffusers.safetensors";
  test_support::RunPythonReference(
      "diffusers_flux_folder.py",
      "generate " + test_support::ShellQuote(model_dir) + " " + test_support::ShellQuote(prompt) +
          " " + std::to_string(seed) + " " + std::to_string(width) + " " + std::to_string(height) +
          " " + std::to_string(steps) + " " + std::to_string(guidance) + " " +
          std::to_string(t5_length) + " " + test_support::ShellQuote(png_path) + " " +
          test_support::ShellQuote(image.image_path));
  image.png = ReadFile(png_path);
  return image;
}

}  // namespace streamdit::engine::pipeline_testing
