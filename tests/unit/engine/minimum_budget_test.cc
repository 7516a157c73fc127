// A budget below a job's minimum is refused with the minimum attached, so that a scheduler can
// tell it from an out-of-memory (which a retry with a grown estimate may fix) and re-plan once.
#include "engine/status/minimum_budget.h"

#include <gtest/gtest.h>

#include "engine/pipeline/flux_pipeline.h"
#include "tests/unit/engine/pipeline_test_support.h"

namespace streamdit::engine {
namespace {

TEST(MinimumBudget, TheRefusalCarriesItsMinimumAndNothingElseDoes) {
  const StatusError refusal = BelowMinimumBudget("budget 10 is below 42", 42);
  EXPECT_EQ(refusal.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(refusal.status().message(), "budget 10 is below 42");
  EXPECT_EQ(MinimumBudgetOf(refusal.status()), 42);
  // An allocation above a ceiling is RESOURCE_EXHAUSTED too, but states no minimum.
  EXPECT_EQ(MinimumBudgetOf(ResourceExhausted("over the ceiling").status()), std::nullopt);
  EXPECT_EQ(MinimumBudgetOf(absl::OkStatus()), std::nullopt);
}

TEST(MinimumBudget, APlanBelowTheMinimumStatesThePlansMinimum) {
  const FluxPipeline pipeline =
      FluxPipeline::Load(pipeline_testing::SmallDemoConfig(pipeline_testing::SharedDemoModelDir()));
  const GenerationRequest request = pipeline_testing::MakeRequest("a lamp", 3, 64, 64, 2);
  const ResolvedRequest job = ResolveGenerationRequest(request, pipeline.defaults());
  const int64_t minimum =
      pipeline.PlanMemory(job, torch::kCPU, std::nullopt).minimum_budget_bytes();
  ASSERT_GT(minimum, 0);
  try {
    pipeline.PlanMemory(job, torch::kCPU, minimum - 1);
    FAIL() << "a budget one byte below the minimum was planned";
  } catch (const StatusError& error) {
    EXPECT_EQ(MinimumBudgetOf(error.status()), minimum) << error.status();
  }
  EXPECT_NO_THROW(pipeline.PlanMemory(job, torch::kCPU, minimum));
}

}  // namespace
}  // namespace streamdit::engine
