// Property tests over thousands of random workloads on the virtual clock: random fleets (1-8
// devices, different budgets), sizes, priorities, arrivals, cancellations, deadlines, hidden
// under-estimates (OOM), transient OOMs, failing devices, drains, and random policy settings.
// Checked after every dispatch and at the end of every run:
//   budgets    reserved + resident bytes never exceed any device's budget and no count is negative
//              (the core's books and the fake executor's own accounting), and every launch's
//              budget covers its estimate;
//   endings    every accepted job ends exactly once, with a reason that matches what happened:
//              a cancelled or expired job ends exactly when it was cancelled or expired;
//   no waste   after each dispatch none of the jobs the round looked at fits anywhere it may go,
//              and a device is held back only for the job at the head of the rank order;
//   aging      the queue is ordered by arrival minus priority x aging_step, so once a job has
//              waited the aging bound nothing that arrives later ranks ahead of it;
//   head bound a job that holds a device reservation starts no later than that device's running
//              work takes to finish (the head is never starved by later, smaller jobs).
// Together: a job that could fit is started in the same round unless the rank order (bounded by
// aging) or the head's reservation (bounded by one device drain) says otherwise.

#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <random>
#include <sstream>

#include "scheduler/simulation.h"
#include "tests/unit/scheduler/scheduler_test_rig.h"

