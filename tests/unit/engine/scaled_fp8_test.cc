// ComfyUI's scaled fp8 files (flux1-dev-fp8-scaled, t5xxl_fp8_e4m3fn_scaled) through the engine,
// written from the demo model's bf16 transformer and fp16 T5 by
// tests/reference/scaled_fp8_writer.py with PyTorch's float8_e4m3fn cast (never the engine's
// encoder), in three model folders that share the demo's CLIP, VAE and tokenizers:
//   scaled       every matmul weight as e4m3 codes with its "*.scale_weight" and the
//                "scaled_fp8" marker;
//   unscaled     the same codes without the scales: what a loader that ignores them computes;
//   dequantized  codes x scale as F32: the model the scaled files must reproduce.
// (1) the loaded weights keep their fp8 codes (1 byte a weight) and decode to exactly the
//     dequantized values; (2) the scaled folder's image equals the dequantized folder's within 1
//     grey level and stays near the bf16 source's, while the unscaled folder's does not.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>

#include "engine/checkpoint/checkpoint.h"
#include "engine/demo/demo_model.h"
#include "engine/flux/flux_transformer.h"
#include "engine/pipeline/flux_pipeline.h"
#include "engine/text/t5_encoder.h"
#include "pipeline_test_support.h"
#include "tests/support/png_pixels.h"
#include "tests/support/python_reference.h"

