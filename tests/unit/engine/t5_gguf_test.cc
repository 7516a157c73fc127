// T5 encoders in llama.cpp's GGUF layout (city96's t5-v1_1-xxl-encoder-Q8_0.gguf and siblings), on
// files written by PyPI's `gguf` package with its own name map, writer and quantizer
// (tests/reference/t5_gguf_writer.py; never by the engine):
//   (1) every llama.cpp name maps to the HF name gguf's own TensorNameMap gives it;
//   (2) the encoder loads from the .gguf with its matmul weights and embedding table kept in their
//       blocks (the bytes gguf wrote) and encodes exactly as the same encoder with gguf's own
//       dequantization stored as F32 safetensors;
//   (3) a model folder with the .gguf in place of t5xxl_fp16.safetensors generates the image of
//       the dequantized model, resident and streamed at the minimum budget;
//   (4) a GGUF of another architecture is a CheckpointError naming the file and the key.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>

#include "engine/checkpoint/checkpoint.h"
#include "engine/checkpoint/checkpoint_error.h"
#include "engine/memory/cpu_memory_meter.h"
#include "engine/pipeline/flux_pipeline.h"
#include "engine/text/t5_encoder.h"
#include "engine/text/t5_gguf_names.h"
#include "t5_gguf_files.h"
#include "tests/support/png_pixels.h"