namespace streamdit::scheduler {
namespace {

using std::chrono::milliseconds;
using testing_rig::kGB;

int CaseCount() {
  if (const char* env = std::getenv("STREAMDIT_PROPERTY_CASES")) return std::atoi(env);
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
  return 300;  // sanitizers run ~10x slower; the threaded tests are what they are for
#else
  return 5000;
#endif
}

std::vector<ModelProfile> PropertyModels() {
  std::vector<ModelProfile> models = testing_rig::TestModels();
  models.push_back(ModelProfile{"huge", 60 * kGB, 3 * kGB, 2 * kGB, kGB / 2, 0.3});
  return models;
}

struct Workload {
  SchedulerConfig config;
  std::vector<DeviceConfig> devices;
  FakeExecutorConfig executor;
  std::vector<TraceJob> trace;
  std::optional<Duration> drain_at;
};

Workload RandomWorkload(std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  auto uniform = [&rng](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  auto chance = [&rng](double p) { return std::uniform_real_distribution<double>(0, 1)(rng) < p; };
  Workload w;
  w.config.queue_capacity_per_priority = static_cast<std::size_t>(uniform(1, 60));
  w.config.aging_step = milliseconds(uniform(0, 20000));
  w.config.head_reservation_after = milliseconds(uniform(0, 30000));
  w.config.lookahead = static_cast<std::size_t>(uniform(1, 64));
  w.config.max_batch_images = uniform(1, 6);
  w.config.max_oom_retries = uniform(0, 3);
  w.config.max_failure_retries = uniform(0, 4);
  w.config.unhealthy_after_failures = uniform(1, 4);
  if (chance(0.2)) {
    w.config.strict_fifo = true;
    w.config.placement = PlacementPolicy::kFirstFit;
  } else if (chance(0.2)) {
    w.config.placement = PlacementPolicy::kFirstFit;
  }
  const int device_count = uniform(1, 8);
  for (int i = 0; i < device_count; ++i) {
    w.devices.push_back(
        DeviceConfig{"gpu" + std::to_string(i), static_cast<std::int64_t>(uniform(4, 80)) * kGB});
    w.executor.failure_probability.push_back(chance(0.15) ? uniform(20, 100) / 100.0 : 0.0);
  }
  w.executor.underestimated_share = chance(0.5) ? uniform(0, 50) / 100.0 : 0.0;
  w.executor.underestimate_factor = 1.0 + uniform(5, 60) / 100.0;
  w.executor.transient_oom_probability = chance(0.3) ? uniform(0, 15) / 100.0 : 0.0;
  w.executor.seed = seed;

  static const char* kModels[] = {"big", "medium", "small", "huge"};
  static const int kSides[] = {256, 512, 768, 1024, 1536, 2048, 4096};
  const int jobs = uniform(1, 120);
  const double mean_gap_ms = uniform(10, 5000);
  std::exponential_distribution<double> gap(1.0 / mean_gap_ms);
  Duration arrival{};
  for (int i = 0; i < jobs; ++i) {
    arrival += milliseconds(static_cast<long>(gap(rng)));
    TraceJob job;
    job.arrival = arrival;
    job.shape.model = kModels[uniform(0, 3)];
    job.shape.width = kSides[uniform(0, 6)];
    job.shape.height = kSides[uniform(0, 5)];
    job.shape.steps = uniform(1, 50);
    job.shape.batch = uniform(1, 4);
    if (chance(0.3)) job.shape.loras.push_back("a");
    if (chance(0.2)) job.shape.loras.push_back("b");
    job.priority = static_cast<Priority>(uniform(0, kPriorityClasses - 1));
    if (chance(0.2)) job.deadline_after = milliseconds(uniform(0, 60000));
    if (chance(0.15)) job.cancel_after = milliseconds(uniform(0, 30000));
    w.trace.push_back(job);
  }
  if (chance(0.1)) w.drain_at = arrival / 2;
  return w;
}

// Records placements and reservations between two checks (the hook runs after each dispatch).
struct PlacementLog : SchedulerObserver {
  std::vector<JobId> placed;
  bool reserved = false;
  void OnLaunchPlaced(const Launch& launch, Duration) override {
    placed.insert(placed.end(), launch.jobs.begin(), launch.jobs.end());
  }
  void OnHeadReservation(JobId, int) override { reserved = true; }
};

class Checker {
 public:
  explicit Checker(const SchedulerConfig& config) : config_(config) {}

  void AfterDispatch(const SchedulerCore& core, const FakeExecutor& executor, TimePoint now,
                     PlacementLog& log) {
    CheckBudgets(core);
    CheckQueue(core);
    CheckHeadBound(core, executor, now, log);
  }

  std::vector<std::string> failures;

 private:
  void Fail(const std::string& what) {
    if (failures.size() < 5) failures.push_back(what);
  }

  void CheckBudgets(const SchedulerCore& core) {
    for (const DeviceState& device : core.devices()) {
      std::int64_t resident = 0;
      for (const ResidentModel& model : device.resident()) resident += model.bytes;
      // Signed books: an over-release would show as a negative count, not a wrapped huge one.
      if (resident != device.resident_bytes() || device.used() > device.budget() ||
          device.reserved_bytes() < 0 || device.idle_resident_bytes() < 0 ||
          device.idle_resident_bytes() > device.resident_bytes()) {
        Fail("device " + std::to_string(device.index()) + " uses " + std::to_string(device.used()) +
             " of " + std::to_string(device.budget()));
      }
    }
  }

  // The most a job could get on a device, computed here from the device's books: free bytes
  // plus every idle model and adapter (evicted, or kept and shared when it is the job's own).
  static std::int64_t Available(const DeviceState& device) {
    std::int64_t idle = 0;
    for (const ResidentModel& entry : device.resident()) {
      if (entry.active_launches == 0) idle += entry.bytes;
    }
    std::int64_t cached = 0;
    for (const CachedAdapter& entry : device.adapters()) {
      cached += entry.bytes;
      if (entry.active_launches == 0) idle += entry.bytes;
    }
    return device.budget() - device.resident_bytes() - cached - device.reserved_bytes() + idle;
  }

  void CheckQueue(const SchedulerCore& core) {
    const std::size_t window = config_.strict_fifo ? 1 : config_.lookahead;
    std::vector<QueuedJobView> queue = core.QueueInRankOrder(window);
    std::optional<HeadReservation> reservation = core.head_reservation();
    if (reservation && (queue.empty() || reservation->job != queue.front().id)) {
      Fail("a device is reserved for job " + std::to_string(reservation->job) +
           " which is not the head of the queue");
    }
    for (std::size_t i = 0; i < queue.size(); ++i) {
      const QueuedJobView& job = queue[i];
      for (const DeviceState& device : core.devices()) {
        if (!device.healthy()) continue;
        if (reservation && reservation->device == device.index() && reservation->job != job.id) {
          continue;
        }
        if (job.min_bytes <= Available(device)) {
          Fail("queued job " + std::to_string(job.id) + " (rank " + std::to_string(i) + ") needs " +
               std::to_string(job.min_bytes) + " and fits device " +
               std::to_string(device.index()) + " (budget " + std::to_string(device.budget()) +
               ", resident " + std::to_string(device.resident_bytes()) + ", reserved " +
               std::to_string(device.reserved_bytes()) + ", available " +
               std::to_string(Available(device)) + ")");
        }
      }
      if (i > 0) {
        auto key = [this](const QueuedJobView& v) {
          Duration head_start = config_.strict_fifo
                                    ? Duration::zero()
                                    : config_.aging_step * static_cast<int>(v.priority);
          return std::make_pair(v.submitted - head_start, v.id);
        };
        if (key(queue[i]) < key(queue[i - 1])) {
          Fail("queue out of aging order at rank " + std::to_string(i));
        }
      }
    }
  }

  void CheckHeadBound(const SchedulerCore& core, const FakeExecutor& executor, TimePoint now,
                      PlacementLog& log) {
    if (holder_) {
      for (JobId id : log.placed) {
        if (id == holder_->job && now > bound_) {
          Fail("job " + std::to_string(id) + " held a reservation but started " +
               std::to_string(ToSeconds(now - bound_)) + " s after its device drained");
        }
      }
    }
    log.placed.clear();
    std::optional<HeadReservation> reservation = core.head_reservation();
    bool same = reservation && holder_ && reservation->job == holder_->job &&
                reservation->device == holder_->device;
    // A reservation taken (again) during this round starts a new bound, even for the same holder:
    // a job ranked ahead of the holder (e.g. an OOM retry) may have used the device in between.
    if (reservation && (!same || log.reserved)) {
      // Processor sharing: everything now running on the device is done after the sum of its
      // remaining work (plus a nanosecond of rounding per event).
      bound_ =
          now + FromSeconds(executor.RemainingWorkSeconds(reservation->device)) + milliseconds(1);
    }
    holder_ = reservation;
    log.reserved = false;
  }

  SchedulerConfig config_;
  std::optional<HeadReservation> holder_;
  TimePoint bound_;
};

void CheckEndings(const Workload& w, const SimulationResult& result,
                  std::vector<std::string>* out) {
  auto fail = [out](std::size_t i, const std::string& what) {
    if (out->size() < 5) out->push_back("trace job " + std::to_string(i) + ": " + what);
  };
  for (std::size_t i = 0; i < w.trace.size(); ++i) {
    const TraceJob& trace = w.trace[i];
    const SimulatedJob& job = result.jobs[i];
    if (!job.admission.ok()) {
      if (job.end_reports != 0) fail(i, "rejected but reported as ended");
      StatusReason reason = ReasonOf(job.admission);
      if (reason != StatusReason::kNeverFits && reason != StatusReason::kQueueFull &&
          reason != StatusReason::kDraining && reason != StatusReason::kNoHealthyDevice) {
        fail(i, "unexpected rejection " + job.admission.ToString());
      }
      if (w.drain_at && trace.arrival >= *w.drain_at && reason != StatusReason::kDraining) {
        fail(i, "arrived while draining but refused for " + job.admission.ToString());
      }
      continue;
    }
    if (w.drain_at && trace.arrival > *w.drain_at) fail(i, "accepted while draining");
    if (job.end_reports != 1) {
      fail(i, "ended " + std::to_string(job.end_reports) + " times");
      continue;
    }
    const TimePoint ended = *job.ended;
    std::optional<TimePoint> cancel_at, deadline;
    if (trace.cancel_after) cancel_at = job.submitted + *trace.cancel_after;
    if (trace.deadline_after) deadline = job.submitted + *trace.deadline_after;
    if (cancel_at && ended > *cancel_at) fail(i, "ended after it was cancelled");
    if (deadline && ended > *deadline) fail(i, "ended after its deadline");
    switch (job.status.code()) {
      case absl::StatusCode::kOk:
        if (!job.first_start || *job.first_start > ended) fail(i, "succeeded without running");
        break;
      case absl::StatusCode::kCancelled:
        if (!cancel_at || ended != *cancel_at) fail(i, "cancelled at the wrong time");
        break;
      case absl::StatusCode::kDeadlineExceeded:
        if (!deadline || ended != *deadline) fail(i, "expired at the wrong time");
        break;
      case absl::StatusCode::kInternal:
        if (ReasonOf(job.status) != StatusReason::kOutOfMemory &&
            ReasonOf(job.status) != StatusReason::kDeviceFailure) {
          fail(i, "internal error without a reason");
        }
        if (!job.first_start) fail(i, "failed without running");
        break;
      case absl::StatusCode::kResourceExhausted:
      case absl::StatusCode::kUnavailable:
        // Only after the fleet shrank (unhealthy devices) or the estimate grew.
        if (ReasonOf(job.status) != StatusReason::kNeverFits &&
            ReasonOf(job.status) != StatusReason::kNoHealthyDevice) {
          fail(i, "unexpected " + job.status.ToString());
        }
        break;
      default:
        fail(i, "unexpected " + job.status.ToString());
    }
  }
}

TEST(PropertyTest, RandomWorkloadsKeepEveryInvariant) {
  const int cases = CaseCount();
  std::map<absl::StatusCode, int> outcomes;
  std::uint64_t launches = 0, ooms = 0, failures = 0, reservations_checked = 0;
  for (int seed = 1; seed <= cases; ++seed) {
    Workload w = RandomWorkload(static_cast<std::uint64_t>(seed));
    PlacementLog log;
    Simulation simulation(w.config, w.devices, PropertyModels(), w.executor, &log);
    if (w.drain_at) simulation.set_drain_at(*w.drain_at);
    Checker checker(w.config);
    simulation.set_after_dispatch(
        [&](const SchedulerCore& core, const FakeExecutor& executor, TimePoint now) {
          checker.AfterDispatch(core, executor, now, log);
          if (core.head_reservation()) ++reservations_checked;
        });
    SimulationResult result = simulation.Run(w.trace);
    std::vector<std::string> problems = checker.failures;
    CheckEndings(w, result, &problems);
    for (const std::string& v : result.violations) problems.push_back("executor: " + v);
    if (!result.core_idle) problems.push_back("work left when nothing else could happen");
    if (!problems.empty()) {
      std::ostringstream text;
      for (const std::string& p : problems) text << "\n  " << p;
      FAIL() << "seed " << seed << " (" << w.devices.size() << " devices, " << w.trace.size()
             << " jobs):" << text.str();
    }
    for (const SimulatedJob& job : result.jobs) {
      ++outcomes[job.admission.ok() ? job.status.code() : job.admission.code()];
    }
    launches += result.executor.launches;
    ooms += result.executor.out_of_memory;
    failures += result.executor.failures;
  }
  // The workloads must exercise every path, or the properties above say little.
  EXPECT_GT(outcomes[absl::StatusCode::kOk], cases * 10);
  EXPECT_GT(outcomes[absl::StatusCode::kCancelled], 0);
  EXPECT_GT(outcomes[absl::StatusCode::kDeadlineExceeded], 0);
  EXPECT_GT(outcomes[absl::StatusCode::kResourceExhausted], 0);
  EXPECT_GT(outcomes[absl::StatusCode::kInternal], 0);
  EXPECT_GT(outcomes[absl::StatusCode::kUnavailable], 0);
  EXPECT_GT(ooms, 0u);
  EXPECT_GT(failures, 0u);
  EXPECT_GT(reservations_checked, 0u);
  std::printf("%d workloads, %llu launches (%llu out of memory, %llu failed); jobs: ", cases,
              static_cast<unsigned long long>(launches), static_cast<unsigned long long>(ooms),
              static_cast<unsigned long long>(failures));
  for (const auto& [code, count] : outcomes)
    std::printf("%s %d  ", absl::StatusCodeToString(code).c_str(), count);
  std::printf("\n");
}

}  // namespace
}  // namespace streamdit::scheduler
