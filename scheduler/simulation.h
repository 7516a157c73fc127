#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <vector>

#include "scheduler/clock.h"
#include "scheduler/fake_executor.h"
#include "scheduler/job.h"
#include "scheduler/linear_memory_estimator.h"
#include "scheduler/scheduler_config.h"
#include "scheduler/scheduler_core.h"
#include "scheduler/status_reason.h"

namespace streamdit::scheduler {

// One request of a trace; times are offsets from the start of the simulation.
struct TraceJob {
  Duration arrival{};
  JobShape shape;
  Priority priority = Priority::kNormal;
  std::optional<Duration> deadline_after;  // relative to arrival
  std::optional<Duration> cancel_after;    // the client gives up this long after arrival
};

// What happened to one trace job.
struct SimulatedJob {
  absl::Status admission;  // OK when accepted
  JobId id = 0;
  TimePoint submitted;
  std::optional<TimePoint> first_start;
  std::optional<TimePoint> last_start;
  std::optional<TimePoint> ended;
  absl::Status status;  // how it ended
  int end_reports = 0;
  int starts = 0;
};

struct SimulationResult {
  std::vector<SimulatedJob> jobs;  // in trace order
  FakeExecutor::Stats executor;
  std::vector<std::string> violations;  // from the fake executor and the driver
  TimePoint finished;                   // when the last event happened
  bool core_idle = false;               // nothing queued or running at the end
  std::size_t placements = 0;
};

// Replays a trace through a SchedulerCore and a FakeExecutor on a virtual clock: every event (an
// arrival, a cancellation, a launch ending, a deadline) is processed at its exact time, then the
// core dispatches and its decisions are carried out. Deterministic for a given trace and seed.
class Simulation {
 public:
  using Hook = std::function<void(const SchedulerCore&, const FakeExecutor&, TimePoint)>;

  Simulation(SchedulerConfig config, std::vector<DeviceConfig> devices,
             std::vector<ModelProfile> models, FakeExecutorConfig executor_config,
             SchedulerObserver* observer = nullptr);

  // Called after every dispatch (property tests check invariants here).
  void set_after_dispatch(Hook hook) { after_dispatch_ = std::move(hook); }
  // Starts draining at this offset from the start: later arrivals are refused.
  void set_drain_at(Duration offset) { drain_at_ = offset; }

  SimulationResult Run(const std::vector<TraceJob>& trace);

  const SchedulerCore& core() const { return core_; }
  const FakeExecutor& executor() const { return executor_; }

 private:
  VirtualClock clock_;
  LinearMemoryEstimator estimator_;
  SchedulerCore core_;
  FakeExecutor executor_;
  Hook after_dispatch_;
  std::optional<Duration> drain_at_;
};

// Summary numbers of a finished simulation, over the jobs that completed.
struct SimulationSummary {
  std::size_t completed = 0;
  std::size_t images = 0;
  double makespan_seconds = 0;  // first arrival to last completion
  double images_per_second = 0;
  double p50_latency_seconds = 0;  // submit to completion
  double p99_latency_seconds = 0;
};

SimulationSummary Summarize(const std::vector<TraceJob>& trace, const SimulationResult& result);

}  // namespace streamdit::scheduler
