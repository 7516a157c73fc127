#pragma once

// Shared by the scheduler tests: a SchedulerCore wired to the virtual-clock FakeExecutor, driven
// one event at a time, plus an observer that records what the scheduler reported.

#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "scheduler/clock.h"
#include "scheduler/fake_executor.h"
#include "scheduler/linear_memory_estimator.h"
#include "scheduler/scheduler_core.h"

namespace streamdit::scheduler {
namespace testing_rig {

constexpr std::int64_t kGB = std::int64_t{1000} * 1000 * 1000;

// At 1000x1000 (1 megapixel) and batch 1 the demands are (minimum .. useful maximum):
//   big 3 .. 23 GB, medium 2 .. 10 GB, small 1 .. 5 GB.
inline std::vector<ModelProfile> TestModels() {
  return {
      ModelProfile{"big", 20 * kGB, 2 * kGB, 1 * kGB, kGB / 4, 0.1},
      ModelProfile{"medium", 8 * kGB, 1 * kGB, 1 * kGB, kGB / 4, 0.05},
      ModelProfile{"small", 4 * kGB, kGB / 2, kGB / 2, kGB / 8, 0.02},
  };
}

inline JobRequest Request(const std::string& model, int steps = 10, int batch = 1,
                          Priority priority = Priority::kNormal,
                          std::vector<std::string> loras = {}) {
  JobRequest request;
  request.shape = JobShape{model, 1000, 1000, steps, batch, std::move(loras)};
  request.priority = priority;
  return request;
}

struct RecordingObserver : SchedulerObserver {
  std::vector<Launch> placed;
  std::vector<std::pair<int, std::string>> evicted;
  std::vector<std::pair<int, std::string>> loaded;
  std::vector<std::pair<int, std::string>> adapters_loaded;
  std::vector<std::pair<int, std::string>> adapters_evicted;
  std::vector<absl::Status> rejected;
  std::vector<std::pair<JobId, int>> reservations;
  std::vector<std::pair<JobId, int>> oom_retries;
  std::vector<std::pair<int, bool>> health;
  std::vector<std::pair<std::int64_t, std::int64_t>> peaks;  // predicted, measured

  void OnLaunchPlaced(const Launch& launch, Duration) override { placed.push_back(launch); }
  void OnModelEvicted(int device, const std::string& model, std::int64_t) override {
    evicted.emplace_back(device, model);
  }
  void OnModelLoaded(int device, const std::string& model, std::int64_t) override {
    loaded.emplace_back(device, model);
  }
  void OnAdapterLoaded(int device, const std::string& key, std::int64_t) override {
    adapters_loaded.emplace_back(device, key);
  }
  void OnAdapterEvicted(int device, const std::string& key, std::int64_t) override {
    adapters_evicted.emplace_back(device, key);
  }
  void OnRejected(const JobRequest&, const absl::Status& status) override {
    rejected.push_back(status);
  }
  void OnHeadReservation(JobId job, int device) override { reservations.emplace_back(job, device); }
  void OnOutOfMemoryRetry(JobId job, int attempt) override {
    oom_retries.emplace_back(job, attempt);
  }
  void OnDeviceHealth(int device, bool healthy) override { health.emplace_back(device, healthy); }
  void OnPeakMeasured(const std::string&, std::int64_t predicted, std::int64_t measured) override {
    peaks.emplace_back(predicted, measured);
  }
};

// A core and a fake executor on one virtual clock. Time moves only through AdvanceTo / RunUntil*.
class Rig {
 public:
  Rig(SchedulerConfig config, std::vector<std::int64_t> budgets,
      FakeExecutorConfig executor_config = {})
      : Rig(config, Devices(budgets), executor_config, 0) {}
  struct Configured {
    std::vector<DeviceConfig> devices;
  };
  Rig(SchedulerConfig config, const Configured& configured, FakeExecutorConfig executor_config = {})
      : Rig(config, configured.devices, executor_config, 0) {}
  Rig(SchedulerConfig config, const std::vector<DeviceConfig>& devices,
      FakeExecutorConfig executor_config, int /*tag*/)
      : estimator_(TestModels()),
        core_(config, devices, estimator_, &observer_),
        executor_(executor_config, TestModels(), devices, clock_) {}