namespace streamdit::engine {
namespace {

using pipeline_testing::PipelineScratchDir;
using pipeline_testing::SharedDemoModelDir;

using pipeline_testing::WriteGgufT5;

constexpr char kGgufT5File[] = "t5-v1_1-xxl-encoder-Q8_0.gguf";

// Two model folders sharing the demo's transformer, CLIP, VAE and tokenizers: `gguf` with the T5
// as kGgufT5File, `dequantized` with gguf's dequantization of it as t5xxl_fp16.safetensors.
struct GgufT5Folders {
  PipelineScratchDir gguf;
  PipelineScratchDir dequantized;
  std::map<std::string, std::pair<std::string, int64_t>> stored;
};

const GgufT5Folders& SharedGgufT5Folders() {
  static const GgufT5Folders* folders = [] {
    static GgufT5Folders made;  // removed at exit
    made.stored = WriteGgufT5(made.gguf.path() + "/" + kGgufT5File, "Q8_0",
                              made.dequantized.path() + "/" + kDemoT5File);
    namespace fs = std::filesystem;
    for (const std::string& dir : {made.gguf.path(), made.dequantized.path()}) {
      for (const char* name : {kDemoTransformerFile, kDemoAeFile, kDemoClipFile, "spiece.model",
                               "vocab.json", "merges.txt"}) {
        fs::copy_file(fs::path(SharedDemoModelDir()) / name, fs::path(dir) / name);
      }
    }
    return &made;
  }();
  return *folders;
}

TEST(T5GgufNames, EveryLlamaCppNameMapsToTheHfNameOfGgufsOwnNameMap) {
  // gguf's TensorNameMap (the converter's) names these HF tensors so: the file below holds them
  // under those names, and each must come back to its HF name.
  const GgufT5Folders& folders = SharedGgufT5Folders();
  const Checkpoint hf = Checkpoint::Open(folders.dequantized.path() + "/" + kDemoT5File);
  const Checkpoint gguf = Checkpoint::Open(folders.gguf.path() + "/" + kGgufT5File);
  ASSERT_EQ(gguf.size(), hf.size());
  for (const std::string& name : gguf.Names()) {
    const std::string mapped = HfT5NameOf(name);
    EXPECT_TRUE(hf.Has(mapped)) << name << " -> '" << mapped << "'";
  }
  for (const char* other : {"dec.blk.0.attn_q.weight", "output.weight", "enc.blk.x.attn_q.weight",
                            "enc.blk.-1.attn_q.weight", "enc.blk.0.attn_qq.weight", "enc.blk.0"}) {
    EXPECT_EQ(HfT5NameOf(other), "") << other;
  }
}

TEST(T5Gguf, KeepsTheStoredBlocksAndEncodesAsTheDequantizedEncoder) {
  const GgufT5Folders& folders = SharedGgufT5Folders();
  const T5Encoder gguf = T5Encoder::Load(Checkpoint::Open(folders.gguf.path() + "/" + kGgufT5File));
  const T5Encoder reference =
      T5Encoder::Load(Checkpoint::Open(folders.dequantized.path() + "/" + kDemoT5File));
  EXPECT_EQ(gguf.config().num_layers, reference.config().num_layers);
  EXPECT_EQ(gguf.config().d_ff, reference.config().d_ff);

  int64_t held = 0, written = 0, quantized = 0, quantized_in_file = 0;
  for (const WeightBlock& block : gguf.blocks()) {
    held += block.nbytes();
    for (const auto& [name, stored] : block.tensors) quantized += stored.blocks.has_value();
  }
  for (const auto& [name, stored] : folders.stored) {
    written += stored.second;
    quantized_in_file += stored.first == "Q8_0";
  }
  EXPECT_EQ(held, written) << "the host tier holds what gguf wrote, nothing decoded";
  EXPECT_GT(quantized_in_file, 0);
  EXPECT_EQ(quantized, quantized_in_file);

  const torch::Tensor ids =
      torch::randint(0, gguf.config().vocab_size, {2, 24}, torch::TensorOptions(torch::kLong));
  DirectWeightProvider gguf_weights(torch::kFloat, torch::kCPU);
  DirectWeightProvider reference_weights(torch::kFloat, torch::kCPU);
  EXPECT_TRUE(
      torch::equal(gguf.Forward(ids, gguf_weights), reference.Forward(ids, reference_weights)));
}

TEST(T5Gguf, ModelFolderGeneratesTheDequantizedModelsImage) {
  const GgufT5Folders& folders = SharedGgufT5Folders();
  CpuMemoryMeter::Install();
  auto config = [](const std::string& dir) {
    PipelineConfig c = pipeline_testing::SmallDemoConfig(dir);
    c.prompt_cache_bytes = 0;
    return c;
  };
  const FluxPipeline gguf = FluxPipeline::Load(config(folders.gguf.path()));
  ASSERT_EQ(gguf.config().paths.t5,
            std::vector<std::string>{folders.gguf.path() + "/" + kGgufT5File});
  const FluxPipeline reference = FluxPipeline::Load(config(folders.dequantized.path()));
  const GenerationRequest request =
      pipeline_testing::MakeRequest("a lighthouse encoded from GGUF", 3, 64, 64, 2);
  const GenerationResult expected = reference.Generate(request, ExecutionTarget::Cpu());
  const GenerationResult resident = gguf.Generate(request, ExecutionTarget::Cpu());
  EXPECT_TRUE(torch::equal(resident.images, expected.images));

  JobMemoryOptions memory;
  memory.budget_bytes =
      gguf.PlanMemory(resident.request, torch::kCPU, std::nullopt).minimum_budget_bytes();
  const GenerationResult streamed = gguf.Generate(request, ExecutionTarget::Cpu(), {}, memory);
  EXPECT_TRUE(torch::equal(streamed.images, expected.images));
  EXPECT_GT(streamed.memory.streamed_bytes, 0);
  EXPECT_LE(streamed.memory.measured_peak(), *memory.budget_bytes);
}

TEST(T5Gguf, AnotherArchitectureNamesFileAndKey) {
  PipelineScratchDir dir;
  const std::string path = dir.path() + "/t5-v1_1-xxl-encoder-llama.gguf";
  WriteGgufT5(path, "Q8_0", dir.path() + "/unused.safetensors", "llama");
  try {
    T5Encoder::Load(Checkpoint::Open(path));
    FAIL() << "a GGUF of architecture llama must be refused";
  } catch (const CheckpointError& e) {
    EXPECT_EQ(e.code(), CheckpointError::Code::kUnrecognizedLayout) << e.what();
    EXPECT_EQ(e.file(), path);
    EXPECT_EQ(e.tensor(), "general.architecture");
    EXPECT_NE(std::string(e.what()).find("llama"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace streamdit::engine
