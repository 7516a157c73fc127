// Issue 13: LoRAs within a batch and under a budget.
//   - A batch of three requests with different LoRA sets (kohya, diffusers, none) gives each
//     request the image it gets alone, within unmixed batching's tolerance (f32).
//   - The kohya case of the mission: an fp8-stored transformer with a LoRA runs under a budget
//     that the same model all-resident would exceed; the LoRA's bytes are in the prediction and
//     the measured peak stays under the budget.
#include <gtest/gtest.h>

#include "engine/lora/lora_job_adapters.h"
#include "engine/lora/lora_loader.h"
#include "engine/memory/cpu_memory_meter.h"
#include "engine/pipeline/flux_pipeline.h"
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

TEST(LoraBatch, MixedLoraSetsGiveEachRequestItsOwnImage) {
  PipelineScratchDir scratch;
  const FluxPipeline pipeline = FluxPipeline::Load(SmallDemoConfig(SharedDemoModelDir()));
  const LoraTargets targets = LoraTargets::Of(pipeline.models());
  test_support::WriteLoraFile(scratch.File("k.safetensors"), LoraFileFormat::kKohya,
                              lora_testing::KohyaPairs(), 21);
  test_support::WriteLoraFile(scratch.File("d.safetensors"), LoraFileFormat::kDiffusers,
                              lora_testing::DiffusersPairs(), 22, 4.0);
  const auto kohya = LoadLoraAdapter(scratch.File("k.safetensors"), "k", targets);
  const auto diffusers = LoadLoraAdapter(scratch.File("d.safetensors"), "d", targets);

  std::vector<GenerationRequest> requests = {
      MakeRequest("a red fox in snow", 5, 64, 64, 2, 2),
      MakeRequest("a red fox in snow", 6, 64, 64, 2, 1),
      MakeRequest("a red fox in snow", 7, 64, 64, 2, 1),
  };
  requests[0].loras = {{kohya, 1.0}};
  requests[1].loras = {{diffusers, 0.5}, {kohya, -0.25}};
  const BatchResult batch = pipeline.GenerateBatch(requests, ExecutionTarget::Cpu());
  ASSERT_EQ(batch.results.size(), 3u);
  std::vector<torch::Tensor> alone;
  for (std::size_t i = 0; i < requests.size(); ++i) {
    const GenerationResult single = pipeline.Generate(requests[i], ExecutionTarget::Cpu());
    alone.push_back(single.latents);
    const double difference = RelativeDifference(batch.results[i].latents, single.latents);
    std::printf("request %zu: batch vs alone %.3g\n", i, difference);
    EXPECT_LE(difference, 2e-6) << "request " << i;
  }
  // The sets really differ: the same seed with and without the LoRA gives another image.
  GenerationRequest plain = requests[0];
  plain.loras.clear();
  EXPECT_GT(RelativeDifference(pipeline.Generate(plain, ExecutionTarget::Cpu()).latents, alone[0]),
            1e-3);
}

// sd-scripts' OOM: fp8 storage plus a LoRA on a card that cannot hold the model. Here the
// "card" is a budget below the all-resident plan; the transformer streams, the LoRA's tensors
// are the job's own bytes.
TEST(LoraBudget, Fp8TransformerWithLoraRunsUnderABudgetBelowAllResident) {
  CpuMemoryMeter::Install();
  PipelineScratchDir scratch;
  PipelineConfig config = SmallDemoConfig(SharedDemoModelDir());
  config.weight_storage = WeightStorage::kFp8;
  config.prompt_cache_bytes = 0;
  const FluxPipeline pipeline = FluxPipeline::Load(config);
  std::vector<test_support::LoraPair> pairs = lora_testing::KohyaPairs();
  for (auto& pair : pairs) pair.rank *= 4;  // a LoRA whose bytes show
  test_support::WriteLoraFile(scratch.File("k.safetensors"), LoraFileFormat::kKohya, pairs, 31,
                              std::nullopt, DType::kBF16);
  const auto lora =
      LoadLoraAdapter(scratch.File("k.safetensors"), "k", LoraTargets::Of(pipeline.models()));

  GenerationRequest request = MakeRequest("a lighthouse", 3, 64, 64, 2);
  request.loras = {{lora, 1.0}};
  const GenerationResult reference = pipeline.Generate(request, ExecutionTarget::Cpu());

  const ResolvedRequest job = reference.request;
  const JobMemoryPlan with_lora = pipeline.PlanMemory(job, torch::kCPU, std::nullopt);
  ResolvedRequest without = job;
  without.loras.clear();
  const JobMemoryPlan plain = pipeline.PlanMemory(without, torch::kCPU, std::nullopt);
  const std::vector<const std::vector<LoraUse>*> one{&job.loras};
  const int64_t transformer_lora =
      ComponentAdapterBytes(PipelineComponent::kTransformer, one, torch::kFloat, torch::kCPU);
  ASSERT_GT(transformer_lora, 0);
  // The LoRA's bytes (and its scratch) are in the prediction of the phase that holds them.
  EXPECT_GE(with_lora.predicted_peak_bytes(PipelinePhase::kDenoise) -
                plain.predicted_peak_bytes(PipelinePhase::kDenoise),
            transformer_lora);

  const int64_t all_resident = with_lora.resident_budget_bytes();
  const int64_t minimum = with_lora.minimum_budget_bytes();
  const int64_t budget = minimum + (all_resident - minimum) / 3;
  ASSERT_LT(budget, all_resident);
  JobMemoryOptions memory;
  memory.budget_bytes = budget;
  const GenerationResult result = pipeline.Generate(request, ExecutionTarget::Cpu(), {}, memory);
  ASSERT_TRUE(result.memory.measured);
  EXPECT_TRUE(torch::equal(result.latents, reference.latents));
  EXPECT_GT(result.memory.streamed_bytes, 0);
  for (PipelinePhase phase :
       {PipelinePhase::kEncode, PipelinePhase::kDenoise, PipelinePhase::kDecode}) {
    const int64_t measured = result.memory.measured_peak_bytes[static_cast<int>(phase)];
    const int64_t predicted = result.memory.plan->predicted_peak_bytes(phase);
    std::printf("%s: budget %lld predicted %lld measured %lld\n", PipelinePhaseName(phase),
                (long long)budget, (long long)predicted, (long long)measured);
    EXPECT_LE(measured, budget) << PipelinePhaseName(phase);
    EXPECT_GE(predicted, measured) << PipelinePhaseName(phase);
  }
}

}  // namespace
}  // namespace streamdit::engine
