#include "scheduler/scheduler_core.h"

#include <algorithm>
#include <array>
#include <stdexcept>

namespace streamdit::scheduler {
namespace {

std::string Bytes(std::int64_t bytes) { return std::to_string(bytes) + " bytes"; }

// Why a job that needs `minimum` bytes cannot run when the largest healthy budget is `largest`.
absl::Status NoRoom(std::int64_t minimum, std::int64_t largest) {
  if (largest == 0) {
    return WithReason(absl::UnavailableError("no healthy device is left"),
                      StatusReason::kNoHealthyDevice);
  }
  return WithReason(
      absl::ResourceExhaustedError(
          "the job needs at least " + Bytes(minimum) +
          " (all weights streamed) but the largest healthy device budget is " + Bytes(largest)),
      StatusReason::kNeverFits);
}

std::string Seconds(Duration d) {
  return std::to_string(static_cast<long long>(ToSeconds(d) * 1000.0)) + " ms";
}

}  // namespace

SchedulerCore::SchedulerCore(SchedulerConfig config, std::vector<DeviceConfig> devices,
                             const MemoryEstimator& estimator, SchedulerObserver* observer)
    : config_(std::move(config)),
      estimator_(estimator),
      observer_(observer != nullptr ? observer : &null_observer_) {
  if (devices.empty()) throw std::invalid_argument("devices: at least one device is required");
  if (config_.max_batch_images < 1) throw std::invalid_argument("max_batch_images: must be >= 1");
  if (config_.lookahead < 1) throw std::invalid_argument("lookahead: must be >= 1");
  for (std::size_t i = 0; i < devices.size(); ++i) {
    devices_.emplace_back(static_cast<int>(i), std::move(devices[i]));
  }
}

int SchedulerCore::InternModel(const std::string& name) {
  auto [it, inserted] = model_index_.try_emplace(name, static_cast<int>(model_names_.size()));
  if (inserted) model_names_.push_back(name);
  return it->second;
}

int SchedulerCore::InternBatchKey(const std::string& key) {
  return batch_key_index_.try_emplace(key, static_cast<int>(batch_key_index_.size())).first->second;
}

std::int64_t SchedulerCore::MostAvailable() const {
  std::int64_t most = 0;
  for (const DeviceState& device : devices_) {
    if (device.healthy()) most = std::max(most, device.AvailableToAnyLaunch());
  }
  return most;
}

std::int64_t SchedulerCore::MaxHealthyBudget() const {
  std::int64_t largest = 0;
  for (const DeviceState& device : devices_) {
    if (device.healthy()) largest = std::max(largest, device.budget());
  }
  return largest;
}

absl::Status SchedulerCore::Submit(const JobRequest& request, TimePoint now, JobId* id) {
  auto reject = [&](absl::Status status, StatusReason reason = StatusReason::kNone) {
    if (reason != StatusReason::kNone) status = WithReason(std::move(status), reason);
    observer_->OnRejected(request, status);
    return status;
  };
  if (draining_) {
    return reject(absl::UnavailableError("the scheduler is draining and accepts no new jobs"),
                  StatusReason::kDraining);
  }
  const JobShape& shape = request.shape;
  auto invalid = [&](const std::string& field, const std::string& limit) {
    return reject(absl::InvalidArgumentError(field + ": " + limit));
  };
  if (shape.model.empty()) return invalid("model", "must not be empty");
  if (shape.width <= 0) return invalid("width", "must be > 0");
  if (shape.height <= 0) return invalid("height", "must be > 0");
  if (shape.steps <= 0) return invalid("steps", "must be > 0");
  if (shape.batch <= 0) return invalid("batch", "must be > 0");
  int priority = static_cast<int>(request.priority);
  if (priority < 0 || priority >= kPriorityClasses) {
    return invalid("priority", "must be in [0, " + std::to_string(kPriorityClasses) + ")");
  }

  absl::StatusOr<MemoryDemand> estimated = estimator_.Estimate(shape);
  if (!estimated.ok()) return reject(estimated.status());
  const MemoryDemand base = *estimated;
  if (base.weight_bytes < 0 || base.working_bytes < 0) {  // an estimator bug: refuse, never fit
    return reject(absl::InternalError("the memory estimator returned negative bytes (weights " +
                                      Bytes(base.weight_bytes) + ", working " +
                                      Bytes(base.working_bytes) + ")"));
  }
  std::string memory_key = MemoryKey(shape);
  // The job's working bytes and its adapters must fit one device together.
  std::int64_t minimum = corrections_.Apply(memory_key, base.working_bytes) + base.adapter_bytes();
  std::int64_t largest = MaxHealthyBudget();
  if (largest == 0 || minimum > largest) return reject(NoRoom(minimum, largest));
  if (queue_.CountIn(request.priority) >= config_.queue_capacity_per_priority) {
    return reject(absl::ResourceExhaustedError(
                      "the queue of priority class " + std::to_string(priority) + " is full (" +
                      std::to_string(config_.queue_capacity_per_priority) + " jobs)"),
                  StatusReason::kQueueFull);
  }

  JobRecord job;
  job.id = next_job_id_++;
  job.request = request;
  job.model = InternModel(shape.model);
  job.batch_key = InternBatchKey(BatchKey(shape));
  job.memory_key = std::move(memory_key);
  job.base = base;
  job.submitted = now;
  Duration head_start = config_.strict_fifo ? Duration::zero() : config_.aging_step * priority;
  job.rank = (now - head_start).time_since_epoch().count();
  if (request.deadline) deadlines_.emplace(*request.deadline, job.id);
  *id = job.id;
  Enqueue(jobs_.emplace(job.id, std::move(job)).first->second);
  observer_->OnAdmitted(*id, request);
  ReportQueueDepth();
  return absl::OkStatus();
}

bool SchedulerCore::Cancel(JobId id, TimePoint now) {
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return false;
  JobRecord& job = it->second;
  if (job.state == JobState::kQueued) {
    RemoveFromQueue(job);
    EndJob(id, absl::CancelledError("cancelled while queued"), now);
  } else {
    EndRunningMember(job, absl::CancelledError("cancelled while running"), now);
  }
  return true;
}

void SchedulerCore::Enqueue(JobRecord& job) {
  queue_.Push(QueueEntry(job), job.batch_key, job.request.priority);
  job.indexed_min_bytes = CorrectedWorking(job);
  queued_min_bytes_.insert(job.indexed_min_bytes);
}

void SchedulerCore::Unqueue(JobRecord& job) {
  queue_.Remove(QueueEntry(job), job.batch_key, job.request.priority);
  queued_min_bytes_.erase(queued_min_bytes_.find(job.indexed_min_bytes));
}

void SchedulerCore::RemoveFromQueue(JobRecord& job) {
  Unqueue(job);
  ReportQueueDepth();
}

void SchedulerCore::Requeue(JobRecord& job) {
  job.state = JobState::kQueued;
  job.launch = 0;
  Enqueue(job);
  ReportQueueDepth();
}

std::int64_t SchedulerCore::SmallestQueuedMinimum() {
  if (queued_min_bytes_version_ != corrections_.version()) {
    // Corrections grew (rare: after out-of-memory reports): re-index every queued job.
    queued_min_bytes_.clear();
    for (const JobQueue::Entry& entry : queue_.ordered()) {
      JobRecord& job = jobs_.at(entry.id);
      job.indexed_min_bytes = CorrectedWorking(job);
      queued_min_bytes_.insert(job.indexed_min_bytes);
    }
    queued_min_bytes_version_ = corrections_.version();
  }
  return queued_min_bytes_.empty() ? 0 : *queued_min_bytes_.begin();
}

void SchedulerCore::EndJob(JobId id, absl::Status status, TimePoint now) {
  auto it = jobs_.find(id);
  if (it == jobs_.end()) throw std::logic_error("ending an unknown job");
  const JobRecord& job = it->second;
  if (job.request.deadline) deadlines_.erase({*job.request.deadline, id});
  if (reservation_ && reservation_->job == id) ClearHeadReservation();
  observer_->OnJobEnded(id, status, now - job.submitted);
  outbox_.ends.push_back(JobEnd{id, std::move(status)});
  jobs_.erase(it);
}

void SchedulerCore::EndRunningMember(JobRecord& job, absl::Status status, TimePoint now) {
  LaunchRecord& launch = launches_.at(job.launch);
  launch.live.erase(std::find(launch.live.begin(), launch.live.end(), job.id));
  if (launch.live.empty() && !launch.stop_requested) {
    launch.stop_requested = true;
    outbox_.stops.push_back(launch.launch.id);
  }
  EndJob(job.id, std::move(status), now);
}

void SchedulerCore::ExpireDeadlines(TimePoint now) {
  while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
    JobRecord& job = jobs_.at(deadlines_.begin()->second);
    if (job.state == JobState::kQueued) {
      RemoveFromQueue(job);
      EndJob(job.id,
             absl::DeadlineExceededError("deadline passed after " + Seconds(now - job.submitted) +
                                         " in the queue"),
             now);
    } else {
      EndRunningMember(job, absl::DeadlineExceededError("deadline passed while running"), now);
    }
  }
}

