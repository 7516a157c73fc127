// City96's FLUX GGUF layout through the engine, on files written by PyPI's `gguf` writer and
// quantizer (tests/reference/flux_gguf_writer.py; never by the engine), the K-quants by our own
// numpy encoder (tests/reference/kquant_encoder.py, which gguf 0.19 lacks; its round trip through
// gguf's dequantizer is checked here), every reference value by gguf's dequantizer:
//   (1) the transformer loads from the .gguf with every block weight kept in its GGML blocks: the
//       host tier holds, and a plan streams, exactly the bytes the file stores (4.5 bits per
//       weight for Q4_0, 2.625 for Q2_K), and a block's plan counts one decoded layer, not all of
//       them; its forward pass agrees with the float64 reference (flux_reference.py) on gguf's
//       dequantized weights to float32 rounding;
//   (2) the whole pipeline (model folder with flux1-demo-<TYPE>.gguf) gives the image of the same
//       model with gguf's own dequantization stored as F32 safetensors, within 1 grey level, with
//       all weights resident and streamed at the minimum budget, for Q8_0, Q4_0, Q4_1, Q5_0, Q5_1,
//       Q2_K, Q3_K, Q4_K, Q5_K, Q6_K and BF16 block weights (the demo's block weights all have rows
//       of 256-element super-blocks, so every one of them is a K-quant in the K files);
//   (3) a malformed GGUF transformer (another architecture, a truncated file) is a CheckpointError
//       naming the file and the field.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "engine/checkpoint/checkpoint.h"
#include "engine/checkpoint/checkpoint_error.h"
#include "engine/checkpoint/gguf_types.h"
#include "engine/flux/flux_transformer.h"
#include "engine/memory/allocation_bytes.h"
#include "engine/memory/cpu_memory_meter.h"
#include "engine/pipeline/flux_pipeline.h"
#include "engine/streaming/residency_plan.h"
#include "flux_test_support.h"
#include "gguf_flux_files.h"
#include "server/cli/flux_forward_command.h"
#include "tests/support/png_pixels.h"
#include "tests/support/python_reference.h"

