#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

#include "scheduler/clock.h"
#include "scheduler/executor.h"
#include "scheduler/job.h"
#include "scheduler/status_reason.h"

namespace streamdit::scheduler {

// Metrics and events out of the scheduler. The server implements it with prometheus-cpp; tests use
// it to watch decisions. Called synchronously under the scheduler's lock: keep it cheap, never
// block, never call back into the scheduler. Every method has an empty default.
class SchedulerObserver {
 public:
  virtual ~SchedulerObserver() = default;

  // After every change of the queue: its length, and per priority class [low, normal, high].
  virtual void OnQueueDepth(std::size_t /*depth*/,
                            const std::array<std::size_t, kPriorityClasses>& /*by_priority*/) {}
  virtual void OnAdmitted(JobId /*job*/, const JobRequest& /*request*/) {}
  // An admission refusal; status carries the code and, via ReasonOf(status), the reason
  // (never_fits, queue_full, ...): see Scheduler::Submit.
  virtual void OnRejected(const JobRequest& /*request*/, const absl::Status& /*status*/) {}
  // A launch was placed; longest_wait is the longest queue wait among its members.
  virtual void OnLaunchPlaced(const Launch& /*launch*/, Duration /*longest_wait*/) {}
  // One per member of a placed launch: how long it waited in the queue (since submit).
  virtual void OnJobStarted(JobId /*job*/, Duration /*queue_wait*/) {}
  virtual void OnModelLoaded(int /*device*/, const std::string& /*model*/, std::int64_t /*bytes*/) {
  }
  virtual void OnModelEvicted(int /*device*/, const std::string& /*model*/,
                              std::int64_t /*bytes*/) {}
  // A LoRA adapter entered a device's adapter cache for a launch, or left it (LRU, or room for
  // another launch). A launch whose adapters were all cached loads none.
  virtual void OnAdapterLoaded(int /*device*/, const std::string& /*key*/, std::int64_t /*bytes*/) {
  }
  virtual void OnAdapterEvicted(int /*device*/, const std::string& /*key*/,
                                std::int64_t /*bytes*/) {}
  // Device memory accounting after every change: resident weights + cached adapters + job
  // reservations <= budget.
  virtual void OnDeviceMemory(int /*device*/, std::int64_t /*used_bytes*/,
                              std::int64_t /*budget_bytes*/) {}
  // The large job at the head of the queue keeps new work off `device` until it fits there.
  virtual void OnHeadReservation(JobId /*job*/, int /*device*/) {}
  // Measured against predicted working bytes, per launch, for the estimator's accuracy metrics.
  virtual void OnPeakMeasured(const std::string& /*model*/, std::int64_t /*predicted_bytes*/,
                              std::int64_t /*measured_bytes*/) {}
  virtual void OnOutOfMemoryRetry(JobId /*job*/, int /*attempt*/) {}
  virtual void OnDeviceHealth(int /*device*/, bool /*healthy*/) {}
  // Every accepted job ends exactly once, with OK or the code and reason (ReasonOf) it did not
  // finish with: see JobCallback in scheduler.h.
  virtual void OnJobEnded(JobId /*job*/, const absl::Status& /*status*/,
                          Duration /*since_submit*/) {}
};

}  // namespace streamdit::scheduler