std::int64_t SchedulerCore::MinBytes(JobRecord& job) {
  return CorrectedWorking(job) + job.base.adapter_bytes();
}

std::int64_t SchedulerCore::CorrectedWorking(JobRecord& job) {
  if (job.corrected_version != corrections_.version()) {
    job.corrected_working = corrections_.Apply(job.memory_key, job.base.working_bytes);
    job.corrected_version = corrections_.version();
  }
  return job.corrected_working;
}

void SchedulerCore::ClearHeadReservation() { reservation_.reset(); }

void SchedulerCore::ReportQueueDepth() {
  std::array<std::size_t, kPriorityClasses> by_priority{};
  for (int p = 0; p < kPriorityClasses; ++p) {
    by_priority[static_cast<std::size_t>(p)] = queue_.CountIn(static_cast<Priority>(p));
  }
  observer_->OnQueueDepth(queue_.size(), by_priority);
}

bool SchedulerCore::UpdateHeadReservation(JobRecord& head, TimePoint now) {
  std::optional<HeadReservation> before = reservation_;
  if (now - head.submitted < config_.head_reservation_after) {
    // The head is young: no device is held back yet (a previous, displaced head loses its hold).
    ClearHeadReservation();
    next_reservation_check_ = head.submitted + config_.head_reservation_after;
  } else {
    const std::int64_t minimum = MinBytes(head);
    bool keep = reservation_ && reservation_->job == head.id &&
                devices_[reservation_->device].healthy() &&
                devices_[reservation_->device].budget() >= minimum;
    if (!keep) {
      // Hold the device closest to fitting the head: it frees up soonest for it.
      const DeviceState* chosen = nullptr;
      for (const DeviceState& device : devices_) {
        if (!device.healthy() || device.budget() < minimum) continue;
        if (chosen == nullptr || device.AvailableToAnyLaunch() > chosen->AvailableToAnyLaunch()) {
          chosen = &device;
        }
      }
      if (chosen == nullptr) {
        ClearHeadReservation();
      } else {
        reservation_ = HeadReservation{head.id, chosen->index()};
        observer_->OnHeadReservation(head.id, chosen->index());
      }
    }
  }
  bool same =
      before.has_value() == reservation_.has_value() &&
      (!before || (before->job == reservation_->job && before->device == reservation_->device));
  return !same;
}

