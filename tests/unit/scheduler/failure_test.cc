// Failures: an out-of-memory report re-plans the job with a grown estimate and less resident
// (bounded retries); a budget below the engine's stated minimum re-plans once with it; a device
// that fails repeatedly is marked unhealthy and its work goes elsewhere.

#include <gtest/gtest.h>

#include "tests/unit/scheduler/scheduler_test_rig.h"

namespace streamdit::scheduler {
namespace {

using testing_rig::kGB;
using testing_rig::Request;
using testing_rig::Rig;

SchedulerConfig NoBatching() {
  SchedulerConfig config;
  config.max_batch_images = 1;
  return config;
}

FakeExecutorConfig Underestimated() {
  FakeExecutorConfig config;
  config.underestimated_share = 1.0;  // every shape really needs 1.3x the estimate
  config.underestimate_factor = 1.3;
  return config;
}

TEST(FailureTest, OutOfMemoryRetriesWithAGrownEstimateAndLearnsIt) {
  Rig rig(NoBatching(), {48 * kGB}, Underestimated());
  JobId id = rig.Submit(Request("small"));
  rig.RunUntilIdle();
  ASSERT_EQ(rig.started.size(), 2u);
  EXPECT_TRUE(rig.ended.at(id).ok()) << rig.ended.at(id).ToString();
  ASSERT_EQ(rig.observer().oom_retries.size(), 1u);
  EXPECT_EQ(rig.started[1].attempt, 1);
  EXPECT_GE(rig.started[1].predicted_working_bytes, 1300 * kGB / 1000);
  EXPECT_GE(rig.core().corrections().Factor(MemoryKey(Request("small").shape)), 1.2999);
  // The next job of that shape is planned with the learned correction and runs the first time.
  rig.Submit(Request("small"));
  rig.RunUntilIdle();
  EXPECT_EQ(rig.started.size(), 3u);
  EXPECT_EQ(rig.executor().stats().out_of_memory, 1u);
}

TEST(FailureTest, StreamedRetryKeepsLessResident) {
  Rig rig(NoBatching(), {20 * kGB}, Underestimated());
  JobId id = rig.Submit(Request("big"));
  rig.RunUntilIdle();
  ASSERT_EQ(rig.started.size(), 2u);
  EXPECT_EQ(rig.started[0].mode, WeightMode::kStreamed);
  EXPECT_EQ(rig.started[0].budget_bytes, 20 * kGB);
  // Retry: working bytes grown to 3.9 GB, at most half the weights kept: 3.9 + 10 GB.
  EXPECT_NEAR(static_cast<double>(rig.started[1].predicted_working_bytes), 3.9e9, 2.0);
  EXPECT_NEAR(static_cast<double>(rig.started[1].budget_bytes), 13.9e9, 2.0);
  EXPECT_TRUE(rig.ended.at(id).ok());
}

TEST(FailureTest, OutOfMemoryRetriesAreBounded) {
  SchedulerConfig config = NoBatching();
  config.max_oom_retries = 3;
  FakeExecutorConfig executor;
  executor.transient_oom_probability = 1.0;
  Rig rig(config, {48 * kGB}, executor);
  JobId id = rig.Submit(Request("small"));
  rig.RunUntilIdle();
  EXPECT_EQ(rig.started.size(), 4u);
  ASSERT_EQ(rig.end_reports[id], 1);
  EXPECT_EQ(rig.ended[id].code(), absl::StatusCode::kInternal);
  EXPECT_EQ(ReasonOf(rig.ended[id]), StatusReason::kOutOfMemory);
  EXPECT_EQ(rig.device(0).reserved_bytes(), 0);
}

// The engine refuses a budget below its own minimum before doing anything. That is not an
// out-of-memory: retrying the same plan cannot help. The scheduler learns the stated minimum and
// re-plans once; the job then runs at (at least) that minimum.
TEST(FailureTest, BelowTheEnginesMinimumReplansOnceWithTheStatedMinimum) {
  SchedulerConfig config = NoBatching();
  config.max_oom_retries = 5;
  FakeExecutorConfig executor;
  executor.minimum_factor = 1.5;  // the engine needs 1.5x what the estimator says
  Rig rig(config, {48 * kGB}, executor);
  const JobId id = rig.Submit(Request("small"));
  rig.RunUntilIdle();
  ASSERT_EQ(rig.started.size(), 2u);
  EXPECT_TRUE(rig.ended.at(id).ok()) << rig.ended.at(id).ToString();
  const std::int64_t minimum = 3 * rig.executor().TrueWorkingBytes(Request("small").shape) / 2;
  EXPECT_LT(rig.started[0].budget_bytes, minimum);
  EXPECT_GE(rig.started[1].predicted_working_bytes, minimum);
  EXPECT_TRUE(rig.observer().oom_retries.empty());  // not counted as an out-of-memory
  EXPECT_EQ(rig.executor().stats().below_minimum, 1u);
  EXPECT_EQ(rig.executor().stats().out_of_memory, 0u);
  EXPECT_TRUE(rig.executor().violations().empty());
  // Learned: the next job of that shape is planned at the minimum and runs the first time.
  rig.Submit(Request("small"));
  rig.RunUntilIdle();
  EXPECT_EQ(rig.started.size(), 3u);
}

// A minimum larger than every device's budget ends the job at once with never_fits, instead of
// max_oom_retries launches that cannot succeed.
TEST(FailureTest, AMinimumNoDeviceCanGiveEndsTheJobWithoutRetries) {
  SchedulerConfig config = NoBatching();
  config.max_oom_retries = 5;
  FakeExecutorConfig executor;
  executor.minimum_factor = 100;
  Rig rig(config, {48 * kGB}, executor);
  const JobId id = rig.Submit(Request("small"));
  rig.RunUntilIdle();
  EXPECT_EQ(rig.started.size(), 1u);
  ASSERT_EQ(rig.end_reports[id], 1);
  EXPECT_EQ(rig.ended[id].code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(ReasonOf(rig.ended[id]), StatusReason::kNeverFits);
  EXPECT_NE(rig.ended[id].message().find("the engine's minimum"), std::string::npos)
      << rig.ended[id].message();
  EXPECT_EQ(rig.device(0).reserved_bytes(), 0);
}

TEST(FailureTest, MeasuredPeaksAreReportedAgainstPredictions) {
  Rig rig(NoBatching(), {48 * kGB});
  rig.Submit(Request("medium"));
  rig.RunUntilIdle();
  ASSERT_EQ(rig.observer().peaks.size(), 1u);
  EXPECT_EQ(rig.observer().peaks[0].first, 2 * kGB);
  EXPECT_EQ(rig.observer().peaks[0].second, 2 * kGB);
}

TEST(FailureTest, ARepeatedlyFailingDeviceIsMarkedUnhealthyAndWorkMovesOn) {
  SchedulerConfig config = NoBatching();
  config.unhealthy_after_failures = 3;
  config.max_failure_retries = 5;
  FakeExecutorConfig executor;
  executor.failure_probability = {1.0, 0.0};
  Rig rig(config, {24 * kGB, 24 * kGB}, executor);
  std::vector<JobId> jobs;
  for (int i = 0; i < 4; ++i) {
    jobs.push_back(rig.Submit(Request("small")));
    rig.Pump();
  }
  rig.RunUntilIdle();
  ASSERT_EQ(rig.observer().health.size(), 1u);
  EXPECT_EQ(rig.observer().health[0], std::make_pair(0, false));
  EXPECT_FALSE(rig.device(0).healthy());
  for (JobId id : jobs) EXPECT_TRUE(rig.ended.at(id).ok()) << rig.ended.at(id).ToString();
  // Nothing starts on the unhealthy device after it was marked: the last launches ran on device 1.
  std::size_t on_failing = 0;
  for (const Launch& launch : rig.started) on_failing += launch.device == 0 ? 1 : 0;
  EXPECT_GE(on_failing, 3u);
  EXPECT_EQ(rig.executor().stats().failures, on_failing);
}

TEST(FailureTest, JobsThatOnlyFitAnUnhealthyDeviceEndWithNeverFits) {
  SchedulerConfig config = NoBatching();
  config.unhealthy_after_failures = 1;
  FakeExecutorConfig executor;
  executor.failure_probability = {1.0, 0.0};
  Rig rig(config, {24 * kGB, 8 * kGB}, executor);
  // 7 images: at least 2 + 7 GB, so only device 0 can ever hold it.
  JobId large = rig.Submit(Request("big", 10, 7));
  rig.RunUntilIdle();
  ASSERT_EQ(rig.end_reports[large], 1);
  EXPECT_EQ(rig.ended[large].code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(ReasonOf(rig.ended[large]), StatusReason::kNeverFits);
  JobId id = 0;
  absl::Status refused = rig.TrySubmit(Request("big", 10, 7), &id);
  EXPECT_EQ(ReasonOf(refused), StatusReason::kNeverFits);
  EXPECT_NE(refused.message().find("8000000000 bytes"), std::string::npos) << refused.message();
}

}  // namespace
}  // namespace streamdit::scheduler
