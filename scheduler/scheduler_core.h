#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "scheduler/clock.h"
#include "scheduler/device_state.h"
#include "scheduler/estimate_corrections.h"
#include "scheduler/executor.h"
#include "scheduler/job.h"
#include "scheduler/job_queue.h"
#include "scheduler/memory_estimator.h"
#include "scheduler/scheduler_config.h"
#include "scheduler/scheduler_observer.h"
#include "scheduler/status_reason.h"

namespace streamdit::scheduler {

struct JobEnd {
  JobId id = 0;
  absl::Status status;
};

// What the core decided and the outside world must carry out: launches to start, launches to stop,
// jobs that ended. Deliver starts before stops (a stop may concern a launch started in the same
// batch of decisions).
struct SchedulerOutbox {
  std::vector<Launch> starts;
  std::vector<LaunchId> stops;
  std::vector<JobEnd> ends;
  bool empty() const { return starts.empty() && stops.empty() && ends.empty(); }
};

// A queued job as the policy sees it, for inspection and property tests.
struct QueuedJobView {
  JobId id = 0;
  int model = -1;
  std::int64_t min_bytes = 0;  // corrected working bytes plus adapters: the least it can run with
  std::int64_t weight_bytes = 0;
  Priority priority = Priority::kNormal;
  TimePoint submitted;
};

struct HeadReservation {
  JobId job = 0;
  int device = -1;
};

// The scheduling policy as a deterministic, single-threaded state machine. It never reads a clock
// (every call takes `now`), never calls the executor (decisions go to the outbox) and never
// blocks. The thread-safe Scheduler and the simulations drive it.
class SchedulerCore {
 public:
  // std::invalid_argument for a bad config: no devices, a negative device budget, ...
  SchedulerCore(SchedulerConfig config, std::vector<DeviceConfig> devices,
                const MemoryEstimator& estimator, SchedulerObserver* observer = nullptr);

  // Admission. On success *id is the new job; it will end exactly once (see SchedulerOutbox::ends).
  // Refusals (codes and reasons) are listed at Scheduler::Submit.
  absl::Status Submit(const JobRequest& request, TimePoint now, JobId* id);
  // A queued job leaves at once; a running one ends at once and its launch is told to stop when no
  // member is left (its memory returns when the executor confirms). False if the job is unknown or
  // already ended.
  bool Cancel(JobId id, TimePoint now);
  void OnLaunchFinished(const LaunchResult& result, TimePoint now);
  // Expires deadlines, then places queued jobs in rank order.
  void Dispatch(TimePoint now);
  // Stops admission; accepted jobs still run. Idle() tells when everything has ended.
  void BeginDrain() { draining_ = true; }
  // Marks a device (un)healthy by hand, e.g. after an operator fixed it.
  void SetDeviceHealthy(int device, bool healthy);
  // Ends every queued and running job with `status` (running launches are told to stop): used when
  // the process shuts down before a drain finished, so that no accepted job goes unreported.
  void EndAll(const absl::Status& status, TimePoint now);

  // The next time at which Dispatch has something time-driven to do (a deadline, a reservation).
  std::optional<TimePoint> NextWakeup() const;
  SchedulerOutbox TakeOutbox();

  bool draining() const { return draining_; }
  bool Idle() const { return queue_.empty() && launches_.empty(); }
  std::size_t queued() const { return queue_.size(); }
  std::size_t queued_in(Priority priority) const { return queue_.CountIn(priority); }
  std::size_t running_launches() const { return launches_.size(); }
  const SchedulerConfig& config() const { return config_; }
  const std::vector<DeviceState>& devices() const { return devices_; }
  std::optional<HeadReservation> head_reservation() const;
  std::vector<QueuedJobView> QueueInRankOrder(std::size_t limit) const;
  const std::string& ModelName(int model) const { return model_names_[model]; }
  std::int64_t MaxHealthyBudget() const;
  const EstimateCorrections& corrections() const { return corrections_; }

 private:
  enum class JobState { kQueued, kRunning };

