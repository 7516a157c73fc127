#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "scheduler/clock.h"
#include "scheduler/executor.h"
#include "scheduler/linear_memory_estimator.h"
#include "scheduler/scheduler_config.h"

namespace streamdit::scheduler {

struct FakeExecutorConfig {
  double h2d_bytes_per_second = 25e9;   // PCIe Gen4 x16 pinned (anchors D.1)
  double load_bytes_per_second = 10e9;  // host cache to device, incl. conversion
  // The hidden truth the scheduler must learn: this share of batch keys really needs
  // underestimate_factor times the estimated working bytes.
  double underestimated_share = 0.0;
  double underestimate_factor = 1.3;
  double transient_oom_probability = 0.0;  // per launch, e.g. fragmentation
  // > 0: the engine's own minimum budget is this factor times a shape's true working bytes; a
  // launch given less is refused at once (kBelowMinimum), stating that minimum.
  double minimum_factor = 0.0;
  std::vector<double> failure_probability;  // per device, per launch; missing means 0
  std::uint64_t seed = 1;
};

// A simulated engine on a virtual clock. Each device runs its launches by processor sharing (n
// launches each progress at 1/n speed), so concurrency never creates capacity: only residency
// (less streaming), affinity (fewer loads) and batching (one stream per step for the whole batch)
// make a device do more. A launch takes
//   load (kLoad: weight_bytes / load bandwidth) + steps * (compute + streamed_bytes / h2d
//   bandwidth)
// where compute = seconds per megapixel-step * megapixels * images and streamed_bytes are the
// weights the budget did not let it keep. It checks the scheduler's side of the contract (budget
// never exceeded, evictions only of idle models and adapters, shared models resident) and records
// violations.
class FakeExecutor final : public Executor {
 public:
  struct Stats {
    std::uint64_t launches = 0;
    std::uint64_t model_loads = 0;
    std::int64_t bytes_loaded = 0;
    std::uint64_t adapter_loads = 0;  // adapters put into a device's cache
    std::int64_t bytes_streamed = 0;
    std::uint64_t out_of_memory = 0;
    std::uint64_t failures = 0;
    std::uint64_t below_minimum = 0;
    std::uint64_t stopped = 0;
    std::uint64_t images_completed = 0;
  };

  FakeExecutor(FakeExecutorConfig config, std::vector<ModelProfile> models,
               std::vector<DeviceConfig> devices, const VirtualClock& clock);

  // Both expect AdvanceTo(clock.Now()) to have been called first.
  void Start(const Launch& launch) override;
  void Stop(LaunchId launch) override;

  std::optional<TimePoint> NextEventTime() const;
  // Runs every device up to `t` and returns the launches that ended, in time order.
  std::vector<LaunchResult> AdvanceTo(TimePoint t);

  bool Idle() const;
  // Seconds until every launch now on the device has ended if nothing new starts there.
  double RemainingWorkSeconds(int device) const;
  const Stats& stats() const { return stats_; }
  const std::vector<std::string>& violations() const { return violations_; }
  // The true working bytes of a shape (what the estimate should have been).
  std::int64_t TrueWorkingBytes(const JobShape& shape) const;

 private:
  struct Running {
    Launch launch;
    double done = 0;      // work done, seconds at full speed
    double end_work = 0;  // work at which it ends (success, failure, OOM or stop)
    double load_work = 0;
    double step_work = 0;
    std::int64_t streamed_per_step = 0;
    LaunchOutcome outcome = LaunchOutcome::kSucceeded;
    std::int64_t minimum_bytes = 0;  // kBelowMinimum: the minimum stated
    std::int64_t peak_bytes = 0;
    std::int64_t working_peak_bytes = 0;
  };
  struct Device {
    DeviceConfig config;
    std::map<std::string, std::int64_t> resident;
    std::map<std::string, std::int64_t> adapters;  // cached LoRA adapters by key
    std::vector<Running> running;
    TimePoint last_update;
  };

  void Violation(const std::string& what);
  void AdvanceDevice(Device& device, TimePoint t, std::vector<LaunchResult>* finished);
  std::optional<TimePoint> DeviceEventTime(const Device& device) const;
  const ModelProfile& Profile(const std::string& model) const;

  FakeExecutorConfig config_;
  LinearMemoryEstimator truth_;
  std::vector<Device> devices_;
  const VirtualClock& clock_;
  std::mt19937_64 rng_;
  Stats stats_;
  std::vector<std::string> violations_;
};

}  // namespace streamdit::scheduler
