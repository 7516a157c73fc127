// Issue 4's acceptance, end to end through the pipeline: for six budgets from the job's minimum
// to all-resident, on the demo model and on a full-width transformer (hidden 3072, 24 heads,
// 2 double + 2 single blocks, random bf16 weights in a temporary safetensors file),
//   (1) the images are bitwise those of the run without a budget (f32 compute),
//   (2) the measured peak of every phase stays within the budget,
//   (3) the predicted peak of every phase is within [1.00, 1.15] x the measured one,
//   (4) a larger budget never streams more bytes (time is compared in bench/streaming),
// and a budget below the minimum is a clear error naming the minimum, before any work.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>

#include "engine/checkpoint/safetensors.h"
#include "engine/flux/flux_config.h"
#include "engine/flux/flux_transformer.h"
#include "engine/flux/flux_weights.h"
#include "engine/memory/cpu_kernel_scratch.h"
#include "engine/memory/cpu_memory_meter.h"
#include "engine/pipeline/flux_pipeline.h"
#include "engine/status/status_error.h"
#include "gguf_flux_files.h"
#include "pipeline_test_support.h"

namespace streamdit::engine {
namespace {

using pipeline_testing::PipelineScratchDir;
using pipeline_testing::SharedDemoModelDir;
using pipeline_testing::SmallDemoConfig;

PipelineConfig UncachedConfig(const std::string& directory) {
  PipelineConfig config = SmallDemoConfig(directory);
  config.prompt_cache_bytes = 0;  // every job encodes, so every phase is measured
  return config;
}

GenerationRequest Request(const std::string& prompt, int width, int height, int steps,
                          int batch = 1) {
  return pipeline_testing::MakeRequest(prompt, 0, width, height, steps, batch);
}

void ExpectEveryBudgetHolds(const FluxPipeline& pipeline, const GenerationRequest& request) {
  CpuMemoryMeter::Install();
  const GenerationResult reference = pipeline.Generate(request, ExecutionTarget::Cpu());
  const ResolvedRequest job = reference.request;
  const JobMemoryPlan unbounded = pipeline.PlanMemory(job, torch::kCPU, std::nullopt);
  const int64_t minimum = unbounded.minimum_budget_bytes();
  const int64_t resident = unbounded.resident_budget_bytes();
  ASSERT_LT(minimum, resident);

  int64_t previous_streamed = -1;
  for (int i = 0; i < 6; ++i) {
    const int64_t budget = minimum + (resident - minimum) * i / 5;
    JobMemoryOptions memory;
    memory.budget_bytes = budget;
    const GenerationResult result = pipeline.Generate(request, ExecutionTarget::Cpu(), {}, memory);
    SCOPED_TRACE("budget " + std::to_string(budget) + " (step " + std::to_string(i) + ")");
    ASSERT_TRUE(result.memory.plan.has_value());
    ASSERT_TRUE(result.memory.measured);
    EXPECT_TRUE(torch::equal(result.latents, reference.latents));
    EXPECT_TRUE(torch::equal(result.images, reference.images));
    EXPECT_EQ(result.png, reference.png);
    const JobMemoryPlan& plan = *result.memory.plan;
    if (i == 0) std::printf("%s", plan.Describe().c_str());
    for (PipelinePhase phase :
         {PipelinePhase::kEncode, PipelinePhase::kDenoise, PipelinePhase::kDecode}) {
      const int64_t measured = result.memory.measured_peak_bytes[static_cast<int>(phase)];
      const int64_t predicted = plan.predicted_peak_bytes(phase);
      std::printf("budget %lld %s: predicted %lld measured %lld (%.3f)\n", (long long)budget,
                  PipelinePhaseName(phase), (long long)predicted, (long long)measured,
                  double(predicted) / double(measured));
      EXPECT_LE(measured, budget) << PipelinePhaseName(phase);
      EXPECT_LE(predicted, budget) << PipelinePhaseName(phase);
      EXPECT_GE(predicted, measured) << PipelinePhaseName(phase);
      // Slack: a oneDNN linear's scratch and tile, counted whether or not they meet the peak.
      EXPECT_LE(predicted, measured * 1.15 + CpuMatmulScratchCeilingBytes())
          << PipelinePhaseName(phase);
    }
    if (previous_streamed >= 0) {
      EXPECT_LE(result.memory.streamed_bytes, previous_streamed);
    }
    previous_streamed = result.memory.streamed_bytes;
  }
  EXPECT_EQ(previous_streamed, 0) << "all-resident streams nothing";

  JobMemoryOptions too_small;
  too_small.budget_bytes = minimum - 1;
  try {
    pipeline.Generate(request, ExecutionTarget::Cpu(), {}, too_small);
    FAIL() << "a budget below the minimum must be refused";
  } catch (const StatusError& e) {
    EXPECT_EQ(e.code(), absl::StatusCode::kResourceExhausted) << e.what();
    EXPECT_NE(std::string(e.what()).find(std::to_string(minimum)), std::string::npos) << e.what();
  }
}

TEST(StreamingBudget, DemoModelEveryBudgetFromMinimumToResident) {
  const FluxPipeline pipeline = FluxPipeline::Load(UncachedConfig(SharedDemoModelDir()));
  GenerationRequest request = Request("a lighthouse at dusk", 128, 96, 3);
  request.seed = 11;
  ExpectEveryBudgetHolds(pipeline, request);
}

// bf16 compute (what GPUs run): the models' float32 temporaries are counted too.
TEST(StreamingBudget, DemoModelBf16Compute) {
  PipelineConfig config = UncachedConfig(SharedDemoModelDir());
  config.compute_dtype = torch::kBFloat16;
  const FluxPipeline pipeline = FluxPipeline::Load(config);
  GenerationRequest request = Request("a bf16 lighthouse", 128, 96, 2);
  ExpectEveryBudgetHolds(pipeline, request);
}

// A quantized transformer (city96's GGUF layout, Q4_0 block weights written by PyPI's gguf): the
// plan streams and holds the stored blocks and counts one decoded layer per block.
TEST(StreamingBudget, GgufQ4_0Transformer) {
  const pipeline_testing::GgufFluxModel& model = pipeline_testing::SharedGgufDemoModel("Q4_0");
  const FluxPipeline pipeline = FluxPipeline::Load(UncachedConfig(model.gguf_dir));
  GenerationRequest request = Request("a quantized lighthouse", 128, 96, 2);
  ExpectEveryBudgetHolds(pipeline, request);
}

TEST(StreamingBudget, GgufQ8_0TransformerBf16Compute) {
  PipelineConfig config = UncachedConfig(pipeline_testing::SharedGgufDemoModel("Q8_0").gguf_dir);
  config.compute_dtype = torch::kBFloat16;
  const FluxPipeline pipeline = FluxPipeline::Load(config);
  GenerationRequest request = Request("a quantized bf16 lighthouse", 128, 96, 2);
  ExpectEveryBudgetHolds(pipeline, request);
}

TEST(StreamingBudget, DemoModelBatchOfTwo) {
  const FluxPipeline pipeline = FluxPipeline::Load(UncachedConfig(SharedDemoModelDir()));
  GenerationRequest request = Request("two boats", 64, 80, 2, /*batch=*/2);
  ExpectEveryBudgetHolds(pipeline, request);
}

// Wider encoders and VAE than the demo's, an image decoded in overlapping tiles, and the T5
// sequence split into several attention chunks, in f32 and bf16 compute: the activation models
// hold at other widths too.
TEST(StreamingBudget, WiderModelSetWithTiledDecode) {
  PipelineScratchDir dir;
  DemoModelSizes sizes;
  sizes.hidden = 384;
  sizes.t5_d_model = 256;
  sizes.t5_heads = 8;
  sizes.t5_d_ff = 768;
  sizes.t5_layers = 3;
  sizes.clip_hidden = 192;
  sizes.clip_intermediate = 768;
  sizes.vae_ch = 64;
  WriteDemoModel(dir.path(), pipeline_testing::SourcePath("assets/demo_corpus.txt"), sizes);
  for (torch::ScalarType compute : {torch::kFloat, torch::kBFloat16}) {
    SCOPED_TRACE(compute == torch::kFloat ? "f32 compute" : "bf16 compute");
    PipelineConfig config = UncachedConfig(dir.path());
    config.t5_max_length = 96;
    config.vae_tile_latent = 24;
    config.vae_overlap_latent = 4;
    config.compute_dtype = compute;
    const FluxPipeline pipeline = FluxPipeline::Load(config);
    GenerationRequest request = Request("tiles of a mosaic", 320, 256, 2);
    ExpectEveryBudgetHolds(pipeline, request);
  }
}

// fp8 host storage: every budget reproduces the fp8 all-resident run bitwise, and at the minimum
// budget the transformer streams about half the bytes that bf16 storage streams.
TEST(StreamingBudget, DemoModelFp8StorageEveryBudget) {
  PipelineConfig config = UncachedConfig(SharedDemoModelDir());
  config.weight_storage = WeightStorage::kFp8;
  const FluxPipeline fp8 = FluxPipeline::Load(config);
  GenerationRequest request = Request("an fp8 lighthouse", 96, 64, 2);
  ExpectEveryBudgetHolds(fp8, request);

  const FluxPipeline bf16 = FluxPipeline::Load(UncachedConfig(SharedDemoModelDir()));
  // Bytes one step moves when every per-step block streams.
  auto streamed_per_step = [&](const FluxPipeline& pipeline) {
    const ResolvedRequest job = ResolveGenerationRequest(request, pipeline.defaults());
    int64_t bytes = 0;
    for (const PlannedBlock& b : pipeline.PlanMemory(job, torch::kCPU, std::nullopt)
                                     .component(PipelineComponent::kTransformer)
                                     .residency.blocks) {
      if (b.per_step) bytes += b.storage_bytes;
    }
    return bytes;
  };
  const int64_t fp8_bytes = streamed_per_step(fp8);
  const int64_t bf16_bytes = streamed_per_step(bf16);
  ASSERT_GT(bf16_bytes, 0);
  EXPECT_LT(fp8_bytes, bf16_bytes * 0.6);
}

// The demo model set with its transformer replaced by a full-width one (FLUX.1's hidden size,
// heads and MLP width; two blocks of each kind; widths at the seams matching the demo encoders).
TEST(StreamingBudget, FullWidthTransformerEveryBudget) {
  PipelineScratchDir dir;
  for (const auto& entry : std::filesystem::directory_iterator(SharedDemoModelDir())) {
    if (entry.path().filename() == kDemoTransformerFile) continue;
    std::filesystem::copy(entry.path(), dir.File(entry.path().filename().string()));
  }
  const PipelineConfig demo = UncachedConfig(SharedDemoModelDir());
  const Checkpoint demo_transformer = Checkpoint::Open(demo.paths.transformer);
  const FluxConfig small = InferFluxConfig(demo_transformer);
  FluxConfig config;  // FLUX.1 widths
  config.context_in_dim = small.context_in_dim;
  config.vec_in_dim = small.vec_in_dim;
  config.depth = 2;
  config.depth_single_blocks = 2;
  {
    torch::manual_seed(5);
    SafetensorsWriter writer;
    writer.SetMetadata(kFluxConfigMetadataKey, config.RopeMetadataJson());
    for (const auto& [name, shape] : FluxTensorShapes(config)) {
      const double fan_in = shape.size() == 2 ? double(shape[1]) : 10.0;
      AddTensor(writer, name, torch::randn(shape) / std::sqrt(fan_in), DType::kBF16);
    }
    writer.Write(dir.File(kDemoTransformerFile));
  }
  const FluxPipeline pipeline = FluxPipeline::Load(UncachedConfig(dir.path()));
  ASSERT_EQ(pipeline.transformer().config().hidden_size, 3072);
  GenerationRequest request = Request("a full-width test", 64, 64, 2);
  ExpectEveryBudgetHolds(pipeline, request);
}

}  // namespace
}  // namespace streamdit::engine
