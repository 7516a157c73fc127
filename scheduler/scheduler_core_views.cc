// SchedulerCore's read-only views and its outbox: what the threaded Scheduler and the service read
// between decisions (the next wake-up, the queue in rank order, the head's reservation).
#include <utility>

#include "scheduler/scheduler_core.h"

namespace streamdit::scheduler {

std::optional<TimePoint> SchedulerCore::NextWakeup() const {
  std::optional<TimePoint> next;
  if (!deadlines_.empty()) next = deadlines_.begin()->first;
  if (next_reservation_check_ && !queue_.empty() && (!next || *next_reservation_check_ < *next)) {
    next = next_reservation_check_;
  }
  return next;
}

SchedulerOutbox SchedulerCore::TakeOutbox() {
  SchedulerOutbox taken = std::move(outbox_);
  outbox_ = SchedulerOutbox();
  return taken;
}

std::optional<HeadReservation> SchedulerCore::head_reservation() const { return reservation_; }

std::vector<QueuedJobView> SchedulerCore::QueueInRankOrder(std::size_t limit) const {
  std::vector<QueuedJobView> views;
  for (const JobQueue::Entry& entry : queue_.ordered()) {
    if (views.size() >= limit) break;
    const JobRecord& job = jobs_.at(entry.id);
    views.push_back(QueuedJobView{
        job.id, job.model,
        corrections_.Apply(job.memory_key, job.base.working_bytes) + job.base.adapter_bytes(),
        job.base.weight_bytes, job.request.priority, job.submitted});
  }
  return views;
}

}  // namespace streamdit::scheduler
