#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <set>
#include <unordered_map>

#include "scheduler/job.h"

namespace streamdit::scheduler {

// Queued jobs ordered by rank (lower first), with an index by batch key so that compatible jobs
// are found without a scan, and counts per priority class for the bounded queues.
// The rank is fixed at submit time (see SchedulerConfig::aging_step), so order never changes while
// a job waits and every operation is O(log n).
class JobQueue {
 public:
  struct Entry {
    std::int64_t rank;
    JobId id;
    bool operator<(const Entry& other) const {
      return rank != other.rank ? rank < other.rank : id < other.id;
    }
  };
  using Ordered = std::set<Entry>;

  void Push(const Entry& entry, int batch_key, Priority priority);
  void Remove(const Entry& entry, int batch_key, Priority priority);

  bool empty() const { return ordered_.empty(); }
  std::size_t size() const { return ordered_.size(); }
  std::size_t CountIn(Priority priority) const { return per_priority_[static_cast<int>(priority)]; }
  const Ordered& ordered() const { return ordered_; }
  // Queued jobs with this batch key in rank order; nullptr if none.
  const Ordered* WithBatchKey(int batch_key) const;

 private:
  Ordered ordered_;
  std::unordered_map<int, Ordered> by_batch_key_;
  std::array<std::size_t, kPriorityClasses> per_priority_{};
};

}  // namespace streamdit::scheduler
