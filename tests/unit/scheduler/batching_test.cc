// Batching: queued jobs with the same model, size and steps run as one launch (whatever their LoRA
// sets: the batch carries their union), up to the configured number of images and only while the
// batch's estimate fits.

#include <gtest/gtest.h>

#include "tests/unit/scheduler/scheduler_test_rig.h"

namespace streamdit::scheduler {
namespace {

using testing_rig::kGB;
using testing_rig::Request;
using testing_rig::Rig;

TEST(BatchingTest, MergesCompatibleJobsOnly) {
  SchedulerConfig config;
  config.max_batch_images = 4;
  Rig rig(config, {48 * kGB});
  std::vector<JobId> same;
  for (int i = 0; i < 3; ++i) same.push_back(rig.Submit(Request("small")));
  JobId other_steps = rig.Submit(Request("small", 20));
  JobId other_model = rig.Submit(Request("medium"));
  rig.Pump();
  ASSERT_EQ(rig.started.size(), 3u);
  EXPECT_EQ(rig.started[0].jobs, same);
  EXPECT_EQ(rig.started[0].shape.batch, 3);
  // Working bytes for 3 images at once: 0.5 + 3 x 0.5 GB, one window for all.
  EXPECT_EQ(rig.started[0].predicted_working_bytes, 2 * kGB);
  EXPECT_EQ(rig.started[1].jobs, std::vector<JobId>{other_steps});
  EXPECT_EQ(rig.started[2].jobs, std::vector<JobId>{other_model});
  rig.RunUntilIdle();
  for (JobId id : same) EXPECT_TRUE(rig.ended.at(id).ok());
  EXPECT_EQ(rig.executor().stats().images_completed, 5u);
}

// Different LoRA sets share a launch (each image gets its own request's adapters); the launch's
// shape holds the union, and its memory counts each adapter once.
TEST(BatchingTest, MixesLoraSetsAndCountsEachAdapterOnce) {
  SchedulerConfig config;
  config.max_batch_images = 4;
  Rig rig(config, {48 * kGB});
  const JobId plain = rig.Submit(Request("small"));
  const JobId style = rig.Submit(Request("small", 10, 1, Priority::kNormal, {"style"}));
  const JobId both = rig.Submit(Request("small", 10, 1, Priority::kNormal, {"detail", "style"}));
  rig.Pump();
  ASSERT_EQ(rig.started.size(), 1u);
  EXPECT_EQ(rig.started[0].jobs, (std::vector<JobId>{plain, style, both}));
  EXPECT_EQ(rig.started[0].shape.loras, (std::vector<std::string>{"style", "detail"}));
  // 0.5 + 3 x 0.5 GB of activations; the two adapters of kGB / 8 each go to the device's adapter
  // cache, once.
  EXPECT_EQ(rig.started[0].predicted_working_bytes, 2 * kGB);
  ASSERT_EQ(rig.started[0].adapters.size(), 2u);
  EXPECT_EQ(rig.started[0].adapters[0].key, "small/style");
  EXPECT_EQ(rig.started[0].adapters[1].key, "small/detail");
  EXPECT_EQ(rig.core().devices()[0].adapter_bytes(), 2 * (kGB / 8));
  rig.RunUntilIdle();
  for (JobId id : {plain, style, both}) EXPECT_TRUE(rig.ended.at(id).ok());
}

TEST(BatchingTest, StopsAtTheConfiguredMaximum) {
  SchedulerConfig config;
  config.max_batch_images = 4;
  Rig rig(config, {48 * kGB});
  rig.Submit(Request("small", 10, 3));
  rig.Submit(Request("small", 10, 2));  // 3 + 2 > 4: not merged
  rig.Submit(Request("small", 10, 1));  // 3 + 1 = 4: merged
  rig.Pump();
  ASSERT_EQ(rig.started.size(), 2u);
  EXPECT_EQ(rig.started[0].shape.batch, 4);
  EXPECT_EQ(rig.started[0].jobs.size(), 2u);
  EXPECT_EQ(rig.started[1].shape.batch, 2);
}

TEST(BatchingTest, OnlyWhenTheBatchPeakFits) {
  SchedulerConfig config;
  config.max_batch_images = 4;
  // Loading small with 2 images needs 4 + 1.5 GB, with 3 images 4 + 2 GB: only 2 fit in 5.8 GB.
  Rig rig(config, {5800 * kGB / 1000});
  for (int i = 0; i < 3; ++i) rig.Submit(Request("small"));
  rig.Pump();
  ASSERT_EQ(rig.started.size(), 1u);
  EXPECT_EQ(rig.started[0].shape.batch, 2);
  EXPECT_LE(rig.device(0).used(), rig.device(0).budget());
  rig.RunUntilIdle();
  ASSERT_EQ(rig.started.size(), 2u);
  EXPECT_EQ(rig.started[1].shape.batch, 1);
}

}  // namespace
}  // namespace streamdit::scheduler
