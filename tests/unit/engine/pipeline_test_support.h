// Shared by the pipeline tests: one demo model written once per test binary into a scratch
// folder, a small pipeline config over it, and a PNG chunk reader (independent of the writer).
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>

#include "engine/demo/demo_model.h"
#include "engine/pipeline/generation_request.h"
#include "engine/pipeline/model_paths.h"
#include "tests/support/file_bytes.h"
#include "tests/support/python_reference.h"
#include "tests/support/scratch_dir.h"

namespace streamdit::engine::pipeline_testing {

using test_support::SourcePath;

// The engine tests' scratch folder (tests/support/scratch_dir.h), under its old name.
using PipelineScratchDir = test_support::ScratchDir;

// The demo model (default sizes, the shipped corpus), written on first use and shared by every
// test of the binary: writing it takes a second or two.
inline const std::string& SharedDemoModelDir() {
  // Removed at exit, after every test (and the static pipelines over it) is done: ctest runs each
  // test in its own process, so a folder left behind would cost ~36 MB per test and fill the disk.
  static const std::string path = [] {
    static const PipelineScratchDir created;
    WriteDemoModel(created.path(), SourcePath("assets/demo_corpus.txt"));
    return created.path();
  }();
  return path;
}

// A fast configuration of the demo model: short T5 sequence, f32 compute.
inline PipelineConfig SmallDemoConfig(const std::string& directory) {
  PipelineConfig config;
  config.paths = FindModelFiles(directory);
  config.model_name = "flux1-demo";
  config.t5_max_length = 32;
  config.default_steps = 2;
  config.default_width = 64;
  config.default_height = 64;
  return config;
}

using test_support::ReadFile;
using test_support::WriteFile;

// A request at the test sizes (64x64, 2 steps unless given); the pipeline tests each fill it
// their way.
inline GenerationRequest MakeRequest(const std::string& prompt, uint64_t seed, int width = 64,
                                     int height = 64, int steps = 2, int images = 1,
                                     std::optional<double> guidance = std::nullopt) {
  GenerationRequest request;
  request.prompt = prompt;
  request.seed = seed;
  request.width = width;
  request.height = height;
  request.steps = steps;
  request.batch_size = images;
  request.guidance = guidance;
  return request;
}

// The chunks of a PNG file as (type, payload), read by the format's definition: 8-byte signature,
// then big-endian length, 4-byte type, payload, CRC. Throws on a malformed file.
struct PngInfo {
  uint32_t width = 0;
  uint32_t height = 0;
  std::map<std::string, std::string> text;  // tEXt keyword -> value
};

inline uint32_t BigEndian32(const std::string& bytes, std::size_t at) {
  return (uint32_t(uint8_t(bytes[at])) << 24) | (uint32_t(uint8_t(bytes[at + 1])) << 16) |
         (uint32_t(uint8_t(bytes[at + 2])) << 8) | uint32_t(uint8_t(bytes[at + 3]));
}

inline PngInfo ReadPngInfo(const std::string& png) {
  static const std::string kSignature = "\x89PNG\r\n\x1a\n";
  if (png.compare(0, kSignature.size(), kSignature) != 0) throw std::runtime_error("no signature");
  PngInfo info;
  std::size_t at = kSignature.size();
  bool ended = false;
  while (!ended) {
    if (at + 12 > png.size()) throw std::runtime_error("truncated chunk");
    const uint32_t length = BigEndian32(png, at);
    const std::string type = png.substr(at + 4, 4);
    if (at + 12 + length > png.size()) throw std::runtime_error("chunk past the end");
    const std::string payload = png.substr(at + 8, length);
    if (type == "IHDR") {
      info.width = BigEndian32(payload, 0);
      info.height = BigEndian32(payload, 4);
    } else if (type == "tEXt") {
      const std::size_t nul = payload.find('\0');
      info.text[payload.substr(0, nul)] = payload.substr(nul + 1);
    } else if (type == "IEND") {
      ended = true;
    }
    at += 12 + length;
  }
  return info;
}

}  // namespace streamdit::engine::pipeline_testing
