#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "scheduler/job.h"
#include "scheduler/scheduler_config.h"

namespace streamdit::scheduler {

// Weights of one model held on a device and shared by every launch of that model there.
struct ResidentModel {
  int model = -1;  // interned model index
  std::int64_t bytes = 0;
  int active_launches = 0;      // evictable only when zero
  std::uint64_t last_used = 0;  // scheduler sequence number, for LRU eviction
};

// Memory accounting for one device: resident weights plus launch reservations never exceed the
// budget. Every mutation keeps that invariant or fails loudly (std::logic_error): a broken
// invariant here is a scheduler bug, never a user error.
class DeviceState {
 public:
  // std::invalid_argument if config.budget_bytes < 0.
  DeviceState(int index, DeviceConfig config);

  int index() const { return index_; }
  const DeviceConfig& config() const { return config_; }
  std::int64_t budget() const { return config_.budget_bytes; }
  std::int64_t resident_bytes() const { return resident_bytes_; }
  std::int64_t reserved_bytes() const { return reserved_bytes_; }
  std::int64_t used() const { return resident_bytes_ + reserved_bytes_; }
  std::int64_t free() const { return budget() - used(); }
  std::int64_t idle_resident_bytes() const { return idle_resident_bytes_; }
  const std::vector<ResidentModel>& resident() const { return resident_; }
  int running_launches() const { return running_launches_; }

  const ResidentModel* FindResident(int model) const;
  // What a new launch of `model` could get: free bytes plus idle resident weights it may evict
  // (its own model's weights excluded: a shared launch keeps them).
  std::int64_t AvailableFor(int model) const;
  // What a launch that does not share resident weights could get: free plus every idle model.
  std::int64_t AvailableToAnyLaunch() const { return free() + idle_resident_bytes_; }

  // Evicts idle models other than `keep`, least recently used first, until free() >= bytes.
  // Returns the evicted (model, bytes); the caller checked AvailableFor first.
  std::vector<std::pair<int, std::int64_t>> EvictUntilFree(std::int64_t bytes, int keep);
  // Drops every idle resident model (a device marked unhealthy keeps nothing it can release).
  std::vector<std::pair<int, std::int64_t>> EvictAllIdle();

  // A launch starts: reserves its budget; kShared/kLoad mark the model active (kLoad adds it).
  void StartLaunch(int model, std::int64_t reservation, bool uses_resident, bool loads,
                   std::int64_t model_bytes);
  // The launch ended: its reservation returns; the model (if used) becomes idle when unused.
  void EndLaunch(int model, std::int64_t reservation, bool uses_resident, std::uint64_t seq);

  bool healthy() const { return healthy_; }
  void set_healthy(bool healthy) { healthy_ = healthy; }
  int consecutive_failures() const { return consecutive_failures_; }
  void RecordFailure() { ++consecutive_failures_; }
  void RecordSuccess() { consecutive_failures_ = 0; }

 private:
  ResidentModel* MutableResident(int model);
  void Remove(int model);

  int index_;
  DeviceConfig config_;
  std::vector<ResidentModel> resident_;
  std::int64_t resident_bytes_ = 0;
  std::int64_t reserved_bytes_ = 0;
  std::int64_t idle_resident_bytes_ = 0;
  int running_launches_ = 0;
  bool healthy_ = true;
  int consecutive_failures_ = 0;
};

}  // namespace streamdit::scheduler
