// Cancellation and deadlines: a queued job leaves at once with its reason; a running one ends at
// once, its launch stops at the next step boundary and only then does its memory return.

#include <gtest/gtest.h>

#include "tests/unit/scheduler/scheduler_test_rig.h"

namespace streamdit::scheduler {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing_rig::kGB;
using testing_rig::Request;
using testing_rig::Rig;

SchedulerConfig NoBatching() {
  SchedulerConfig config;
  config.max_batch_images = 1;
  return config;
}

TEST(CancellationTest, QueuedJobLeavesAtOnce) {
  Rig rig(NoBatching(), {24 * kGB});
  JobId running = rig.Submit(Request("big"));
  JobId queued = rig.Submit(Request("big"));
  rig.Pump();
  EXPECT_EQ(rig.core().queued(), 1u);
  rig.Advance(seconds(1));
  EXPECT_TRUE(rig.Cancel(queued));
  EXPECT_EQ(rig.core().queued(), 0u);
  ASSERT_EQ(rig.end_reports[queued], 1);
  EXPECT_EQ(rig.ended[queued].code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(rig.end_time[queued], rig.Now());
  EXPECT_FALSE(rig.Cancel(queued));  // already ended: unknown
  rig.RunUntilIdle();
  EXPECT_TRUE(rig.ended[running].ok());
  EXPECT_EQ(rig.end_reports[queued], 1);
}

TEST(CancellationTest, RunningJobStopsAtTheNextStepAndThenReturnsItsMemory) {
  Rig rig(NoBatching(), {24 * kGB});
  JobId id = rig.Submit(Request("big", 10));
  rig.Pump();
  // Loading 20 GB at 10 GB/s takes 2 s, then each step 0.1 s. Cancel in the middle of step 1.
  rig.AdvanceTo(rig.Now() + milliseconds(2050));
  ASSERT_TRUE(rig.Cancel(id));
  EXPECT_EQ(rig.ended[id].code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(rig.end_time[id], rig.Now());
  EXPECT_EQ(rig.device(0).reserved_bytes(), 3 * kGB);  // the step is still running
  rig.AdvanceTo(rig.Now() + milliseconds(49));
  EXPECT_EQ(rig.device(0).reserved_bytes(), 3 * kGB);
  rig.AdvanceTo(rig.Now() + milliseconds(2));
  EXPECT_EQ(rig.device(0).reserved_bytes(), 0);
  EXPECT_EQ(rig.executor().stats().stopped, 1u);
  EXPECT_EQ(rig.end_reports[id], 1);
  EXPECT_TRUE(rig.core().Idle());
}

TEST(CancellationTest, QueuedJobExpiresExactlyAtItsDeadline) {
  Rig rig(NoBatching(), {24 * kGB});
  rig.Submit(Request("big", 1000));
  JobRequest late = Request("big");
  late.deadline = rig.Now() + seconds(5);
  JobId id = rig.Submit(late);
  rig.Pump();
  EXPECT_EQ(rig.core().NextWakeup(), *late.deadline);
  rig.Advance(seconds(10));
  ASSERT_EQ(rig.end_reports[id], 1);
  EXPECT_EQ(rig.ended[id].code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(rig.end_time[id], *late.deadline);
}

TEST(CancellationTest, RunningJobPastItsDeadlineIsStopped) {
  Rig rig(NoBatching(), {24 * kGB});
  JobRequest request = Request("big", 1000);  // 2 s load + 100 s of steps
  request.deadline = rig.Now() + seconds(50);
  JobId id = rig.Submit(request);
  rig.Pump();
  rig.AdvanceTo(*request.deadline);
  EXPECT_EQ(rig.ended[id].code(), absl::StatusCode::kDeadlineExceeded);
  rig.RunUntilIdle();
  EXPECT_EQ(rig.executor().stats().stopped, 1u);
  EXPECT_EQ(rig.device(0).reserved_bytes(), 0);
  EXPECT_LT(rig.Now(), *request.deadline + milliseconds(101));
  EXPECT_EQ(rig.end_reports[id], 1);
}

TEST(CancellationTest, CancellingOneMemberOfABatchKeepsTheOthersRunning) {
  SchedulerConfig config;
  config.max_batch_images = 4;
  Rig rig(config, {24 * kGB});
  JobId first = rig.Submit(Request("small"));
  JobId second = rig.Submit(Request("small"));
  rig.Pump();
  ASSERT_EQ(rig.started.size(), 1u);
  ASSERT_EQ(rig.started[0].jobs.size(), 2u);
  rig.Advance(milliseconds(10));
  rig.Cancel(first);
  EXPECT_EQ(rig.executor().stats().stopped, 0u);
  rig.RunUntilIdle();
  EXPECT_EQ(rig.ended[first].code(), absl::StatusCode::kCancelled);
  EXPECT_TRUE(rig.ended[second].ok());
  EXPECT_EQ(rig.executor().stats().stopped, 0u);
}

}  // namespace
}  // namespace streamdit::scheduler
