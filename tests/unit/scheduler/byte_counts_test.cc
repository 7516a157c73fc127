// Byte counts are signed (std::int64_t, as in the engine): where a negative count could enter the
// scheduler it is refused at the boundary, never folded into a fit test.

#include <gtest/gtest.h>

#include <stdexcept>

#include "scheduler/device_state.h"
#include "tests/unit/scheduler/scheduler_test_rig.h"

namespace streamdit::scheduler {
namespace {

using testing_rig::kGB;
using testing_rig::Request;
using testing_rig::Rig;
using testing_rig::TestModels;

TEST(ByteCountsTest, ANegativeDeviceBudgetIsRefusedAtConstruction) {
  LinearMemoryEstimator estimator(TestModels());
  std::vector<DeviceConfig> devices{{"gpu0", 24 * kGB}, {"gpu1", -1}};
  EXPECT_THROW(SchedulerCore(SchedulerConfig{}, devices, estimator), std::invalid_argument);
  EXPECT_THROW(DeviceState(0, DeviceConfig{"gpu0", -kGB}), std::invalid_argument);
  // Zero is a valid (if useless) budget.
  EXPECT_NO_THROW(DeviceState(0, DeviceConfig{"gpu0", 0}));
}

TEST(ByteCountsTest, ANegativeModelProfileIsRefused) {
  std::vector<ModelProfile> models = TestModels();
  models[1].lora_bytes = -1;
  EXPECT_THROW(LinearMemoryEstimator{models}, std::invalid_argument);
}

// An estimator that reports whatever it is told to, to stand in for a buggy engine planner.
class FixedEstimator final : public MemoryEstimator {
 public:
  explicit FixedEstimator(MemoryDemand demand) : demand_(demand) {}
  absl::StatusOr<MemoryDemand> Estimate(const JobShape&) const override { return demand_; }

 private:
  MemoryDemand demand_;
};

TEST(ByteCountsTest, ANegativeEstimateIsRefusedAsInternal) {
  testing_rig::RecordingObserver observer;
  for (MemoryDemand demand : {MemoryDemand{-1, kGB, {}}, MemoryDemand{kGB, -kGB, {}}}) {
    FixedEstimator estimator(demand);
    SchedulerCore core(SchedulerConfig{}, {{"gpu0", 24 * kGB}}, estimator, &observer);
    JobId id = 0;
    absl::Status status = core.Submit(Request("small"), TimePoint{}, &id);
    EXPECT_EQ(status.code(), absl::StatusCode::kInternal) << status;
    EXPECT_NE(status.message().find("negative"), absl::string_view::npos) << status;
    EXPECT_EQ(core.queued(), 0u);
  }
  EXPECT_EQ(observer.rejected.size(), 2u);
}

TEST(ByteCountsTest, AdapterBytesAddUpSigned) {
  // small at one megapixel: 0.5 GB fixed + 0.5 GB activations + 2 x 0.125 GB for two adapters.
  LinearMemoryEstimator estimator(TestModels());
  absl::StatusOr<MemoryDemand> demand =
      estimator.Estimate(Request("small", 10, 1, Priority::kNormal, {"a", "b"}).shape);
  ASSERT_TRUE(demand.ok()) << demand.status();
  EXPECT_EQ(demand->working_bytes, kGB);
  ASSERT_EQ(demand->adapters.size(), 2u);
  EXPECT_EQ(demand->adapters[0].bytes, kGB / 8);
  EXPECT_EQ(demand->adapter_bytes(), kGB / 4);
  EXPECT_EQ(demand->minimum(), kGB + kGB / 4);
  EXPECT_EQ(demand->weight_bytes, 4 * kGB);
  absl::StatusOr<MemoryDemand> unknown = estimator.Estimate(Request("no-such-model").shape);
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kNotFound);
}

TEST(ByteCountsTest, DeviceBooksRefuseNegativeLaunchBytes) {
  DeviceState device(0, DeviceConfig{"gpu0", 24 * kGB});
  EXPECT_THROW(device.StartLaunch(0, -kGB, false, false, 0), std::logic_error);
  EXPECT_THROW(device.StartLaunch(0, kGB, false, true, -kGB), std::logic_error);
  device.StartLaunch(0, kGB, false, false, 0);
  EXPECT_THROW(device.EndLaunch(0, -kGB, false, 1), std::logic_error);
  EXPECT_EQ(device.reserved_bytes(), kGB);
  device.EndLaunch(0, kGB, false, 1);
  EXPECT_EQ(device.reserved_bytes(), 0);
  EXPECT_EQ(device.free(), 24 * kGB);
}

}  // namespace
}  // namespace streamdit::scheduler
