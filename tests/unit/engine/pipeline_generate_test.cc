// The whole pipeline on the demo model: encode -> denoise -> decode -> PNG, its acceptance
// properties (determinism across runs and thread counts, seeds and prompts that matter, truncation
// warnings, request validation, cancellation, progress) and the prompt-embedding cache.
#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/flux/flux_transformer.h"
#include "engine/pipeline/flux_pipeline.h"
#include "engine/sampling/cancelled.h"
#include "engine/status/status_error.h"
#include "engine/text/t5_encoder.h"
#include "pipeline_test_support.h"

namespace streamdit::engine {
namespace {

using pipeline_testing::ReadPngInfo;
using pipeline_testing::SharedDemoModelDir;
using pipeline_testing::SmallDemoConfig;

// Shared by the tests: loading is cheap (mmap) but there is no need to repeat it.
const FluxPipeline& SharedPipeline() {
  static const FluxPipeline pipeline = FluxPipeline::Load(SmallDemoConfig(SharedDemoModelDir()));
  return pipeline;
}

GenerationRequest Request(const std::string& prompt, uint64_t seed) {
  return pipeline_testing::MakeRequest(prompt, seed);
}

TEST(PipelineGenerateTest, WritesAPngOfTheRequestedSizeWithParameters) {
  GenerationRequest request = Request("a red fox in the snow", 7);
  request.width = 96;  // not square: rows and columns must not be swapped anywhere
  const GenerationResult result = SharedPipeline().Generate(request, ExecutionTarget::Cpu());

  ASSERT_EQ(result.png.size(), 1u);
  const pipeline_testing::PngInfo info = ReadPngInfo(result.png[0]);
  EXPECT_EQ(info.width, 96u);
  EXPECT_EQ(info.height, 64u);
  ASSERT_TRUE(info.text.count("parameters"));
  EXPECT_EQ(info.text.at("parameters"),
            "a red fox in the snow\nSteps: 2, Seed: 7, Guidance: 3.5, Size: 96x64, Model: "
            "flux1-demo");
  EXPECT_EQ(result.parameters, info.text.at("parameters"));

  ASSERT_EQ(result.images.sizes().vec(), (std::vector<int64_t>{1, 3, 64, 96}));
  EXPECT_TRUE(torch::isfinite(result.images).all().item<bool>());
  EXPECT_LE(result.images.abs().max().item<float>(), 1.0f);
  // Random weights still give an image with structure, not a constant.
  EXPECT_GT(result.images.std().item<double>(), 0.01);
  EXPECT_EQ(result.request.guidance, 3.5);  // the dev family's default
  EXPECT_TRUE(result.warnings.empty());
}

TEST(PipelineGenerateTest, SameRequestAndSeedGiveIdenticalBytesAcrossRunsAndThreadCounts) {
  const int threads_before = at::get_num_threads();
  const GenerationRequest request = Request("a lighthouse at dusk", 1234);
  at::set_num_threads(1);
  const GenerationResult one_thread = SharedPipeline().Generate(request, ExecutionTarget::Cpu());
  // The second run starts from the cached prompt embedding...
  const GenerationResult again = SharedPipeline().Generate(request, ExecutionTarget::Cpu());
  at::set_num_threads(2);
  // ...and this one from fresh encoders: a new pipeline has an empty cache.
  const FluxPipeline fresh = FluxPipeline::Load(SmallDemoConfig(SharedDemoModelDir()));
  const GenerationResult two_threads = fresh.Generate(request, ExecutionTarget::Cpu());
  at::set_num_threads(threads_before);
  EXPECT_EQ(one_thread.png[0], again.png[0]);
  EXPECT_EQ(one_thread.png[0], two_threads.png[0]);
  // Bytes could agree by the luck of uint8 rounding: the transformer's output must agree exactly.
  // (The decoded floats do not yet: the VAE's 1x1 convolutions go through oneDNN kernels whose
  // reduction order depends on the thread count; see the pipeline report.)
  EXPECT_TRUE(torch::equal(one_thread.latents, two_threads.latents));
}

TEST(PipelineGenerateTest, SeedPromptAndGuidanceEachChangeTheImage) {
  const FluxPipeline& pipeline = SharedPipeline();
  const GenerationResult base = pipeline.Generate(Request("a red fox", 1), ExecutionTarget::Cpu());
  const GenerationResult other_seed =
      pipeline.Generate(Request("a red fox", 2), ExecutionTarget::Cpu());
  const GenerationResult other_prompt =
      pipeline.Generate(Request("a blue whale", 1), ExecutionTarget::Cpu());
  GenerationRequest low_guidance = Request("a red fox", 1);
  low_guidance.guidance = 1.0;
  const GenerationResult other_guidance = pipeline.Generate(low_guidance, ExecutionTarget::Cpu());
  for (const GenerationResult* other : {&other_seed, &other_prompt, &other_guidance}) {
    EXPECT_NE(base.png[0], other->png[0]);
    EXPECT_GT((base.images - other->images).abs().max().item<float>(), 1e-3f);
  }
}

TEST(PipelineGenerateTest, EmptyPromptWorks) {
  const GenerationResult result = SharedPipeline().Generate(Request("", 3), ExecutionTarget::Cpu());
  EXPECT_TRUE(torch::isfinite(result.images).all().item<bool>());
  EXPECT_EQ(ReadPngInfo(result.png[0]).text.at("parameters").substr(0, 8), "\nSteps: ");
}

TEST(PipelineGenerateTest, LongPromptIsTruncatedWithAWarningPerEncoder) {
  std::string prompt;
  for (int i = 0; i < 60; ++i) prompt += "the quick brown fox jumps over the lazy dog ";
  std::vector<std::string> reported;
  GenerationCallbacks callbacks;
  callbacks.on_warning = [&](const std::string& warning) { reported.push_back(warning); };
  const GenerationResult result =
      SharedPipeline().Generate(Request(prompt, 5), ExecutionTarget::Cpu(), callbacks);
  ASSERT_EQ(result.warnings.size(), 2u);
  EXPECT_NE(result.warnings[0].find("T5"), std::string::npos);
  EXPECT_NE(result.warnings[0].find("32 tokens"), std::string::npos);
  EXPECT_NE(result.warnings[1].find("CLIP"), std::string::npos);
  EXPECT_NE(result.warnings[1].find("75 tokens"), std::string::npos);
  EXPECT_EQ(reported, result.warnings);
  // A cache hit repeats the warnings: the request was truncated all the same.
  const GenerationResult cached =
      SharedPipeline().Generate(Request(prompt, 6), ExecutionTarget::Cpu());
  EXPECT_TRUE(cached.timings.prompt_cache_hit);
  EXPECT_EQ(cached.warnings, result.warnings);
}

void ExpectInvalid(GenerationRequest request, const std::string& field, const std::string& limit) {
  try {
    SharedPipeline().Generate(request, ExecutionTarget::Cpu());
    FAIL() << "expected INVALID_ARGUMENT for " << field;
  } catch (const StatusError& error) {
    EXPECT_EQ(error.code(), absl::StatusCode::kInvalidArgument) << error.what();
    const std::string message = error.what();
    EXPECT_EQ(message.rfind(field, 0), 0u) << message;
    EXPECT_NE(message.find(limit), std::string::npos) << message;
  }
}

TEST(PipelineGenerateTest, BadSizesAndStepsAreClearErrors) {
  struct Case {
    std::function<void(GenerationRequest&)> spoil;
    const char* field;
    const char* limit;
  };
  const Case cases[] = {
      {[](GenerationRequest& r) { r.width = 100; }, "width",
       "multiple of 16 in [64, 2048], got 100"},
      {[](GenerationRequest& r) { r.height = 4096; }, "height",
       "multiple of 16 in [64, 2048], got 4096"},
      {[](GenerationRequest& r) { r.height = 48; }, "height", "[64, 2048], got 48"},
      {[](GenerationRequest& r) { r.steps = 0; }, "steps", "[1, 100], got 0"},
      {[](GenerationRequest& r) { r.guidance = -1; }, "guidance", "[0, 100]"},
      {[](GenerationRequest& r) { r.batch_size = 0; }, "batch_size", "[1, 4]"},
  };
  for (const Case& bad : cases) {
    GenerationRequest request = Request("x", 1);
    bad.spoil(request);
    ExpectInvalid(request, bad.field, bad.limit);
  }
}

TEST(PipelineGenerateTest, ReportsEveryStepAndPhaseAndTimesThem) {
  std::vector<int> steps;
  std::vector<PipelinePhase> phases;
  GenerationCallbacks callbacks;
  callbacks.on_step = [&](const GenerationProgress& progress) {
    EXPECT_EQ(progress.num_steps, 3);
    EXPECT_GE(progress.step_seconds, 0.0);
    steps.push_back(progress.step);
  };
  callbacks.on_phase = [&](PipelinePhase phase, double) { phases.push_back(phase); };
  GenerationRequest request = Request("steps", 9);
  request.steps = 3;
  const GenerationResult result =
      SharedPipeline().Generate(request, ExecutionTarget::Cpu(), callbacks);
  EXPECT_EQ(steps, (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(phases, (std::vector<PipelinePhase>{PipelinePhase::kEncode, PipelinePhase::kDenoise,
                                                PipelinePhase::kDecode}));
  EXPECT_EQ(result.timings.step_seconds.size(), 3u);
  EXPECT_GE(result.timings.total_seconds, result.timings.denoise_seconds);
}

TEST(PipelineGenerateTest, CancellationStopsBetweenSteps) {
  int finished = 0;
  GenerationCallbacks callbacks;
  callbacks.on_step = [&](const GenerationProgress&) { ++finished; };
  callbacks.cancelled = [&] { return finished == 1; };
  GenerationRequest request = Request("cancel me", 1);
  request.steps = 4;
  try {
    SharedPipeline().Generate(request, ExecutionTarget::Cpu(), callbacks);
    FAIL() << "expected Cancelled";
  } catch (const Cancelled& cancelled) {
    EXPECT_EQ(cancelled.completed_steps(), 1);
  }
  EXPECT_EQ(finished, 1);
  // Cancelled before anything ran.
  callbacks.cancelled = [] { return true; };
  finished = 0;
  EXPECT_THROW(SharedPipeline().Generate(request, ExecutionTarget::Cpu(), callbacks), Cancelled);
  EXPECT_EQ(finished, 0);
}

// Image i of a request comes from seed + i (pipeline_batch_test.cc checks it is exactly that
// seed's one-image result), and its PNG says so.
TEST(PipelineGenerateTest, BatchGivesDistinctImagesFromConsecutiveSeeds) {
  GenerationRequest request = Request("two of them", 11);
  request.batch_size = 2;
  const GenerationResult batch = SharedPipeline().Generate(request, ExecutionTarget::Cpu());
  ASSERT_EQ(batch.png.size(), 2u);
  EXPECT_NE(batch.png[0], batch.png[1]);
  EXPECT_EQ(batch.request.image_seeds, (std::vector<uint64_t>{11, 12}));
  EXPECT_NE(ReadPngInfo(batch.png[0]).text.at("parameters").find("Seed: 11,"), std::string::npos);
  EXPECT_NE(ReadPngInfo(batch.png[1]).text.at("parameters").find("Seed: 12,"), std::string::npos);
}

// Records which component asked for weights, wrapping the real DirectWeightProvider.
struct ProviderLog {
  std::vector<PipelineComponent> components;
  std::vector<std::size_t> block_counts;
};

WeightProviderFactory LoggingFactory(std::shared_ptr<ProviderLog> log) {
  WeightProviderFactory direct = DirectWeightProviderFactory();
  return [log, direct](PipelineComponent component, const std::vector<const WeightBlock*>& blocks,
                       torch::ScalarType dtype, torch::Device device) {
    log->components.push_back(component);
    log->block_counts.push_back(blocks.size());
    return direct(component, blocks, dtype, device);
  };
}

TEST(PipelineGenerateTest, RepeatedPromptSkipsBothTextEncoders) {
  auto log = std::make_shared<ProviderLog>();
  const FluxPipeline pipeline =
      FluxPipeline::Load(SmallDemoConfig(SharedDemoModelDir()), LoggingFactory(log));
  const GenerationResult first =
      pipeline.Generate(Request("a cached prompt", 1), ExecutionTarget::Cpu());
  EXPECT_FALSE(first.timings.prompt_cache_hit);
  EXPECT_EQ(log->components, (std::vector<PipelineComponent>{
                                 PipelineComponent::kT5, PipelineComponent::kClip,
                                 PipelineComponent::kTransformer, PipelineComponent::kVae}));
  // Every block of each component is announced up front (T5: embedding, 2 layers, final norm).
  EXPECT_EQ(log->block_counts[0], pipeline.t5().blocks().size());
  EXPECT_EQ(log->block_counts[0], 4u);
  EXPECT_EQ(log->block_counts[2], pipeline.transformer().weights().AllBlocks().size());

  log->components.clear();
  const GenerationResult second =
      pipeline.Generate(Request("a cached prompt", 1), ExecutionTarget::Cpu());
  EXPECT_TRUE(second.timings.prompt_cache_hit);
  EXPECT_EQ(log->components, (std::vector<PipelineComponent>{PipelineComponent::kTransformer,
                                                             PipelineComponent::kVae}));
  EXPECT_EQ(first.png[0], second.png[0]);
  EXPECT_EQ(pipeline.prompt_cache().hits(), 1);
  EXPECT_EQ(pipeline.prompt_cache().misses(), 1);

  // A different T5 length is a different embedding, not a hit.
  PipelineConfig longer = SmallDemoConfig(SharedDemoModelDir());
  longer.t5_max_length = 48;
  longer.prompt_cache_bytes = 0;  // and a disabled cache never hits
  const FluxPipeline uncached = FluxPipeline::Load(longer);
  EXPECT_FALSE(uncached.Generate(Request("a cached prompt", 1), ExecutionTarget::Cpu())
                   .timings.prompt_cache_hit);
  EXPECT_FALSE(uncached.Generate(Request("a cached prompt", 1), ExecutionTarget::Cpu())
                   .timings.prompt_cache_hit);
}

TEST(PipelineGenerateTest, FamilyDefaultsApplyToUnsetFields) {
  PipelineConfig config = SmallDemoConfig(SharedDemoModelDir());
  config.default_steps.reset();
  config.default_width.reset();
  config.default_height.reset();
  const FluxPipeline dev = FluxPipeline::Load(config);
  EXPECT_EQ(dev.family(), FluxFamily::kDev);  // the demo transformer has guidance_in
  EXPECT_EQ(dev.defaults().num_steps, 50);
  EXPECT_EQ(dev.defaults().width, 1024);
  config.family = FluxFamily::kSchnell;
  config.t5_max_length.reset();
  const FluxPipeline schnell = FluxPipeline::Load(config);
  EXPECT_EQ(schnell.defaults().num_steps, 4);
  EXPECT_FALSE(schnell.defaults().shift);
  EXPECT_EQ(schnell.t5_max_length(), 256);
  const ResolvedRequest resolved =
      ResolveGenerationRequest(GenerationRequest{}, schnell.defaults());
  EXPECT_EQ(resolved.steps, 4);
  EXPECT_EQ(resolved.width, 1024);
  EXPECT_EQ(resolved.guidance, 0.0);
}

}  // namespace
}  // namespace streamdit::engine
