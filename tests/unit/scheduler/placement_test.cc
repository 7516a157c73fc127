// Placement: resident weights are shared and counted once per device; a device where the model is
// resident wins, then the best fit; idle models are evicted least recently used first, busy ones
// never; a streamed launch gets a reservation inside [minimum, useful maximum].

#include <gtest/gtest.h>

#include "tests/unit/scheduler/scheduler_test_rig.h"

namespace streamdit::scheduler {
namespace {

using testing_rig::kGB;
using testing_rig::Request;
using testing_rig::Rig;

SchedulerConfig NoBatching(PlacementPolicy policy = PlacementPolicy::kAffinityBestFit) {
  SchedulerConfig config;
  config.max_batch_images = 1;
  config.placement = policy;
  return config;
}

TEST(PlacementTest, ResidentWeightsAreCountedOncePerDevice) {
  Rig rig(NoBatching(), {48 * kGB});
  rig.Submit(Request("big", 10));
  rig.Submit(Request("big", 10));
  rig.Pump();
  ASSERT_EQ(rig.started.size(), 2u);
  EXPECT_EQ(rig.started[0].mode, WeightMode::kLoad);
  EXPECT_EQ(rig.started[1].mode, WeightMode::kShared);
  EXPECT_EQ(rig.started[0].budget_bytes, 3 * kGB);
  EXPECT_EQ(rig.started[1].budget_bytes, 3 * kGB);
  // 20 GB of weights once plus 3 GB per job, not 2 x 23 GB.
  EXPECT_EQ(rig.device(0).resident_bytes(), 20 * kGB);
  EXPECT_EQ(rig.device(0).used(), 26 * kGB);
}

// Runs one "small" job on device 1 of {24 GB, 48 GB}, then places a second one.
Launch SecondSmallLaunch(PlacementPolicy policy) {
  Rig rig(NoBatching(policy), {24 * kGB, 48 * kGB});
  rig.core().SetDeviceHealthy(0, false);  // steer the first job to device 1
  rig.Submit(Request("small"));
  rig.RunUntilIdle();
  EXPECT_EQ(rig.started.at(0).device, 1);
  rig.core().SetDeviceHealthy(0, true);
  rig.Submit(Request("small"));
  rig.Pump();
  EXPECT_EQ(rig.started.size(), 2u);
  return rig.started.back();
}

TEST(PlacementTest, PrefersTheDeviceWhereTheModelIsResident) {
  // Best fit alone would pick the 24 GB device; the resident copy on device 1 wins.
  Launch launch = SecondSmallLaunch(PlacementPolicy::kAffinityBestFit);
  EXPECT_EQ(launch.device, 1);
  EXPECT_EQ(launch.mode, WeightMode::kShared);
}

TEST(PlacementTest, FirstFitBaselineIgnoresResidency) {
  Launch launch = SecondSmallLaunch(PlacementPolicy::kFirstFit);
  EXPECT_EQ(launch.device, 0);
  EXPECT_EQ(launch.mode, WeightMode::kLoad);
}

TEST(PlacementTest, BestFitLeavesTheLeastRoomUnused) {
  Rig rig(NoBatching(), {48 * kGB, 24 * kGB, 32 * kGB});
  rig.Submit(Request("small"));
  rig.Pump();
  ASSERT_EQ(rig.started.size(), 1u);
  EXPECT_EQ(rig.started[0].device, 1);
}

TEST(PlacementTest, EvictsTheLeastRecentlyUsedIdleModelOnly) {
  Rig rig(NoBatching(), {32 * kGB});
  rig.Submit(Request("small"));
  rig.RunUntilIdle();
  rig.Submit(Request("medium"));
  rig.RunUntilIdle();
  // Resident: small (4, older) and medium (8); free 20. Loading big needs 23: evicting small is
  // enough, and small is the least recently used.
  rig.Submit(Request("big"));
  rig.Pump();
  ASSERT_EQ(rig.started.size(), 3u);
  EXPECT_EQ(rig.started[2].mode, WeightMode::kLoad);
  EXPECT_EQ(rig.started[2].evict, std::vector<std::string>{"small"});
  EXPECT_EQ(rig.device(0).resident().size(), 2u);
  EXPECT_EQ(rig.device(0).used(), 31 * kGB);
}

TEST(PlacementTest, NeverEvictsABusyModelAndStreamsInsideTheDemandRange) {
  Rig rig(NoBatching(), {32 * kGB});
  rig.Submit(Request("small"));
  rig.RunUntilIdle();
  rig.Submit(Request("medium", 10000));  // long: keeps medium busy
  rig.Pump();
  // Used: small 4 (idle) + medium 8 + 2 reserved = 14. big cannot load (23 > 18 + 4), so it
  // streams with what is available once small is evicted: 22 GB, inside [3, 23].
  rig.Submit(Request("big"));
  rig.Pump();
  ASSERT_EQ(rig.started.size(), 3u);
  const Launch& big = rig.started[2];
  EXPECT_EQ(big.mode, WeightMode::kStreamed);
  EXPECT_EQ(big.evict, std::vector<std::string>{"small"});
  EXPECT_EQ(big.budget_bytes, 22 * kGB);
  EXPECT_GE(big.budget_bytes, big.predicted_working_bytes);
  EXPECT_LE(big.budget_bytes, big.predicted_working_bytes + big.model_bytes);
  EXPECT_EQ(rig.device(0).used(), 32 * kGB);
  EXPECT_TRUE(rig.executor().violations().empty());
}

TEST(PlacementTest, ModelsStayResidentAfterTheirJobsForLaterAffinity) {
  Rig rig(NoBatching(), {24 * kGB});
  rig.Submit(Request("small"));
  rig.RunUntilIdle();
  EXPECT_EQ(rig.device(0).resident_bytes(), 4 * kGB);
  EXPECT_EQ(rig.device(0).reserved_bytes(), 0);
  rig.Submit(Request("small"));
  rig.Pump();
  EXPECT_EQ(rig.started.back().mode, WeightMode::kShared);
  EXPECT_EQ(rig.executor().stats().model_loads, 1u);
}

}  // namespace
}  // namespace streamdit::scheduler