  static std::vector<DeviceConfig> Devices(const std::vector<std::int64_t>& budgets) {
    std::vector<DeviceConfig> devices;
    for (std::size_t i = 0; i < budgets.size(); ++i) {
      devices.push_back(DeviceConfig{"gpu" + std::to_string(i), budgets[i]});
    }
    return devices;
  }

  absl::Status TrySubmit(const JobRequest& request, JobId* id) {
    return core_.Submit(request, clock_.Now(), id);
  }
  JobId Submit(const JobRequest& request) {
    JobId id = 0;
    absl::Status status = TrySubmit(request, &id);
    EXPECT_TRUE(status.ok()) << status.ToString();
    return id;
  }
  bool Cancel(JobId id) {
    bool known = core_.Cancel(id, clock_.Now());
    Pump();
    return known;
  }

  // Dispatches at the current time and carries out the decisions.
  void Pump() {
    core_.Dispatch(clock_.Now());
    SchedulerOutbox outbox = core_.TakeOutbox();
    for (const Launch& launch : outbox.starts) {
      started.push_back(launch);
      for (JobId id : launch.jobs) start_time.try_emplace(id, clock_.Now());
      executor_.Start(launch);
    }
    for (LaunchId id : outbox.stops) executor_.Stop(id);
    for (JobEnd& end : outbox.ends) {
      ++end_reports[end.id];
      ended[end.id] = end.status;
      end_time[end.id] = clock_.Now();
    }
  }

  // Processes every executor event and wakeup up to `t` in time order, then moves the clock to t.
  void AdvanceTo(TimePoint t) {
    while (true) {
      std::optional<TimePoint> next = executor_.NextEventTime();
      std::optional<TimePoint> wake = core_.NextWakeup();
      if (wake && (!next || *wake < *next)) next = wake;
      if (!next || *next > t) break;
      Step(std::max(*next, clock_.Now()));
    }
    Step(t);
  }
  void Advance(Duration d) { AdvanceTo(clock_.Now() + d); }

  // Runs until nothing is queued or running (or `limit` passes).
  void RunUntilIdle(Duration limit = std::chrono::hours(24)) {
    const TimePoint end = clock_.Now() + limit;
    Pump();
    while (!core_.Idle()) {
      std::optional<TimePoint> next = executor_.NextEventTime();
      std::optional<TimePoint> wake = core_.NextWakeup();
      if (wake && (!next || *wake < *next)) next = wake;
      ASSERT_TRUE(next.has_value()) << "scheduler is stuck: jobs queued but nothing will happen";
      if (*next > end) return;
      Step(std::max(*next, clock_.Now()));
    }
  }

  TimePoint Now() const { return clock_.Now(); }
  SchedulerCore& core() { return core_; }
  FakeExecutor& executor() { return executor_; }
  RecordingObserver& observer() { return observer_; }
  const DeviceState& device(int i) { return core_.devices()[i]; }

  std::vector<Launch> started;
  std::map<JobId, absl::Status> ended;
  std::map<JobId, int> end_reports;
  std::map<JobId, TimePoint> end_time;
  std::map<JobId, TimePoint> start_time;  // first start

 private:
  void Step(TimePoint t) {
    clock_.AdvanceTo(t);
    for (const LaunchResult& result : executor_.AdvanceTo(t)) core_.OnLaunchFinished(result, t);
    Pump();
  }

  VirtualClock clock_;
  LinearMemoryEstimator estimator_;
  RecordingObserver observer_;
  SchedulerCore core_;
  FakeExecutor executor_;
};

}  // namespace testing_rig
}  // namespace streamdit::scheduler
