// Admission: what can never fit and what overflows the bounded queue are refused at once, with
// distinct reasons that both map to RESOURCE_EXHAUSTED.

#include <gtest/gtest.h>

#include "tests/unit/scheduler/scheduler_test_rig.h"

namespace streamdit::scheduler {
namespace {

using testing_rig::kGB;
using testing_rig::Request;
using testing_rig::Rig;

TEST(AdmissionTest, NeverFitsNamesTheBytesNeededAndTheLargestBudget) {
  Rig rig(SchedulerConfig{}, {24 * kGB, 16 * kGB});
  JobId id = 0;
  // 30 images at one megapixel: 2 GB + 30 x 1 GB of working memory even with every weight streamed.
  absl::Status status = rig.TrySubmit(Request("big", 10, 30), &id);
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(ReasonOf(status), StatusReason::kNeverFits);
  EXPECT_NE(status.message().find("32000000000 bytes"), std::string::npos) << status.message();
  EXPECT_NE(status.message().find("24000000000 bytes"), std::string::npos) << status.message();
  ASSERT_EQ(rig.observer().rejected.size(), 1u);
  EXPECT_EQ(ReasonOf(rig.observer().rejected[0]), StatusReason::kNeverFits);
  EXPECT_EQ(rig.core().queued(), 0u);
}

TEST(AdmissionTest, MinimumDemandIsWhatCountsNotTheUsefulMaximum) {
  // big needs 23 GB to be fully resident but runs streamed in 3 GB: an 8 GB device admits it.
  Rig rig(SchedulerConfig{}, {8 * kGB});
  JobId id = rig.Submit(Request("big"));
  rig.RunUntilIdle();
  ASSERT_EQ(rig.started.size(), 1u);
  EXPECT_EQ(rig.started[0].mode, WeightMode::kStreamed);
  EXPECT_EQ(rig.started[0].budget_bytes, 8 * kGB);
  EXPECT_TRUE(rig.ended.at(id).ok());
}

TEST(AdmissionTest, QueueFullIsPerPriorityClassAndDistinctFromNeverFits) {
  SchedulerConfig config;
  config.queue_capacity_per_priority = 2;
  Rig rig(config, {24 * kGB});
  JobId id = 0;
  // Nothing dispatches between the submits, so every accepted job stays queued.
  EXPECT_TRUE(rig.TrySubmit(Request("small", 10, 1, Priority::kLow), &id).ok());
  EXPECT_TRUE(rig.TrySubmit(Request("small", 10, 1, Priority::kLow), &id).ok());
  absl::Status full = rig.TrySubmit(Request("small", 10, 1, Priority::kLow), &id);
  EXPECT_EQ(full.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(ReasonOf(full), StatusReason::kQueueFull);
  EXPECT_TRUE(rig.TrySubmit(Request("small", 10, 1, Priority::kHigh), &id).ok());
  EXPECT_EQ(rig.core().queued(), 3u);
}

TEST(AdmissionTest, BadRequestsAreRefusedWithTheFieldNamed) {
  Rig rig(SchedulerConfig{}, {24 * kGB});
  JobId id = 0;
  absl::Status unknown = rig.TrySubmit(Request("no-such-model"), &id);
  EXPECT_EQ(unknown.code(), absl::StatusCode::kNotFound);
  JobRequest zero_width = Request("small");
  zero_width.shape.width = 0;
  absl::Status invalid = rig.TrySubmit(zero_width, &id);
  EXPECT_EQ(invalid.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(invalid.message().find("width"), std::string::npos);
  JobRequest no_steps = Request("small");
  no_steps.shape.steps = 0;
  EXPECT_EQ(rig.TrySubmit(no_steps, &id).code(), absl::StatusCode::kInvalidArgument);
}

TEST(AdmissionTest, DrainRefusesNewWorkAndFinishesAcceptedWork) {
  SchedulerConfig config;
  config.max_batch_images = 1;
  Rig rig(config, {24 * kGB});
  std::vector<JobId> accepted;
  for (int i = 0; i < 3; ++i) accepted.push_back(rig.Submit(Request("big")));
  rig.Pump();
  rig.core().BeginDrain();
  JobId id = 0;
  absl::Status refused = rig.TrySubmit(Request("small"), &id);
  EXPECT_EQ(refused.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(ReasonOf(refused), StatusReason::kDraining);
  rig.RunUntilIdle();
  EXPECT_TRUE(rig.core().Idle());
  for (JobId job : accepted) {
    ASSERT_EQ(rig.end_reports[job], 1);
    EXPECT_TRUE(rig.ended[job].ok()) << rig.ended[job].ToString();
  }
}

}  // namespace
}  // namespace streamdit::scheduler