namespace streamdit::engine {
namespace {

using pipeline_testing::PipelineScratchDir;
using pipeline_testing::SharedDemoModelDir;

constexpr char kScaledT5[] = "t5xxl_fp8_e4m3fn_scaled.safetensors";
constexpr char kUnscaledT5[] = "t5xxl_fp8_e4m3fn.safetensors";
constexpr char kDequantizedT5[] = "t5xxl_fp32.safetensors";

struct ScaledFolders {
  PipelineScratchDir scaled, unscaled, dequantized;
};

// Written once per test binary (the writer takes a few seconds), removed at exit.
const ScaledFolders& SharedScaledFolders() {
  static ScaledFolders folders;
  static const bool written = [] {
    namespace fs = std::filesystem;
    const std::string demo = SharedDemoModelDir();
    auto write = [](const std::string& source, const std::string& scaled,
                    const std::string& unscaled, const std::string& dequantized) {
      using test_support::ShellQuote;
      test_support::RunPythonReference("scaled_fp8_writer.py",
                                       ShellQuote(source) + " " + ShellQuote(scaled) + " " +
                                           ShellQuote(unscaled) + " " + ShellQuote(dequantized));
    };
    write(demo + "/" + kDemoTransformerFile, folders.scaled.File(kDemoTransformerFile),
          folders.unscaled.File(kDemoTransformerFile),
          folders.dequantized.File(kDemoTransformerFile));
    write(demo + "/" + kDemoT5File, folders.scaled.File(kScaledT5),
          folders.unscaled.File(kUnscaledT5), folders.dequantized.File(kDequantizedT5));
    for (const PipelineScratchDir* dir :
         {&folders.scaled, &folders.unscaled, &folders.dequantized}) {
      for (const char* name :
           {kDemoAeFile, kDemoClipFile, "spiece.model", "vocab.json", "merges.txt"}) {
        fs::copy_file(fs::path(demo) / name, dir->File(name));
      }
    }
    return true;
  }();
  (void)written;
  return folders;
}

// Every scaled weight of `file`: its codes (one byte a weight) and the file's scale, decoding to
// exactly the dequantized file's value. Returns how many.
int ExpectDecodesToDequantized(const std::string& file, const std::string& dequantized_file) {
  const Checkpoint scaled = Checkpoint::Open(file);
  const Checkpoint dequantized = Checkpoint::Open(dequantized_file);
  int count = 0;
  for (const std::string& name : scaled.Names()) {
    const TensorRef ref = scaled.Require(name);
    if (ref.info->dtype != DType::kF8E4M3 || name == "scaled_fp8") continue;
    ++count;
    const StoredTensor stored = ViewStored(ref);
    const std::string scale_name = name.substr(0, name.size() - 6) + "scale_weight";
    EXPECT_EQ(stored.scale, ViewTensor(scaled.Require(scale_name)).item<float>()) << name;
    EXPECT_EQ(stored.nbytes(), stored.numel()) << name << ": one byte a weight";
    EXPECT_TRUE(torch::equal(Materialize(stored, torch::kFloat, torch::kCPU),
                             ViewTensor(dequantized.Require(name))))
        << name;
  }
  return count;
}

// How many tensors of the loaded model are held as scaled fp8 codes.
int ScaledTensors(const std::vector<const WeightBlock*>& blocks) {
  int count = 0;
  for (const WeightBlock* block : blocks) {
    for (const auto& [name, tensor] : block->tensors) {
      count += tensor.dtype == DType::kF8E4M3 && tensor.scale != 1.0f;
    }
  }
  return count;
}

TEST(ScaledFp8, TransformerAndT5KeepTheirCodesAndDecodeWithTheirScales) {
  const ScaledFolders& folders = SharedScaledFolders();
  const int transformer = ExpectDecodesToDequantized(
      folders.scaled.File(kDemoTransformerFile), folders.dequantized.File(kDemoTransformerFile));
  const int t5 = ExpectDecodesToDequantized(folders.scaled.File(kScaledT5),
                                            folders.dequantized.File(kDequantizedT5));
  EXPECT_GT(transformer, 0);
  EXPECT_GT(t5, 0);
  // The loaders keep every one of them as codes with its scale (none converted on the way).
  const FluxTransformer flux =
      FluxTransformer::Load(Checkpoint::Open(folders.scaled.File(kDemoTransformerFile)));
  EXPECT_EQ(ScaledTensors(flux.weights().AllBlocks()), transformer);
  const T5Encoder encoder = T5Encoder::Load(Checkpoint::Open(folders.scaled.File(kScaledT5)));
  std::vector<const WeightBlock*> t5_blocks;
  for (const WeightBlock& block : encoder.blocks()) t5_blocks.push_back(&block);
  EXPECT_EQ(ScaledTensors(t5_blocks), t5);
}

double MeanLevelDifference(const std::string& png_a, const std::string& png_b) {
  const std::vector<uint8_t> a = test_support::DecodeRgb8(png_a);
  const std::vector<uint8_t> b = test_support::DecodeRgb8(png_b);
  double sum = 0;
  for (std::size_t i = 0; i < a.size(); ++i) sum += std::abs(int(a[i]) - int(b[i]));
  return sum / static_cast<double>(a.size());
}

PipelineConfig ScaledTestConfig(const std::string& directory) {
  PipelineConfig config = pipeline_testing::SmallDemoConfig(directory);
  config.prompt_cache_bytes = 0;
  return config;
}

TEST(ScaledFp8, ImageMatchesTheDequantizedModelAndTheSourceButNotTheUnscaledCodes) {
  const ScaledFolders& folders = SharedScaledFolders();
  const GenerationRequest request = pipeline_testing::MakeRequest("a scaled lighthouse", 11);
  auto image = [&](const std::string& directory) {
    const FluxPipeline pipeline = FluxPipeline::Load(ScaledTestConfig(directory));
    return pipeline.Generate(request, ExecutionTarget::Cpu()).png[0];
  };
  const std::string scaled = image(folders.scaled.path());
  const std::string dequantized = image(folders.dequantized.path());
  const std::string source = image(SharedDemoModelDir());
  const std::string unscaled = image(folders.unscaled.path());

  const test_support::PixelDifference exact = test_support::ComparePixels(scaled, dequantized);
  EXPECT_LE(exact.max_level, 1) << "share differing " << exact.share;
  // fp8 e4m3 keeps 3 mantissa bits (up to 6% off per weight): near the bf16/fp16 source, not
  // equal. Ignoring the scales multiplies every weight by 1 / scale (thousands): nowhere near.
  const double from_source = MeanLevelDifference(scaled, source);
  const double unscaled_from_source = MeanLevelDifference(unscaled, source);
  constexpr double kFp8Tolerance = 8.0;  // mean grey levels of 255
  EXPECT_LE(from_source, kFp8Tolerance);
  EXPECT_GT(unscaled_from_source, kFp8Tolerance) << "ignoring the scales must be visible";
  std::printf("scaled vs dequantized: max %d; mean level vs source: scaled %.2f, unscaled %.2f\n",
              exact.max_level, from_source, unscaled_from_source);
}

}  // namespace
}  // namespace streamdit::engine
