#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "scheduler/clock.h"
#include "scheduler/executor.h"
#include "scheduler/memory_estimator.h"
#include "scheduler/scheduler_config.h"
#include "scheduler/scheduler_core.h"
#include "scheduler/scheduler_observer.h"
#include "scheduler/status_reason.h"

namespace streamdit::scheduler {

// Called exactly once per accepted job, on the dispatcher thread, never under the lock, with how
// the job ended:
//   OK                                      finished
//   CANCELLED                               Cancel() while queued or running
//   DEADLINE_EXCEEDED                       the request's deadline passed, queued or running
//   RESOURCE_EXHAUSTED  (never_fits)        devices turned unhealthy or the estimate grew until
//                                           the job fits no healthy device
//   UNAVAILABLE         (no_healthy_device) no healthy device is left
//   UNAVAILABLE         (draining)          the scheduler was destroyed before the job ended
//   INTERNAL            (out_of_memory)     out-of-memory retries exhausted
//   INTERNAL            (device_failure)    execution-failure retries exhausted
// The reason in parentheses is ReasonOf(status) (scheduler/status_reason.h).
using JobCallback = std::function<void(JobId, const absl::Status&)>;

// The thread-safe front of SchedulerCore for real use: Submit, Cancel and the executor's reports
// may come from any thread; one dispatcher thread runs the policy whenever something changed or a
// deadline comes due, and carries out its decisions (executor calls, job callbacks) outside the
// lock, so an executor or a callback may call back into the scheduler.
class Scheduler {
 public:
  Scheduler(SchedulerConfig config, std::vector<DeviceConfig> devices,
            const MemoryEstimator& estimator, Executor& executor, const Clock& clock,
            SchedulerObserver* observer = nullptr);
  // Ends whatever is still pending with UNAVAILABLE, then stops the dispatcher.
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // OK and *id set: accepted, and on_end will be called exactly once. Otherwise the job was refused
  // (on_end is never called), with ReasonOf(status) telling refusals of one code apart:
  //   INVALID_ARGUMENT                        a shape field out of range (the field is named)
  //   NOT_FOUND                               the estimator does not know the model or a LoRA
  //   RESOURCE_EXHAUSTED  (never_fits)        larger than every healthy device's budget, even with
  //                                           every weight streamed: retrying will not help
  //   RESOURCE_EXHAUSTED  (queue_full)        the priority class's queue is full: retry later
  //   UNAVAILABLE         (draining)          admission has stopped
  //   UNAVAILABLE         (no_healthy_device) no healthy device is left
  //   INTERNAL                                the estimator returned a negative demand
  absl::Status Submit(const JobRequest& request, JobCallback on_end, JobId* id);
  bool Cancel(JobId id);
  void OnLaunchFinished(const LaunchResult& result);
  void SetDeviceHealthy(int device, bool healthy);

  // Drain: admission stops at once; returns when every accepted job has ended and been reported.
  void Drain();
  // Blocks until nothing is queued, running or waiting to be reported.
  void WaitIdle();

  // Runs `inspect` under the lock (for status pages and tests).
  void Inspect(const std::function<void(const SchedulerCore&)>& inspect) const;

 private:
  void DispatcherLoop();
  void Deliver(SchedulerOutbox& outbox, std::unique_lock<std::mutex>& lock);
  bool IdleLocked() const { return core_.Idle() && callbacks_.empty() && !delivering_; }
  void Poke();

  const Clock& clock_;
  Executor& executor_;
  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::condition_variable idle_;
  SchedulerCore core_;
  std::unordered_map<JobId, JobCallback> callbacks_;
  bool dirty_ = false;
  bool delivering_ = false;
  bool stop_ = false;
  std::thread dispatcher_;
};

}  // namespace streamdit::scheduler