namespace streamdit::engine {
namespace {

using pipeline_testing::GgufFluxModel;
using pipeline_testing::SharedGgufDemoModel;

int64_t Rounded64(int64_t bytes) { return (bytes + 63) / 64 * 64; }

// ggml's block geometry (block_q4_0 ... block_q6_K in ggml-common.h: elements, bytes), written out
// here rather than read from gguf_types.h, the table under test.
struct BlockGeometry {
  int64_t elements;
  int64_t bytes;
};
const std::map<std::string, BlockGeometry>& GgmlBlocks() {
  static const std::map<std::string, BlockGeometry> blocks = {
      {"Q4_0", {32, 18}},   {"Q2_K", {256, 84}},  {"Q3_K", {256, 110}},
      {"Q4_K", {256, 144}}, {"Q5_K", {256, 176}}, {"Q6_K", {256, 210}}};
  return blocks;
}

TEST(GgufFlux, KQuantEncoderRoundTripsThroughGgufsDequantizer) {
  // Exits non-zero (failing the test) when a type's bytes have the wrong size, its relative RMS
  // error through gguf.quants.dequantize exceeds its bound, or zeros / a lone value come back
  // wrong; prints each type's error.
  const std::string report = test_support::RunPythonReference("kquant_encoder.py", "--self-check");
  std::printf("%s", report.c_str());
  for (const char* type : {"Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"}) {
    EXPECT_NE(report.find(type), std::string::npos) << report;
  }
}

class GgufFluxStored : public ::testing::TestWithParam<std::string> {};

TEST_P(GgufFluxStored, TransformerKeepsTheStoredBlocksAndTheirBytes) {
  const std::string type_name = GetParam();
  const BlockGeometry geometry = GgmlBlocks().at(type_name);
  const GgufFluxModel& model = SharedGgufDemoModel(type_name);
  const FluxTransformer transformer = FluxTransformer::Load(Checkpoint::Open(model.gguf_path));
  const FluxWeights& weights = transformer.weights();

  int64_t held = 0, written = 0;
  for (const WeightBlock* block : weights.AllBlocks()) held += block->nbytes();
  for (const auto& [name, stored] : model.stored) written += stored.second;
  EXPECT_EQ(held, written) << "the host tier holds what gguf wrote, nothing decoded";

  // Every weight the file stores quantized (as gguf's reader reads the file back) is held as its
  // blocks (the modulation weights sit in blocks of their own, beside the double and single
  // blocks).
  int quantized_in_file = 0;
  for (const auto& [name, stored] : model.stored) quantized_in_file += stored.first == type_name;
  int quantized = 0;
  for (const std::vector<WeightBlock>* blocks :
       {&weights.double_modulation, &weights.double_blocks, &weights.single_modulation,
        &weights.single_blocks}) {
    for (const WeightBlock& block : *blocks) {
      // "double_blocks.0.modulation" holds "img_mod.lin.weight" of "double_blocks.0".
      std::string prefix = block.name;
      const std::string modulation = ".modulation";
      if (prefix.size() > modulation.size() &&
          prefix.compare(prefix.size() - modulation.size(), modulation.size(), modulation) == 0) {
        prefix.resize(prefix.size() - modulation.size());
      }
      int64_t slot_bytes = 0;
      int64_t largest_layer = 0;
      for (const auto& [name, tensor] : block.tensors) {
        const auto& [type, bytes] = model.stored.at(prefix + "." + name);
        EXPECT_EQ(tensor.nbytes(), bytes) << block.name << "." << name;
        slot_bytes += Rounded64(bytes);
        if (type == type_name) {
          ++quantized;
          ASSERT_TRUE(tensor.blocks.has_value()) << name;
          EXPECT_EQ(GgmlTypeName(*tensor.blocks), type_name);
          EXPECT_EQ(tensor.dim(), 2);
          // Q4_0: 18 bytes per 32 weights, 4.5 bits each; Q2_K: 84 per 256, 2.625 bits.
          EXPECT_EQ(tensor.nbytes() * geometry.elements, tensor.numel() * geometry.bytes) << name;
          largest_layer =
              std::max(largest_layer, AllocationBytes(tensor.numel(), torch::kFloat, torch::kCPU));
        } else {
          EXPECT_EQ(type, "F32") << name << ": 1-D tensors stay F32";
        }
      }
      const std::vector<PlannedBlock> planned =
          DescribeBlocks({&block}, {}, torch::kFloat, torch::kCPU);
      EXPECT_EQ(planned[0].storage_bytes, slot_bytes) << block.name << " streams as stored";
      // f32 1-D tensors need no decode; the matmul weights are decoded one at a time.
      EXPECT_EQ(planned[0].compute_bytes, largest_layer) << block.name;
    }
  }
  EXPECT_GT(quantized, 0);
  EXPECT_EQ(quantized, quantized_in_file) << "every block weight the writer quantized";
}

INSTANTIATE_TEST_SUITE_P(Types, GgufFluxStored,
                         ::testing::Values("Q4_0", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"),
                         [](const auto& info) { return info.param; });

// The transformer alone, read from the .gguf, against the independent float64 reference
// (tests/reference/flux_reference.py) run on gguf's own dequantization of the same file: in f32
// compute they agree to float32 rounding, so every block decodes to the values gguf means.
class GgufFluxForward : public ::testing::TestWithParam<std::string> {};

TEST_P(GgufFluxForward, MatchesTheFloat64ReferenceOnTheDequantizedWeights) {
  const GgufFluxModel& model = SharedGgufDemoModel(GetParam());
  pipeline_testing::PipelineScratchDir scratch;
  const std::string dir = scratch.path();
  const std::string dequantized = model.reference_dir + "/" + kDemoTransformerFile;
  const std::string inputs = dir + "/inputs.safetensors";
  testing_support::WriteRandomFluxInputs(inputs, InferFluxConfig(Checkpoint::Open(dequantized)),
                                         /*batch=*/2, /*rows=*/3, /*cols=*/4, /*txt_len=*/5, 11);
  std::ostringstream out, err;
  ASSERT_EQ(
      server::cli::RunFluxForwardCommand({"--model", model.gguf_path, "--inputs", inputs, "--out",
                                          dir + "/ours.safetensors", "--dtype", "f32"},
                                         out, err),
      0)
      << err.str();
  testing_support::RunReference("forward " + dequantized + " " + inputs + " " + dir +
                                "/ref.safetensors");
  const torch::Tensor ours =
      ViewTensor(Checkpoint::Open(dir + "/ours.safetensors").Require("pred")).clone();
  const torch::Tensor ref =
      ViewTensor(Checkpoint::Open(dir + "/ref.safetensors").Require("pred")).clone();
  ASSERT_EQ(ours.sizes(), ref.sizes());
  const double error = testing_support::RelativeError(ours, ref);
  EXPECT_LE(error, 1e-5);
  std::printf("%s: relative error %.3g against the float64 reference\n", GetParam().c_str(), error);
}

INSTANTIATE_TEST_SUITE_P(Types, GgufFluxForward,
                         ::testing::Values("Q8_0", "Q4_1", "Q5_0", "Q2_K", "Q3_K", "Q4_K", "Q5_K",
                                           "Q6_K"),
                         [](const auto& info) { return info.param; });

PipelineConfig GgufTestConfig(const std::string& directory) {
  PipelineConfig config = pipeline_testing::SmallDemoConfig(directory);
  config.prompt_cache_bytes = 0;
  return config;
}

class GgufFluxImage : public ::testing::TestWithParam<std::string> {};

TEST_P(GgufFluxImage, EqualsTheDequantizedF32SafetensorsModel) {
  const GgufFluxModel& model = SharedGgufDemoModel(GetParam());
  CpuMemoryMeter::Install();
  const FluxPipeline gguf = FluxPipeline::Load(GgufTestConfig(model.gguf_dir));
  ASSERT_EQ(gguf.config().paths.transformer, std::vector<std::string>{model.gguf_path});
  const FluxPipeline reference = FluxPipeline::Load(GgufTestConfig(model.reference_dir));
  const GenerationRequest request =
      pipeline_testing::MakeRequest("a lighthouse in " + GetParam(), 5, 64, 64, 2);

  const GenerationResult expected = reference.Generate(request, ExecutionTarget::Cpu());
  const GenerationResult resident = gguf.Generate(request, ExecutionTarget::Cpu());
  const test_support::PixelDifference all_resident =
      test_support::ComparePixels(resident.png[0], expected.png[0]);
  EXPECT_LE(all_resident.max_level, 1) << "share differing " << all_resident.share;

  JobMemoryOptions memory;
  memory.budget_bytes =
      gguf.PlanMemory(resident.request, torch::kCPU, std::nullopt).minimum_budget_bytes();
  const GenerationResult streamed = gguf.Generate(request, ExecutionTarget::Cpu(), {}, memory);
  const test_support::PixelDifference at_minimum =
      test_support::ComparePixels(streamed.png[0], expected.png[0]);
  EXPECT_LE(at_minimum.max_level, 1) << "share differing " << at_minimum.share;
  EXPECT_TRUE(torch::equal(streamed.images, resident.images)) << "streaming changes no bit";
  EXPECT_GT(streamed.memory.streamed_bytes, 0);
  EXPECT_LE(streamed.memory.measured_peak(), *memory.budget_bytes);
  std::printf("%s: max level %d (resident), %d (streamed, %lld bytes streamed at budget %lld)\n",
              GetParam().c_str(), all_resident.max_level, at_minimum.max_level,
              static_cast<long long>(streamed.memory.streamed_bytes),
              static_cast<long long>(*memory.budget_bytes));
}

INSTANTIATE_TEST_SUITE_P(Types, GgufFluxImage,
                         ::testing::Values("Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K",
                                           "Q4_K", "Q5_K", "Q6_K", "BF16"),
                         [](const auto& info) { return info.param; });

TEST(GgufFlux, AnotherArchitectureNamesFileAndField) {
  pipeline_testing::PipelineScratchDir dir;
  const std::string path = dir.path() + "/flux1-demo-sd3.gguf";
  pipeline_testing::WriteGgufTransformer(path, "Q8_0", dir.path() + "/unused.safetensors", "sd3");
  try {
    FluxTransformer::Load(Checkpoint::Open(path));
    FAIL() << "a GGUF of architecture sd3 must be refused";
  } catch (const CheckpointError& e) {
    EXPECT_EQ(e.code(), CheckpointError::Code::kUnrecognizedLayout) << e.what();
    EXPECT_EQ(e.file(), path);
    EXPECT_EQ(e.tensor(), "general.architecture");
    EXPECT_NE(std::string(e.what()).find("sd3"), std::string::npos) << e.what();
  }
}

TEST(GgufFlux, TruncatedFileInAModelFolderNamesFileAndTensor) {
  const GgufFluxModel& model = SharedGgufDemoModel("Q8_0");
  pipeline_testing::PipelineScratchDir dir;
  const std::string path = dir.path() + "/flux1-demo-Q8_0.gguf";
  const std::string bytes = pipeline_testing::ReadFile(model.gguf_path);
  pipeline_testing::WriteFile(path, bytes.substr(0, bytes.size() / 2));
  pipeline_testing::CopyDemoCompanions(pipeline_testing::SharedDemoModelDir(), dir.path());
  try {
    FluxPipeline::Load(GgufTestConfig(dir.path()));
    FAIL() << "a truncated GGUF must be refused";
  } catch (const CheckpointError& e) {
    EXPECT_EQ(e.code(), CheckpointError::Code::kSpanOutsideData) << e.what();
    EXPECT_EQ(e.file(), path);
    EXPECT_FALSE(e.tensor().empty()) << e.what();
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace streamdit::engine
