#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "engine/sampling/cancelled.h"
#include "engine/sampling/euler.h"
#include "engine/sampling/schedule.h"
#include "tests/support/status_testing.h"
#include "tests/unit/engine/sampling_python_reference.h"

namespace streamdit::engine {
namespace {

std::string JoinExact(const std::vector<double>& values) {
  std::string text;
  for (double v : values) text += " " + testing::ExactDouble(v);
  return text;
}

// pred = a·img + c·t has a known float64 answer; the numpy loop is the reference. Uses a shifted
// dev schedule so that unequal step sizes and the t handed to the predictor both matter.
TEST(SamplingEuler, AnalyticPredictorMatchesFloat64Reference) {
  constexpr double kA = -0.7;
  constexpr double kC = 0.3;
  const std::vector<double> timesteps = FluxSchedule(12, 4096, /*shift=*/true);
  at::Tensor img0 = at::randn({2, 24, 64}, at::TensorOptions().dtype(at::kDouble));

  testing::ScratchDir scratch;
  testing::WriteRaw(scratch.File("img.bin"), img0);
  testing::RunReference("euler " + scratch.File("img.bin") + " " + scratch.File("out.bin") + " " +
                        testing::ExactDouble(kA) + " " + testing::ExactDouble(kC) +
                        JoinExact(timesteps));
  const at::Tensor expected = testing::ReadRaw(scratch.File("out.bin"), img0.sizes(), at::kDouble);

  const FlowPredictor predict = [&](const at::Tensor& img, double t) { return kA * img + kC * t; };
  const at::Tensor result = EulerSample(img0, timesteps, predict);
  EXPECT_EQ(result.scalar_type(), at::kDouble);
  EXPECT_TRUE(at::allclose(result, expected, /*rtol=*/1e-12, /*atol=*/1e-12));
  // The loop moved the latent a lot, so the comparison is not trivially satisfied.
  EXPECT_GT((result - img0).abs().max().item<double>(), 0.5);

  // In float32 the same loop agrees to float32 rounding.
  const at::Tensor result32 = EulerSample(img0.to(at::kFloat), timesteps, predict);
  EXPECT_EQ(result32.scalar_type(), at::kFloat);
  EXPECT_TRUE(at::allclose(result32.to(at::kDouble), expected, 1e-5, 1e-5));
}

// In bf16 the update must be BFL's `img + (t_prev - t_curr) * pred` (product rounded, then sum
// rounded), bit for bit, as evaluated by torch in python.
TEST(SamplingEuler, Bf16UpdateIsBitIdenticalToBflExpression) {
  const std::vector<double> timesteps = FluxSchedule(6, 1024, /*shift=*/true);
  const auto bf16 = at::TensorOptions().dtype(at::kBFloat16);
  const at::Tensor img0 = at::randn({3, 1000}, bf16);
  std::vector<at::Tensor> preds;
  testing::ScratchDir scratch;
  testing::WriteRaw(scratch.File("img.bin"), img0);
  for (size_t k = 0; k + 1 < timesteps.size(); ++k) {
    preds.push_back(at::randn({3, 1000}, bf16) * 3.0);
    testing::WriteRaw(scratch.File("pred_" + std::to_string(k) + ".bin"), preds.back());
  }
  testing::RunReference("euler_bfl " + scratch.File("img.bin") + " " + scratch.File("") + " " +
                        scratch.File("out.bin") + JoinExact(timesteps));
  const at::Tensor expected_bits = testing::ReadRaw(scratch.File("out.bin"), {3, 1000}, at::kShort);

  int calls = 0;
  const at::Tensor result =
      EulerSample(img0, timesteps, [&](const at::Tensor&, double) { return preds.at(calls++); });
  ASSERT_EQ(result.scalar_type(), at::kBFloat16);
  EXPECT_TRUE(at::equal(result.view(at::kShort), expected_bits));
  // A fused img + dt·pred (one rounding) would differ somewhere: the test can tell them apart.
  at::Tensor fused = img0;
  for (size_t k = 0; k < preds.size(); ++k) {
    fused = at::add(fused, preds[k], timesteps[k + 1] - timesteps[k]);
  }
  EXPECT_FALSE(at::equal(fused.view(at::kShort), expected_bits));
}

TEST(SamplingEuler, PredictionOfOtherDtypeIsConvertedToLatentDtype) {
  const at::Tensor img = at::ones({4}, at::TensorOptions().dtype(at::kBFloat16));
  const at::Tensor result = EulerSample(img, {1.0, 0.5}, [](const at::Tensor& x, double) {
    return at::full(x.sizes(), 2.0, at::TensorOptions().dtype(at::kDouble));
  });
  EXPECT_EQ(result.scalar_type(), at::kBFloat16);
  EXPECT_TRUE(at::equal(result, at::zeros({4}, result.options())));  // 1 + (0.5 − 1)·2
}

TEST(SamplingEuler, ProgressReportedOncePerStepInOrder) {
  const std::vector<double> timesteps = {1.0, 0.75, 0.5, 0.25, 0.0};
  std::vector<StepProgress> seen;
  int predictor_calls = 0;
  SamplingHooks hooks;
  hooks.on_step = [&](const StepProgress& p) {
    EXPECT_EQ(predictor_calls, p.step_index + 1);  // reported after the step's prediction
    seen.push_back(p);
  };
  EulerSample(
      at::zeros({2}), timesteps,
      [&](const at::Tensor& x, double) {
        ++predictor_calls;
        return at::ones_like(x);
      },
      hooks);
  ASSERT_EQ(seen.size(), 4u);
  for (int k = 0; k < 4; ++k) {
    EXPECT_EQ(seen[k].step_index, k);
    EXPECT_EQ(seen[k].num_steps, 4);
    EXPECT_EQ(seen[k].t_curr, timesteps[k]);
    EXPECT_EQ(seen[k].t_next, timesteps[k + 1]);
  }
}

TEST(SamplingEuler, CancellationStopsBeforeTheNextStep) {
  const std::vector<double> timesteps = {1.0, 0.8, 0.6, 0.4, 0.2, 0.0};
  int predictor_calls = 0;
  int progress_calls = 0;
  bool cancel = false;
  SamplingHooks hooks;
  hooks.on_step = [&](const StepProgress& p) {
    ++progress_calls;
    if (p.step_index == 1) cancel = true;  // e.g. the client went away during step 2
  };
  hooks.cancelled = [&] { return cancel; };
  const auto predict = [&](const at::Tensor& x, double) {
    ++predictor_calls;
    return at::ones_like(x);
  };
  try {
    EulerSample(at::zeros({2}), timesteps, predict, hooks);
    FAIL() << "expected Cancelled";
  } catch (const Cancelled& e) {
    EXPECT_EQ(e.completed_steps(), 2);
  }
  EXPECT_EQ(predictor_calls, 2);
  EXPECT_EQ(progress_calls, 2);

  // Cancelled before the first step: the denoiser is never called.
  predictor_calls = 0;
  cancel = true;
  EXPECT_THROW(EulerSample(at::zeros({2}), timesteps, predict, hooks), Cancelled);
  EXPECT_EQ(predictor_calls, 0);
}

TEST(SamplingEuler, RejectsBadArguments) {
  const auto identity = [](const at::Tensor& x, double) { return x; };
  EXPECT_INVALID_ARGUMENT(EulerSample(at::zeros({2}), {1.0}, identity));
  EXPECT_INVALID_ARGUMENT(EulerSample(at::zeros({2}), {1.0, 0.0},
                                      [](const at::Tensor&, double) { return at::zeros({3}); }));
}

// BFL's torch.full(..., t, dtype=bf16): 8 significant bits, round to nearest even.
TEST(SamplingEuler, RoundTimestepLikeMatchesStorageDtype) {
  EXPECT_EQ(RoundTimestepLike(0.9045307636260986, at::kBFloat16), 0.90625);
  EXPECT_EQ(RoundTimestepLike(0.75, at::kBFloat16), 0.75);
  EXPECT_EQ(RoundTimestepLike(1.0 + 1.0 / 256, at::kBFloat16), 1.0);  // tie → even
  EXPECT_EQ(RoundTimestepLike(1.0 + 3.0 / 256, at::kBFloat16), 1.015625);
  EXPECT_EQ(RoundTimestepLike(0.1, at::kFloat), static_cast<double>(0.1f));
  EXPECT_EQ(RoundTimestepLike(0.1, at::kHalf), 0.0999755859375);
  EXPECT_EQ(RoundTimestepLike(0.1, at::kDouble), 0.1);
}

}  // namespace
}  // namespace streamdit::engine
