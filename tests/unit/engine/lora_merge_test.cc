// Issue 13's first acceptance: a LoRA applied at run time (y = W x + s * B(A x), the shared
// weights untouched) gives what merging its deltas into float32 weights and running plain gives,
// within 1e-5 relative (f32 compute), for each format on small random LoRAs written in the
// format's exact key names (lora_pairs.h), on the whole pipeline (T5, CLIP, transformer).
#include <gtest/gtest.h>

#include <filesystem>

#include "engine/lora/lora_loader.h"
#include "engine/pipeline/flux_pipeline.h"
#include "engine/status/status_error.h"
#include "lora_pairs.h"
#include "pipeline_test_support.h"

namespace streamdit::engine {
namespace {

using lora_testing::RelativeDifference;
using pipeline_testing::MakeRequest;
using pipeline_testing::PipelineScratchDir;
using pipeline_testing::SharedDemoModelDir;
using pipeline_testing::SmallDemoConfig;
using test_support::LoraFileFormat;
using test_support::WrittenPair;

std::shared_ptr<const LoraAdapter> Load(const FluxPipeline& pipeline, const std::string& path,
                                        const std::string& name) {
  return LoadLoraAdapter(path, name, LoraTargets::Of(pipeline.models()));
}

struct Case {
  const char* name;
  LoraFileFormat format;
  std::vector<test_support::LoraPair> pairs;
  std::optional<double> peft_alpha;
  LoraFormat expected;
};

class LoraMerge : public ::testing::TestWithParam<int> {};

Case CaseOf(int index) {
  switch (index) {
    case 0:
      return {"kohya", LoraFileFormat::kKohya, lora_testing::KohyaPairs(), std::nullopt,
              LoraFormat::kKohya};
    case 1:
      return {"diffusers", LoraFileFormat::kDiffusers, lora_testing::DiffusersPairs(), 8.0,
              LoraFormat::kDiffusers};
    default:
      return {"bfl", LoraFileFormat::kBfl, lora_testing::BflPairs(), std::nullopt,
              LoraFormat::kBfl};
  }
}

TEST_P(LoraMerge, RunTimeEqualsMergedWeights) {
  const Case c = CaseOf(GetParam());
  SCOPED_TRACE(c.name);
  PipelineScratchDir scratch;
  const std::string lora_path = scratch.File(std::string(c.name) + ".safetensors");
  const double strength = 0.75;
  const std::vector<WrittenPair> written =
      test_support::WriteLoraFile(lora_path, c.format, c.pairs, 7 + GetParam(), c.peft_alpha);
  const std::string merged_dir = scratch.File("merged");
  test_support::WriteMergedModel(SharedDemoModelDir(), merged_dir, {{written, strength}});

  const FluxPipeline base = FluxPipeline::Load(SmallDemoConfig(SharedDemoModelDir()));
  const FluxPipeline merged = FluxPipeline::Load(SmallDemoConfig(merged_dir));
  const auto adapter = Load(base, lora_path, c.name);
  EXPECT_EQ(adapter->format(), c.expected);
  EXPECT_EQ(adapter->modules().size(), c.pairs.size());

  GenerationRequest request = MakeRequest("a lighthouse at dusk", 11, 64, 64, 2);
  const GenerationResult plain = base.Generate(request, ExecutionTarget::Cpu());
  const GenerationResult reference = merged.Generate(request, ExecutionTarget::Cpu());
  request.loras = {{adapter, strength}};
  const GenerationResult adapted = base.Generate(request, ExecutionTarget::Cpu());

  const double lora_effect = RelativeDifference(reference.latents, plain.latents);
  const double error = RelativeDifference(adapted.latents, reference.latents);
  std::printf("%s: LoRA changes the latents by %.3g (relative); run time vs merged %.3g\n", c.name,
              lora_effect, error);
  EXPECT_GT(lora_effect, 1e-3) << "the LoRA must change the image for the test to mean anything";
  EXPECT_LE(error, 1e-5);
  EXPECT_LE(RelativeDifference(adapted.images, reference.images), 1e-5);

  // The shared weights were not touched: the plain request still gives the plain image, bitwise.
  request.loras.clear();
  EXPECT_TRUE(torch::equal(base.Generate(request, ExecutionTarget::Cpu()).latents, plain.latents));
}

INSTANTIATE_TEST_SUITE_P(Formats, LoraMerge, ::testing::Values(0, 1, 2));

// Text-encoder LoRAs key the prompt cache; a transformer-only LoRA reuses the plain embedding.
TEST(LoraPromptCache, TextEncoderLorasGetTheirOwnEmbedding) {
  PipelineScratchDir scratch;
  const FluxPipeline pipeline = FluxPipeline::Load(SmallDemoConfig(SharedDemoModelDir()));
  test_support::WriteLoraFile(scratch.File("text.safetensors"), LoraFileFormat::kKohya,
                              lora_testing::KohyaPairs(), 3);
  test_support::WriteLoraFile(scratch.File("flux.safetensors"), LoraFileFormat::kBfl,
                              lora_testing::BflPairs(), 4);
  const auto text = Load(pipeline, scratch.File("text.safetensors"), "text");
  const auto flux = Load(pipeline, scratch.File("flux.safetensors"), "flux");
  EXPECT_FALSE(text->text_fingerprint().empty());
  EXPECT_TRUE(flux->text_fingerprint().empty());

  GenerationRequest request = MakeRequest("a quiet harbour", 1, 64, 64, 1);
  EXPECT_FALSE(pipeline.Generate(request, ExecutionTarget::Cpu()).timings.prompt_cache_hit);
  request.loras = {{flux, 1.0}};
  EXPECT_TRUE(pipeline.Generate(request, ExecutionTarget::Cpu()).timings.prompt_cache_hit);
  request.loras = {{text, 1.0}};
  EXPECT_FALSE(pipeline.Generate(request, ExecutionTarget::Cpu()).timings.prompt_cache_hit);
  EXPECT_TRUE(pipeline.Generate(request, ExecutionTarget::Cpu()).timings.prompt_cache_hit);
  request.loras = {{text, 0.5}};  // another strength is another embedding
  EXPECT_FALSE(pipeline.Generate(request, ExecutionTarget::Cpu()).timings.prompt_cache_hit);
}

TEST(LoraRequest, BadUsesAreInvalidArguments) {
  PipelineScratchDir scratch;
  const FluxPipeline pipeline = FluxPipeline::Load(SmallDemoConfig(SharedDemoModelDir()));
  test_support::WriteLoraFile(scratch.File("a.safetensors"), LoraFileFormat::kBfl,
                              lora_testing::BflPairs(), 4);
  const auto adapter = Load(pipeline, scratch.File("a.safetensors"), "a");
  GenerationRequest request = MakeRequest("x", 1, 64, 64, 1);
  auto message = [&](std::vector<LoraUse> loras) -> std::string {
    request.loras = std::move(loras);
    try {
      pipeline.Generate(request, ExecutionTarget::Cpu());
    } catch (const StatusError& error) {
      EXPECT_EQ(error.code(), absl::StatusCode::kInvalidArgument);
      return error.what();
    }
    return "no error";
  };
  EXPECT_EQ(message({{adapter, std::nan("")}}), "loras[0].strength must be in [-10, 10], got nan");
  EXPECT_EQ(message({{adapter, 1}, {adapter, 2}}),
            "loras[1]: 'a' is already in the request as loras[0]");
  EXPECT_EQ(message({{nullptr, 1}}), "loras[0] names no adapter");
  EXPECT_EQ(message(std::vector<LoraUse>(9, {adapter, 1})), "loras must number at most 8, got 9");
}

}  // namespace
}  // namespace streamdit::engine