void SchedulerCore::Dispatch(TimePoint now) {
  ExpireDeadlines(now);
  next_reservation_check_.reset();
  const std::int64_t largest = MaxHealthyBudget();
  // The head is the first job in rank order that fits nowhere. Every job before it was placed, so
  // changing the reservation when the head is found affects only the jobs after it in this walk.
  bool head_found = false;
  std::size_t examined = 0;
  // The most any launch could get anywhere: jobs needing more are skipped without a device scan,
  // which keeps a round cheap when a long queue waits on a full fleet.
  std::int64_t most_available = MostAvailable();
  const JobQueue::Ordered& ordered = queue_.ordered();
  auto it = ordered.begin();
  while (it != ordered.end() && examined < config_.lookahead) {
    const JobQueue::Entry entry = *it;
    JobRecord& job = jobs_.at(entry.id);
    if (MinBytes(job) > largest) {
      // Devices turned unhealthy or the estimate grew: this job can no longer run anywhere.
      RemoveFromQueue(job);
      EndJob(entry.id, NoRoom(MinBytes(job), largest), now);
      it = ordered.upper_bound(entry);
      continue;
    }
    std::optional<Placement> placement;
    // Adapters another launch holds cost nothing: the working bytes alone are the lower bound.
    if (CorrectedWorking(job) <= most_available) placement = FindPlacement(job);
    if (!placement && !head_found && !config_.strict_fifo) {
      // A reservation that moved to the head (or was dropped) may let the head in right away.
      if (UpdateHeadReservation(job, now)) placement = FindPlacement(job);
      head_found = !placement.has_value();
    }
    if (placement) {
      Place(job, *placement, now);
      most_available = MostAvailable();
      it = ordered.upper_bound(entry);
      continue;
    }
    ++examined;
    if (config_.strict_fifo) break;  // head-of-line blocking: nothing overtakes the head
    // Once the head is settled, stop as soon as no queued job is small enough for any device.
    if (head_found && !queue_.empty() && SmallestQueuedMinimum() > most_available) break;
    ++it;
  }
  if (!head_found) ClearHeadReservation();
}

