#include "scheduler/job_queue.h"

#include <stdexcept>

namespace streamdit::scheduler {

void JobQueue::Push(const Entry& entry, int batch_key, Priority priority) {
  if (!ordered_.insert(entry).second) throw std::logic_error("job queued twice");
  by_batch_key_[batch_key].insert(entry);
  ++per_priority_[static_cast<int>(priority)];
}

void JobQueue::Remove(const Entry& entry, int batch_key, Priority priority) {
  if (ordered_.erase(entry) != 1) throw std::logic_error("removing a job that is not queued");
  auto group = by_batch_key_.find(batch_key);
  group->second.erase(entry);
  if (group->second.empty()) by_batch_key_.erase(group);
  --per_priority_[static_cast<int>(priority)];
}

const JobQueue::Ordered* JobQueue::WithBatchKey(int batch_key) const {
  auto group = by_batch_key_.find(batch_key);
  return group == by_batch_key_.end() ? nullptr : &group->second;
}

}  // namespace streamdit::scheduler