  struct JobRecord {  // (MinBytes: corrected working bytes plus the adapters')
    JobId id = 0;
    JobRequest request;
    int model = -1;
    int batch_key = -1;
    std::string memory_key;
    MemoryDemand base;  // uncorrected, for the job's own batch
    std::int64_t corrected_working = 0;
    std::uint64_t corrected_version = ~std::uint64_t{0};
    TimePoint submitted;
    std::int64_t rank = 0;
    JobState state = JobState::kQueued;
    LaunchId launch = 0;
    int oom_retries = 0;
    int failure_retries = 0;
    bool replanned_for_minimum = false;  // re-planned once after a kBelowMinimum refusal
    double residency_cap = 1.0;  // share of the weights a streamed launch may keep; halves per OOM
    std::int64_t indexed_min_bytes = 0;  // its entry in queued_min_bytes_ (corrected working)
  };

  struct LaunchRecord {
    Launch launch;
    int model = -1;
    std::string memory_key;
    std::int64_t base_working = 0;
    std::vector<JobId> live;  // members that have not ended
    bool stop_requested = false;
  };

  struct Placement {
    int device = -1;
    WeightMode mode = WeightMode::kStreamed;
    // What the device can give this launch (free + evictable), before its adapters' claim.
    std::int64_t available = 0;
  };

  // The least a device must give the job: its corrected working bytes plus its adapters.
  std::int64_t MinBytes(JobRecord& job);
  // Its working bytes with the estimator's correction (cached per corrections version).
  std::int64_t CorrectedWorking(JobRecord& job);
  std::int64_t MostAvailable() const;
  std::optional<Placement> FindPlacement(JobRecord& job);
  // `claim`: DeviceState::AdapterClaim of the launch's adapters on the placement's device.
  bool FitsWith(const Placement& placement, std::int64_t working, std::int64_t weights,
                std::int64_t claim) const;
  std::int64_t Reservation(const Placement& placement, std::int64_t working, std::int64_t weights,
                           double residency_cap, std::int64_t claim) const;
  void Place(JobRecord& head, const Placement& placement, TimePoint now);
  // Gives the reservation to `head` (or drops it while the head is young); true if it changed.
  bool UpdateHeadReservation(JobRecord& head, TimePoint now);
  void ClearHeadReservation();
  void ReportQueueDepth();
  void ExpireDeadlines(TimePoint now);
  void Enqueue(JobRecord& job);
  void Unqueue(JobRecord& job);
  void RemoveFromQueue(JobRecord& job);
  std::int64_t SmallestQueuedMinimum();
  void Requeue(JobRecord& job);
  void EndJob(JobId id, absl::Status status, TimePoint now);
  void EndRunningMember(JobRecord& job, absl::Status status, TimePoint now);
  void MarkUnhealthy(DeviceState& device);
  void ReportDevice(const DeviceState& device);
  int InternModel(const std::string& name);
  int InternBatchKey(const std::string& key);
  JobQueue::Entry QueueEntry(const JobRecord& job) const { return {job.rank, job.id}; }

  SchedulerConfig config_;
  std::vector<DeviceState> devices_;
  const MemoryEstimator& estimator_;
  SchedulerObserver* observer_;
  SchedulerObserver null_observer_;

  std::unordered_map<JobId, JobRecord> jobs_;
  std::unordered_map<LaunchId, LaunchRecord> launches_;
  JobQueue queue_;
  std::set<std::pair<TimePoint, JobId>> deadlines_;  // queued and running jobs with a deadline
  // Corrected working bytes of every queued job, so a round can stop once nothing can fit.
  std::multiset<std::int64_t> queued_min_bytes_;
  std::uint64_t queued_min_bytes_version_ = 0;
  EstimateCorrections corrections_;
  std::vector<std::string> model_names_;
  std::unordered_map<std::string, int> model_index_;
  std::unordered_map<std::string, int> batch_key_index_;
  std::optional<HeadReservation> reservation_;
  std::optional<TimePoint> next_reservation_check_;
  SchedulerOutbox outbox_;
  JobId next_job_id_ = 1;
  LaunchId next_launch_id_ = 1;
  std::uint64_t sequence_ = 0;
  bool draining_ = false;
};

}  // namespace streamdit::scheduler