void SchedulerCore::OnLaunchFinished(const LaunchResult& result, TimePoint now) {
  auto found = launches_.find(result.id);
  if (found == launches_.end()) return;  // a duplicate report; the first one counted
  LaunchRecord record = std::move(found->second);
  launches_.erase(found);
  const Launch& launch = record.launch;
  DeviceState& device = devices_[launch.device];
  device.EndLaunch(record.model, launch.budget_bytes, launch.mode != WeightMode::kStreamed,
                   ++sequence_, launch.adapters);
  ReportDevice(device);
  if (result.working_peak_bytes > 0) {
    observer_->OnPeakMeasured(model_names_[record.model], launch.predicted_working_bytes,
                              result.working_peak_bytes);
  }

  LaunchOutcome outcome = result.outcome;
  if (outcome == LaunchOutcome::kStopped && !record.live.empty()) {
    outcome = LaunchOutcome::kFailed;  // stopped without being asked: the executor gave up
  }
  switch (outcome) {
    case LaunchOutcome::kSucceeded:
      device.RecordSuccess();
      corrections_.Observe(record.memory_key, record.base_working, result.working_peak_bytes);
      for (JobId id : record.live) EndJob(id, absl::OkStatus(), now);
      break;
    case LaunchOutcome::kStopped:
      break;  // every member had ended already
    case LaunchOutcome::kOutOfMemory:
      corrections_.GrowAfterOutOfMemory(record.memory_key, record.base_working,
                                        result.working_peak_bytes, config_.oom_correction_growth);
      for (JobId id : record.live) {
        JobRecord& job = jobs_.at(id);
        if (job.memory_key != record.memory_key) {
          corrections_.GrowAfterOutOfMemory(job.memory_key, job.base.working_bytes, 0,
                                            config_.oom_correction_growth);
        }
        if (++job.oom_retries > config_.max_oom_retries) {
          EndJob(
              id,
              WithReason(absl::InternalError("out of memory " + std::to_string(job.oom_retries) +
                                             " times; last budget " + Bytes(launch.budget_bytes) +
                                             ", measured " + Bytes(result.peak_bytes)),
                         StatusReason::kOutOfMemory),
              now);
          continue;
        }
        // Re-plan with less resident: the grown estimate leaves more headroom for activations and a
        // streamed launch keeps at most half as many weights as before.
        job.residency_cap *= 0.5;
        observer_->OnOutOfMemoryRetry(id, job.oom_retries);
        Requeue(job);
      }
      break;
    case LaunchOutcome::kBelowMinimum: {
      // Nothing ran and the device is fine. The estimate was below what the engine plans at the
      // least: learn the stated minimum and re-plan once; a second refusal (or a minimum no
      // device can give) ends the job rather than retrying a budget that cannot succeed.
      corrections_.Observe(record.memory_key, record.base_working, result.minimum_bytes);
      std::int64_t largest_budget = 0;
      for (const DeviceState& candidate : devices_) {
        if (candidate.healthy()) largest_budget = std::max(largest_budget, candidate.budget());
      }
      for (JobId id : record.live) {
        JobRecord& job = jobs_.at(id);
        if (job.replanned_for_minimum || result.minimum_bytes <= 0 ||
            result.minimum_bytes > largest_budget) {
          EndJob(id,
                 WithReason(absl::ResourceExhaustedError(
                                "the job needs at least " + Bytes(result.minimum_bytes) +
                                " (the engine's minimum), but its budget was " +
                                Bytes(launch.budget_bytes) +
                                " and the largest healthy device "
                                "budget is " +
                                Bytes(largest_budget) + ": " + result.message),
                            StatusReason::kNeverFits),
                 now);
          continue;
        }
        job.replanned_for_minimum = true;
        Requeue(job);
      }
      break;
    }
    case LaunchOutcome::kFailed:
      device.RecordFailure();
      if (device.healthy() && device.consecutive_failures() >= config_.unhealthy_after_failures) {
        MarkUnhealthy(device);
      }
      for (JobId id : record.live) {
        JobRecord& job = jobs_.at(id);
        if (++job.failure_retries > config_.max_failure_retries) {
          EndJob(id,
                 WithReason(absl::InternalError("failed " + std::to_string(job.failure_retries) +
                                                " times; last on " + device.config().name + ": " +
                                                result.message),
                            StatusReason::kDeviceFailure),
                 now);
          continue;
        }
        Requeue(job);
      }
      break;
  }
}

