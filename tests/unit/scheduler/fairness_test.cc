// Fairness: priorities with aging (a class is worth a fixed wait, so after the aging bound nothing
// newer ranks ahead), and a large job at the head reserves a device after a bounded wait instead of
// being starved by a stream of small ones. The FIFO baseline blocks behind its head instead.

#include <gtest/gtest.h>

#include "tests/unit/scheduler/scheduler_test_rig.h"

namespace streamdit::scheduler {
namespace {

using std::chrono::seconds;
using testing_rig::kGB;
using testing_rig::Request;
using testing_rig::Rig;

std::vector<JobId> RankOrder(SchedulerCore& core) {
  std::vector<JobId> ids;
  for (const QueuedJobView& view : core.QueueInRankOrder(100)) ids.push_back(view.id);
  return ids;
}

TEST(FairnessTest, PriorityIsWorthABoundedWait) {
  SchedulerConfig config;
  config.aging_step = seconds(10);  // aging bound: 20 s between lowest and highest class
  ASSERT_EQ(config.aging_bound(), seconds(20));
  Rig rig(config, {24 * kGB});
  rig.Submit(Request("big", 10000));  // loads and keeps the device busy: 1 GB left
  rig.Pump();
  // "medium" needs at least 2 GB: every one stays queued, in rank order.
  auto submit = [&](Priority priority) { return rig.Submit(Request("medium", 10, 1, priority)); };
  JobId low = submit(Priority::kLow);
  rig.Advance(seconds(5));
  JobId normal = submit(Priority::kNormal);  // 5 s later but one class up: ranks ahead
  rig.Advance(seconds(9));
  JobId high_early = submit(Priority::kHigh);  // 14 s after low: ahead of both
  rig.Advance(seconds(7));
  JobId high_late = submit(Priority::kHigh);  // 21 s after low: past the aging bound, behind it
  EXPECT_EQ(RankOrder(rig.core()), (std::vector<JobId>{high_early, normal, low, high_late}));
}

// A 24 GB device kept full by 4-image "small" jobs (2.5 GB each next to 4 GB of shared weights,
// 8 at a time) arriving every second, faster than they finish. A "big" job, which needs at least
// 3 GB, arrives at t = 10 s: each completion frees only 2.5 GB, which the next small job takes.
// Returns when the big job started, measured from the start, if it started before t = 400 s.
std::optional<Duration> BigJobStart(Duration reservation_after) {
  SchedulerConfig config;
  config.head_reservation_after = reservation_after;
  config.max_batch_images = 4;
  Rig rig(config, {24 * kGB});
  const TimePoint start = rig.Now();
  JobId big = 0;
  for (int t = 0; t <= 400; ++t) {
    rig.AdvanceTo(start + seconds(t));
    rig.Submit(Request("small", 50, 4));
    if (t == 10) big = rig.Submit(Request("big", 10));
    rig.Pump();
  }
  EXPECT_TRUE(rig.executor().violations().empty());
  auto started = rig.start_time.find(big);
  if (started == rig.start_time.end()) return std::nullopt;
  return started->second - start;
}

TEST(FairnessTest, WithoutAHeadReservationTheLargeJobStarves) {
  EXPECT_FALSE(BigJobStart(std::chrono::hours(1000)).has_value());
}

TEST(FairnessTest, AfterABoundedWaitTheHeadReservesRoomAndStarts) {
  std::optional<Duration> started = BigJobStart(seconds(20));
  ASSERT_TRUE(started.has_value());
  // Reserved at 10 + 20 s; the 8 small jobs running then hold at most 8 x 4 s of work.
  EXPECT_GE(*started, seconds(30));
  EXPECT_LE(*started, seconds(30 + 32));
}

TEST(FairnessTest, FifoBaselineBlocksBehindItsHeadWhileOursBackfills) {
  for (bool fifo : {true, false}) {
    SchedulerConfig config;
    config.max_batch_images = 1;
    config.strict_fifo = fifo;
    config.placement = fifo ? PlacementPolicy::kFirstFit : PlacementPolicy::kAffinityBestFit;
    Rig rig(config, {24 * kGB});
    rig.Submit(Request("big"));                  // loads: 23 of 24 GB
    rig.Submit(Request("big", 20));              // needs 3 GB: waits
    JobId small = rig.Submit(Request("small"));  // needs 1 GB streamed: fits in what is left
    rig.Pump();
    EXPECT_EQ(rig.start_time.count(small), fifo ? 0u : 1u) << (fifo ? "fifo" : "ours");
  }
}

}  // namespace
}  // namespace streamdit::scheduler
