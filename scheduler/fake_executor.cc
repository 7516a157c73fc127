#include "scheduler/fake_executor.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <utility>

namespace streamdit::scheduler {
namespace {

constexpr double kDoneEpsilon = 1e-9;  // one nanosecond of work

// FNV-1a: a hash that is the same on every platform, so simulations are reproducible.
std::uint64_t StableHash(const std::string& text) {
  std::uint64_t hash = 1469598103934665603ull;
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  return hash;
}

}  // namespace

FakeExecutor::FakeExecutor(FakeExecutorConfig config, std::vector<ModelProfile> models,
                           std::vector<DeviceConfig> devices, const VirtualClock& clock)
    : config_(std::move(config)), truth_(std::move(models)), clock_(clock), rng_(config_.seed) {
  for (DeviceConfig& device : devices) {
    devices_.push_back(Device{std::move(device), {}, {}, {}, clock.Now()});
  }
}

const ModelProfile& FakeExecutor::Profile(const std::string& model) const {
  const ModelProfile* profile = truth_.Find(model);
  if (profile == nullptr) throw std::invalid_argument("fake executor: unknown model " + model);
  return *profile;
}

std::int64_t FakeExecutor::TrueWorkingBytes(const JobShape& shape) const {
  absl::StatusOr<MemoryDemand> estimated = truth_.Estimate(shape);
  if (!estimated.ok()) {
    throw std::invalid_argument("fake executor: " + estimated.status().ToString());
  }
  const MemoryDemand& demand = *estimated;
  double share = static_cast<double>(StableHash(BatchKey(shape)) % 10000) / 10000.0;
  if (share < config_.underestimated_share) {
    return static_cast<std::int64_t>(static_cast<double>(demand.working_bytes) *
                                     config_.underestimate_factor);
  }
  return demand.working_bytes;
}

void FakeExecutor::Violation(const std::string& what) { violations_.push_back(what); }

void FakeExecutor::Start(const Launch& launch) {
  if (launch.device < 0 || launch.device >= static_cast<int>(devices_.size())) {
    Violation("launch on unknown device " + std::to_string(launch.device));
    return;
  }
  Device& device = devices_[launch.device];
  AdvanceDevice(device, clock_.Now(), nullptr);
  const std::string where = device.config.name + " launch " + std::to_string(launch.id) + ": ";
  const ModelProfile& profile = Profile(launch.shape.model);

  for (const std::string& model : launch.evict) {
    bool busy = std::any_of(device.running.begin(), device.running.end(), [&](const Running& r) {
      return r.launch.shape.model == model && r.launch.mode != WeightMode::kStreamed;
    });
    if (busy) Violation(where + "evicts " + model + " while a launch uses it");
    if (device.resident.erase(model) == 0) Violation(where + "evicts absent " + model);
  }
  for (const std::string& key : launch.evict_adapters) {
    bool busy = std::any_of(device.running.begin(), device.running.end(), [&](const Running& r) {
      return std::any_of(r.launch.adapters.begin(), r.launch.adapters.end(),
                         [&](const AdapterDemand& adapter) { return adapter.key == key; });
    });
    if (busy) Violation(where + "evicts adapter " + key + " while a launch uses it");
    if (device.adapters.erase(key) == 0) Violation(where + "evicts absent adapter " + key);
  }
  for (const AdapterDemand& adapter : launch.adapters) {
    if (device.adapters.emplace(adapter.key, adapter.bytes).second) ++stats_.adapter_loads;
  }
  bool resident = device.resident.count(launch.shape.model) != 0;
  if (launch.mode == WeightMode::kShared && !resident) {
    Violation(where + "shares " + launch.shape.model + " which is not resident");
  }
  if (launch.mode == WeightMode::kLoad) {
    if (resident) Violation(where + "loads " + launch.shape.model + " which is resident");
    device.resident[launch.shape.model] = profile.weight_bytes;
    ++stats_.model_loads;
    stats_.bytes_loaded += profile.weight_bytes;
  }
  std::int64_t used = launch.budget_bytes;
  for (const auto& [model, bytes] : device.resident) used += bytes;
  for (const auto& [key, bytes] : device.adapters) used += bytes;
  for (const Running& other : device.running) used += other.launch.budget_bytes;
  if (used > device.config.budget_bytes) {
    Violation(where + "device would use " + std::to_string(used) + " bytes of " +
              std::to_string(device.config.budget_bytes));
  }
  if (launch.budget_bytes < launch.predicted_working_bytes) {
    Violation(where + "budget below the predicted working bytes");
  }

  Running run;
  run.launch = launch;
  std::int64_t kept = 0;  // weights a streamed launch keeps in its own budget
  if (launch.mode == WeightMode::kStreamed) {
    // Clamped at zero: a budget below the prediction is a violation (recorded above), not a
    // licence to stream more than the whole model.
    kept = std::clamp<std::int64_t>(launch.budget_bytes - launch.predicted_working_bytes, 0,
                                    profile.weight_bytes);
    run.streamed_per_step = profile.weight_bytes - kept;
  }
  const std::int64_t true_working = TrueWorkingBytes(launch.shape);
  run.load_work = launch.mode == WeightMode::kLoad
                      ? static_cast<double>(profile.weight_bytes) / config_.load_bytes_per_second
                      : 0.0;
  run.step_work =
      profile.compute_seconds_per_megapixel_step * Megapixels(launch.shape) * launch.shape.batch +
      static_cast<double>(run.streamed_per_step) / config_.h2d_bytes_per_second;
  run.end_work = run.load_work + run.step_work * launch.shape.steps;
  run.peak_bytes = true_working + kept;
  run.working_peak_bytes = true_working;

  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  double failure_probability =
      static_cast<std::size_t>(launch.device) < config_.failure_probability.size()
          ? config_.failure_probability[launch.device]
          : 0.0;
  const double oom_draw = uniform(rng_);
  const double failure_draw = uniform(rng_);
  const double failure_point = uniform(rng_);
  const std::int64_t minimum = static_cast<std::int64_t>(
      std::ceil(config_.minimum_factor * static_cast<double>(true_working)));
  if (config_.minimum_factor > 0 && launch.budget_bytes < minimum) {
    // Planned before any work, as the pipeline does: nothing loads, nothing runs.
    run.outcome = LaunchOutcome::kBelowMinimum;
    run.minimum_bytes = minimum;
    run.end_work = 0;
  } else if (true_working + kept > launch.budget_bytes ||
             oom_draw < config_.transient_oom_probability) {
    // The first step's activations do not fit: the engine's meter reports what it tried to hold.
    run.outcome = LaunchOutcome::kOutOfMemory;
    run.end_work = run.load_work + run.step_work;
  } else if (failure_draw < failure_probability) {
    run.outcome = LaunchOutcome::kFailed;
    run.end_work = run.end_work * failure_point;
  }
  ++stats_.launches;
  device.running.push_back(std::move(run));
}

void FakeExecutor::Stop(LaunchId id) {
  for (Device& device : devices_) {
    for (Running& run : device.running) {
      if (run.launch.id != id) continue;
      AdvanceDevice(device, clock_.Now(), nullptr);
      // Finish the load (the weights stay resident for others), then stop at the next step.
      double steps_done = std::max(0.0, run.done - run.load_work) / run.step_work;
      double boundary = run.load_work + std::ceil(steps_done - kDoneEpsilon) * run.step_work;
      if (boundary < run.end_work) {
        run.end_work = std::max(boundary, run.done);
        run.outcome = LaunchOutcome::kStopped;
      }
      return;
    }
  }
}

std::optional<TimePoint> FakeExecutor::DeviceEventTime(const Device& device) const {
  if (device.running.empty()) return std::nullopt;
  double least = device.running.front().end_work - device.running.front().done;
  for (const Running& run : device.running) least = std::min(least, run.end_work - run.done);
  double seconds = std::max(0.0, least) * static_cast<double>(device.running.size());
  return device.last_update + Duration(static_cast<Duration::rep>(std::ceil(seconds * 1e9)));
}

std::optional<TimePoint> FakeExecutor::NextEventTime() const {
  std::optional<TimePoint> next;
  for (const Device& device : devices_) {
    std::optional<TimePoint> t = DeviceEventTime(device);
    if (t && (!next || *t < *next)) next = t;
  }
  return next;
}

void FakeExecutor::AdvanceDevice(Device& device, TimePoint t, std::vector<LaunchResult>* finished) {
  if (t > device.last_update) {
    if (!device.running.empty()) {
      double share = ToSeconds(t - device.last_update) / static_cast<double>(device.running.size());
      for (Running& run : device.running) run.done += share;
    }
    device.last_update = t;
  }
  if (finished == nullptr) return;
  for (auto it = device.running.begin(); it != device.running.end();) {
    if (it->end_work - it->done > kDoneEpsilon) {
      ++it;
      continue;
    }
    const Running& run = *it;
    LaunchResult result;
    result.id = run.launch.id;
    result.outcome = run.outcome;
    result.peak_bytes = run.peak_bytes;
    result.working_peak_bytes = run.working_peak_bytes;
    double steps_run = std::max(0.0, run.end_work - run.load_work) / run.step_work;
    stats_.bytes_streamed += static_cast<std::int64_t>(
        std::llround(steps_run * static_cast<double>(run.streamed_per_step)));
    switch (run.outcome) {
      case LaunchOutcome::kSucceeded:
        stats_.images_completed += run.launch.shape.batch;
        break;
      case LaunchOutcome::kOutOfMemory:
        ++stats_.out_of_memory;
        result.message = "out of memory in step 1";
        break;
      case LaunchOutcome::kFailed:
        ++stats_.failures;
        result.message = "injected device failure";
        result.working_peak_bytes = 0;
        break;
      case LaunchOutcome::kBelowMinimum:
        ++stats_.below_minimum;
        result.message = "budget below the engine's minimum";
        result.minimum_bytes = run.minimum_bytes;
        result.peak_bytes = 0;
        result.working_peak_bytes = 0;
        break;
      case LaunchOutcome::kStopped:
        ++stats_.stopped;
        result.working_peak_bytes = 0;
        break;
    }
    finished->push_back(std::move(result));
    it = device.running.erase(it);
  }
}

std::vector<LaunchResult> FakeExecutor::AdvanceTo(TimePoint t) {
  std::vector<LaunchResult> finished;
  while (true) {
    Device* next_device = nullptr;
    TimePoint next_time;
    for (Device& device : devices_) {
      std::optional<TimePoint> event = DeviceEventTime(device);
      if (event && *event <= t && (next_device == nullptr || *event < next_time)) {
        next_device = &device;
        next_time = *event;
      }
    }
    if (next_device == nullptr) break;
    AdvanceDevice(*next_device, next_time, &finished);
  }
  for (Device& device : devices_) AdvanceDevice(device, t, &finished);
  return finished;
}

bool FakeExecutor::Idle() const {
  return std::all_of(devices_.begin(), devices_.end(),
                     [](const Device& device) { return device.running.empty(); });
}

double FakeExecutor::RemainingWorkSeconds(int index) const {
  double total = 0;
  for (const Running& run : devices_.at(index).running) total += run.end_work - run.done;
  return total;
}

}  // namespace streamdit::scheduler