void SchedulerCore::MarkUnhealthy(DeviceState& device) {
  device.set_healthy(false);
  if (reservation_ && reservation_->device == device.index()) ClearHeadReservation();
  observer_->OnDeviceHealth(device.index(), false);
}

void SchedulerCore::SetDeviceHealthy(int index, bool healthy) {
  DeviceState& device = devices_.at(index);
  if (device.healthy() == healthy) return;
  if (!healthy) {
    MarkUnhealthy(device);
    return;
  }
  device.set_healthy(true);
  device.RecordSuccess();
  observer_->OnDeviceHealth(index, true);
}

void SchedulerCore::EndAll(const absl::Status& status, TimePoint now) {
  std::vector<JobId> ids;
  ids.reserve(jobs_.size());
  for (const auto& [id, job] : jobs_) ids.push_back(id);
  std::sort(ids.begin(), ids.end());
  for (JobId id : ids) {
    JobRecord& job = jobs_.at(id);
    if (job.state == JobState::kQueued) {
      RemoveFromQueue(job);
      EndJob(id, status, now);
    } else {
      EndRunningMember(job, status, now);
    }
  }
}

void SchedulerCore::ReportDevice(const DeviceState& device) {
  observer_->OnDeviceMemory(device.index(), device.used(), device.budget());
}

}  // namespace streamdit::scheduler
