// Streaming under a weight budget: every budget from the minimum to all-resident gives bitwise
// the same output as the all-resident run, the device memory held for weights is what the plan
// says (measured by the counting allocator), and a budget below the minimum is a clear error.
#include <gtest/gtest.h>

#include "engine/flux/flux_transformer.h"
#include "engine/memory/cpu_memory_meter.h"
#include "engine/streaming/host_tensor.h"
#include "engine/streaming/residency_plan.h"
#include "engine/streaming/streaming_weight_provider.h"
#include "host_flux_weights.h"
#include "tests/support/status_testing.h"

namespace streamdit::engine {
namespace {

FluxConfig StreamingConfig() { return testing_support::SmallStreamingFluxConfig(); }
FluxWeights HostWeights(const FluxConfig& config, torch::ScalarType storage) {
  return testing_support::RandomHostFluxWeights(config, storage, 3);
}

FluxInputs Inputs(const FluxConfig& c) { return testing_support::RandomFluxInputs(c, 4); }

class StreamingTest : public ::testing::TestWithParam<torch::ScalarType> {};

TEST_P(StreamingTest, EveryBudgetMatchesAllResidentBitwiseAndHoldsWhatThePlanSays) {
  CpuMemoryMeter& meter = CpuMemoryMeter::Install();
  const FluxConfig config = StreamingConfig();
  FluxTransformer model(config, HostWeights(config, GetParam()));
  const FluxInputs inputs = Inputs(config);
  DirectWeightProvider direct(torch::kFloat, torch::kCPU);
  const torch::Tensor expected = model.Forward(inputs, direct, torch::kFloat);

  const std::vector<const WeightBlock*> order = model.weights().ForwardOrder();
  for (int depth : {0, 1, 2}) {
    StreamingOptions options;
    options.prefetch_depth = depth;
    const std::vector<PlannedBlock> blocks = DescribeBlocks(order, {}, torch::kFloat, torch::kCPU);
    const int64_t minimum = MinimumWeightBytes(blocks, options);
    int64_t total = 0;
    for (const auto& b : blocks) total += b.storage_bytes;
    const int64_t everything = total + minimum;  // beyond all-resident (conversion <= minimum)
    int previous_resident = -1;
    for (int i = 0; i < 6; ++i) {
      const int64_t budget = minimum + (everything - minimum) * i / 5;
      const ResidencyPlan plan = PlanResidency(blocks, budget, options);
      ASSERT_LE(plan.weight_bytes(), budget);
      EXPECT_GE(plan.resident_count(), previous_resident)
          << "a larger budget keeps no fewer blocks";
      previous_resident = plan.resident_count();

      const int64_t before = meter.current_bytes();
      StreamingWeightProvider provider(plan, options, ExecutionTarget::Cpu());
      const int64_t held = meter.current_bytes() - before;
      // Resident copies and the ring: exactly the plan's bytes up to allocator headers/alignment.
      const int64_t planned = plan.resident_bytes + plan.num_slots * plan.slot_bytes;
      EXPECT_GE(held, planned - 64 * static_cast<int64_t>(plan.blocks.size()) * 8);
      EXPECT_LE(held, planned + 4096 * static_cast<int64_t>(plan.blocks.size()) + 4096);

      provider.SetOrder(order, /*passes=*/0);
      torch::Tensor out = model.Forward(inputs, provider, torch::kFloat);
      EXPECT_TRUE(torch::equal(out, expected)) << "budget " << budget << " depth " << depth;
      // Prefetch runs ahead into the next pass, so compare whole passes: every streamed block is
      // copied exactly once per forward, resident ones never.
      const int64_t after_first = provider.streamed_bytes();
      EXPECT_TRUE(torch::equal(model.Forward(inputs, provider, torch::kFloat), expected));
      int64_t streamed_per_pass = 0;
      for (const auto& b : plan.blocks) streamed_per_pass += b.resident ? 0 : b.block->nbytes();
      EXPECT_EQ(provider.streamed_bytes() - after_first, streamed_per_pass)
          << "budget " << budget << " depth " << depth;
    }
    EXPECT_EQ(previous_resident, static_cast<int>(blocks.size()));
  }
}

INSTANTIATE_TEST_SUITE_P(Storage, StreamingTest,
                         ::testing::Values(torch::kFloat, torch::kBFloat16));

TEST(ResidencyPlan, BudgetBelowTheMinimumNamesTheMinimum) {
  const FluxConfig config = StreamingConfig();
  FluxTransformer model(config, HostWeights(config, torch::kFloat));
  StreamingOptions options;
  const auto blocks =
      DescribeBlocks(model.weights().ForwardOrder(), {}, torch::kFloat, torch::kCPU);
  const int64_t minimum = MinimumWeightBytes(blocks, options);
  try {
    PlanResidency(blocks, minimum - 1, options);
    FAIL() << "expected RESOURCE_EXHAUSTED";
  } catch (const StatusError& e) {
    EXPECT_EQ(e.code(), absl::StatusCode::kResourceExhausted) << e.what();
    EXPECT_NE(std::string(e.what()).find(std::to_string(minimum)), std::string::npos) << e.what();
  }
  EXPECT_NO_THROW(PlanResidency(blocks, minimum, options));
}

TEST(ResidencyPlan, FillsTheBudgetWithPerStepBlocksFirst) {
  const FluxConfig config = StreamingConfig();
  FluxTransformer model(config, HostWeights(config, torch::kFloat));
  const auto& w = model.weights();
  std::vector<const WeightBlock*> order = w.ForwardOrder();
  std::vector<bool> per_step;
  for (const WeightBlock* b : order) {
    per_step.push_back(b->name.find("modulation") == std::string::npos &&
                       b->name != "vec_embedders");
  }
  StreamingOptions options;
  const auto blocks = DescribeBlocks(order, per_step, torch::kFloat, torch::kCPU);
  const int64_t minimum = MinimumWeightBytes(blocks, options);
  const ResidencyPlan plan = PlanResidency(blocks, minimum * 3, options);
  for (const auto& b : plan.blocks) {
    if (!b.per_step) {
      EXPECT_FALSE(b.resident && b.storage_bytes <= plan.slot_bytes)
          << b.block->name << " is used once per request and should stream";
    }
  }
  // Filling: no streamed per-step block would still fit in what is left of the budget.
  const int64_t left = minimum * 3 - plan.weight_bytes();
  for (const auto& b : plan.blocks) {
    if (b.per_step && !b.resident) {
      EXPECT_GT(b.storage_bytes, left) << b.block->name;
    }
  }
}

}  // namespace
}  // namespace streamdit::engine
