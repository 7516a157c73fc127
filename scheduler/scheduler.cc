#include "scheduler/scheduler.h"

#include <utility>

namespace streamdit::scheduler {

Scheduler::Scheduler(SchedulerConfig config, std::vector<DeviceConfig> devices,
                     const MemoryEstimator& estimator, Executor& executor, const Clock& clock,
                     SchedulerObserver* observer)
    : clock_(clock),
      executor_(executor),
      core_(std::move(config), std::move(devices), estimator, observer) {
  dispatcher_ = std::thread([this] { DispatcherLoop(); });
}

Scheduler::~Scheduler() {
  {
    std::unique_lock<std::mutex> lock(mu_);
    core_.BeginDrain();
    core_.EndAll(WithReason(absl::UnavailableError("the scheduler shut down before the job ended"),
                            StatusReason::kDraining),
                 clock_.Now());
    Poke();  // the dispatcher delivers those endings, then the wait below returns
    idle_.wait(lock, [this] { return callbacks_.empty() && !delivering_; });
    stop_ = true;
  }
  wake_.notify_all();
  dispatcher_.join();
}

void Scheduler::Poke() {
  dirty_ = true;
  wake_.notify_all();
}

absl::Status Scheduler::Submit(const JobRequest& request, JobCallback on_end, JobId* id) {
  std::lock_guard<std::mutex> lock(mu_);
  absl::Status status = core_.Submit(request, clock_.Now(), id);
  if (status.ok()) {
    callbacks_.emplace(*id, std::move(on_end));
    Poke();
  }
  return status;
}

bool Scheduler::Cancel(JobId id) {
  std::lock_guard<std::mutex> lock(mu_);
  bool known = core_.Cancel(id, clock_.Now());
  if (known) Poke();
  return known;
}

void Scheduler::OnLaunchFinished(const LaunchResult& result) {
  std::lock_guard<std::mutex> lock(mu_);
  core_.OnLaunchFinished(result, clock_.Now());
  Poke();
}

void Scheduler::SetDeviceHealthy(int device, bool healthy) {
  std::lock_guard<std::mutex> lock(mu_);
  core_.SetDeviceHealthy(device, healthy);
  Poke();
}

void Scheduler::Drain() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    core_.BeginDrain();
  }
  WaitIdle();
}

void Scheduler::WaitIdle() {
  std::unique_lock<std::mutex> lock(mu_);
  idle_.wait(lock, [this] { return IdleLocked(); });
}

void Scheduler::Inspect(const std::function<void(const SchedulerCore&)>& inspect) const {
  std::lock_guard<std::mutex> lock(mu_);
  inspect(core_);
}

void Scheduler::Deliver(SchedulerOutbox& outbox, std::unique_lock<std::mutex>& lock) {
  std::vector<std::pair<JobCallback, JobEnd>> ends;
  ends.reserve(outbox.ends.size());
  for (JobEnd& end : outbox.ends) {
    auto found = callbacks_.find(end.id);
    ends.emplace_back(std::move(found->second), std::move(end));
    callbacks_.erase(found);
  }
  delivering_ = true;
  lock.unlock();
  for (const Launch& launch : outbox.starts) executor_.Start(launch);
  for (LaunchId id : outbox.stops) executor_.Stop(id);
  for (auto& [callback, end] : ends) {
    if (callback) callback(end.id, end.status);
  }
  lock.lock();
  delivering_ = false;
}

void Scheduler::DispatcherLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    dirty_ = false;
    core_.Dispatch(clock_.Now());
    SchedulerOutbox outbox = core_.TakeOutbox();
    if (!outbox.empty()) {
      Deliver(outbox, lock);
      continue;  // more may have happened while delivering
    }
    if (IdleLocked() || callbacks_.empty()) idle_.notify_all();
    if (dirty_ || stop_) continue;
    std::optional<TimePoint> wake_at = core_.NextWakeup();
    if (wake_at) {
      wake_.wait_for(lock, *wake_at - clock_.Now(), [this] { return dirty_ || stop_; });
    } else {
      wake_.wait(lock, [this] { return dirty_ || stop_; });
    }
  }
}

}  // namespace streamdit::scheduler
