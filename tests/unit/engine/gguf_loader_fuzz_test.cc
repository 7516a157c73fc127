// Damaged GGUF model files through the loaders a user's file meets (FluxTransformer::Load for
// city96's transformer layout, T5Encoder::Load for llama.cpp's T5 layout), then every weight
// decoded: each damaged file either loads and decodes or is refused with CheckpointError naming
// the file, or StatusError (a tensor whose bytes do not fit its shape); never a crash, a hang or
// another exception. The reader alone is fuzzed under ASan (tests/unit/checkpoint/
// gguf_fuzz_test.cc); this carries the same damage past it into the layouts' shape and name
// checks, with files written by PyPI's `gguf` (fixed seeds, so a failure names its case).
#include <gtest/gtest.h>

#include <functional>
#include <random>
#include <string>
#include <vector>

#include "engine/checkpoint/checkpoint.h"
#include "engine/checkpoint/checkpoint_error.h"
#include "engine/checkpoint/gguf_file.h"
#include "engine/flux/flux_transformer.h"
#include "engine/status/status_error.h"
#include "engine/text/t5_encoder.h"
#include "gguf_flux_files.h"
#include "t5_gguf_files.h"

namespace streamdit::engine {
namespace {

using pipeline_testing::PipelineScratchDir;

constexpr int kCasesPerFile = 120;

// Damages the header region (metadata and tensor infos, where the layouts' names, shapes, types
// and offsets live): random bytes, numbers set to edge values, or a cut anywhere in the file.
std::string Damage(const std::string& bytes, uint64_t header_bytes, std::mt19937_64& rng) {
  std::string damaged = bytes;
  std::uniform_int_distribution<uint64_t> in_header(0, header_bytes - 1);
  switch (rng() % 3) {
    case 0:
      for (int i = 0, n = 1 + static_cast<int>(rng() % 4); i < n; ++i) {
        damaged[in_header(rng)] = static_cast<char>(rng() & 0xff);
      }
      break;
    case 1: {
      constexpr uint64_t kEdges[] = {0,     1,         3, 0xffffffffull, 0x7fffffffffffffffull,
                                     ~0ull, 1ull << 40};
      const uint64_t value = kEdges[rng() % (sizeof(kEdges) / sizeof(kEdges[0]))];
      const uint64_t at = in_header(rng) & ~uint64_t{3};
      for (int b = 0; b < 8 && at + b < damaged.size(); ++b) {
        damaged[at + b] = static_cast<char>((value >> (8 * b)) & 0xff);
      }
      break;
    }
    default:
      damaged.resize(rng() % damaged.size());
      break;
  }
  return damaged;
}

// Loads with `load` (which also decodes every weight) every damaged variant of `path`.
void FuzzLoader(const std::string& path, const std::string& name,
                const std::function<std::vector<const WeightBlock*>(const Checkpoint&)>& load) {
  const std::string bytes = pipeline_testing::ReadFile(path);
  const uint64_t header_bytes = GgufFile::Open(path)->data_offset();
  ASSERT_GT(header_bytes, 0u);
  PipelineScratchDir dir;
  const std::string damaged_path = dir.path() + "/" + name;
  int loaded = 0, refused = 0;
  for (int c = 0; c < kCasesPerFile; ++c) {
    std::mt19937_64 rng(7919 * c + 1);
    pipeline_testing::WriteFile(damaged_path, Damage(bytes, header_bytes, rng));
    SCOPED_TRACE(name + " case " + std::to_string(c));
    try {
      for (const WeightBlock* block : load(Checkpoint::Open(damaged_path))) {
        DirectWeightProvider(torch::kFloat, torch::kCPU).Acquire(*block);
        for (const auto& [tensor, stored] : block->tensors) {
          (void)Materialize(stored, torch::kFloat, torch::kCPU);
        }
      }
      ++loaded;
    } catch (const CheckpointError& e) {
      EXPECT_NE(e.file().find(damaged_path), std::string::npos) << e.what();
      ++refused;
    } catch (const StatusError&) {
      ++refused;  // e.g. a tensor's bytes that do not fit its shape, named by the status
    } catch (const std::exception& e) {
      ADD_FAILURE() << "unexpected exception type: " << e.what();
    }
  }
  std::printf("%s: %d damaged files loaded, %d refused\n", name.c_str(), loaded, refused);
  EXPECT_GT(refused, kCasesPerFile / 4) << "the damage reached no check";
}

TEST(GgufLoaderFuzz, FluxTransformerLayout) {
  const auto& model = pipeline_testing::SharedGgufDemoModel("Q8_0");
  FuzzLoader(model.gguf_path, "flux1-demo-Q8_0.gguf", [](const Checkpoint& checkpoint) {
    static std::vector<FluxTransformer> keep;  // the blocks point into the transformer
    keep.clear();
    keep.push_back(FluxTransformer::Load(checkpoint));
    return keep.back().weights().AllBlocks();
  });
}

TEST(GgufLoaderFuzz, T5LlamaCppLayout) {
  PipelineScratchDir dir;
  const std::string path = dir.path() + "/t5-v1_1-xxl-encoder-Q8_0.gguf";
  pipeline_testing::WriteGgufT5(path, "Q8_0", dir.path() + "/unused.safetensors");
  FuzzLoader(path, "t5-v1_1-xxl-encoder-Q8_0.gguf", [](const Checkpoint& checkpoint) {
    static std::vector<T5Encoder> keep;
    keep.clear();
    keep.push_back(T5Encoder::Load(checkpoint));
    std::vector<const WeightBlock*> blocks;
    for (const WeightBlock& block : keep.back().blocks()) blocks.push_back(&block);
    return blocks;
  });
}

}  // namespace
}  // namespace streamdit::engine
