#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "scheduler/job.h"
#include "scheduler/memory_estimator.h"
#include "scheduler/scheduler_config.h"

namespace streamdit::scheduler {

// Weights of one model held on a device and shared by every launch of that model there.
struct ResidentModel {
  int model = -1;  // interned model index
  std::int64_t bytes = 0;
  int active_launches = 0;      // evictable only when zero
  std::uint64_t last_used = 0;  // scheduler sequence number, for LRU eviction
};

// A LoRA adapter held on a device, shared by every launch there that uses it.
struct CachedAdapter {
  std::string key;
  std::int64_t bytes = 0;
  int active_launches = 0;      // evictable only when zero
  std::uint64_t last_used = 0;  // scheduler sequence number, for LRU eviction
};

// What a launch's placement drops from a device first: idle models and idle adapters.
struct Evictions {
  std::vector<std::pair<int, std::int64_t>> models;  // (model, bytes)
  std::vector<AdapterDemand> adapters;
};

// Memory accounting for one device: resident weights plus cached adapters plus launch reservations
// never exceed the budget. Every mutation keeps that invariant or fails loudly (std::logic_error):
// a broken invariant here is a scheduler bug, never a user error.
class DeviceState {
 public:
  // std::invalid_argument if config.budget_bytes < 0.
  DeviceState(int index, DeviceConfig config);

  int index() const { return index_; }
  const DeviceConfig& config() const { return config_; }
  std::int64_t budget() const { return config_.budget_bytes; }
  std::int64_t resident_bytes() const { return resident_bytes_; }
  std::int64_t reserved_bytes() const { return reserved_bytes_; }
  std::int64_t adapter_bytes() const { return adapter_bytes_; }
  std::int64_t used() const { return resident_bytes_ + adapter_bytes_ + reserved_bytes_; }
  std::int64_t free() const { return budget() - used(); }
  std::int64_t idle_resident_bytes() const { return idle_resident_bytes_; }
  std::int64_t idle_adapter_bytes() const { return idle_adapter_bytes_; }
  const std::vector<ResidentModel>& resident() const { return resident_; }
  const std::vector<CachedAdapter>& adapters() const { return adapters_; }
  int running_launches() const { return running_launches_; }

  const ResidentModel* FindResident(int model) const;
  const CachedAdapter* FindAdapter(const std::string& key) const;
  // What a new launch of `model` could get: free bytes plus the idle models and adapters it may
  // evict (its own model's weights excluded: a shared launch keeps them).
  std::int64_t AvailableFor(int model) const;
  // What a launch that does not share resident weights could get: free plus everything idle.
  std::int64_t AvailableToAnyLaunch() const {
    return free() + idle_resident_bytes_ + idle_adapter_bytes_;
  }
  // What a launch using `adapters` takes from the bytes Available* counts: the adapters it must
  // load plus the idle cached ones it pins (no longer evictable for it). Adapters that another
  // running launch holds cost nothing.
  std::int64_t AdapterClaim(const std::vector<AdapterDemand>& adapters) const;
  // The bytes of `adapters` the device does not hold yet.
  std::int64_t AdapterLoadBytes(const std::vector<AdapterDemand>& adapters) const;

  // Evicts idle models other than `keep_model` and idle adapters not in `keep_adapters`, least
  // recently used first, until free() >= bytes. The caller checked Available* first.
  Evictions EvictUntilFree(std::int64_t bytes, int keep_model,
                           const std::vector<AdapterDemand>& keep_adapters = {});
  // Evicts idle adapters, least recently used first, until the cached ones fit `limit` bytes or
  // only adapters in use are left.
  std::vector<AdapterDemand> TrimIdleAdapters(std::int64_t limit);
  // Drops every idle resident model (a device marked unhealthy keeps nothing it can release).
  std::vector<std::pair<int, std::int64_t>> EvictAllIdle();

  // A launch starts: reserves its budget; kShared/kLoad mark the model active (kLoad adds it); its
  // adapters are marked active, the ones not held yet added (their bytes must be free).
  void StartLaunch(int model, std::int64_t reservation, bool uses_resident, bool loads,
                   std::int64_t model_bytes, const std::vector<AdapterDemand>& adapters = {});
  // The launch ended: its reservation returns; the model (if used) and its adapters become idle
  // when no other launch uses them.
  void EndLaunch(int model, std::int64_t reservation, bool uses_resident, std::uint64_t seq,
                 const std::vector<AdapterDemand>& adapters = {});

  bool healthy() const { return healthy_; }
  void set_healthy(bool healthy) { healthy_ = healthy; }
  int consecutive_failures() const { return consecutive_failures_; }
  void RecordFailure() { ++consecutive_failures_; }
  void RecordSuccess() { consecutive_failures_ = 0; }

 private:
  ResidentModel* MutableResident(int model);
  CachedAdapter* MutableAdapter(const std::string& key);
  void Remove(int model);
  void RemoveAdapter(const std::string& key);

  int index_;
  DeviceConfig config_;
  std::vector<ResidentModel> resident_;
  std::int64_t resident_bytes_ = 0;
  std::int64_t reserved_bytes_ = 0;
  std::int64_t idle_resident_bytes_ = 0;
  std::vector<CachedAdapter> adapters_;
  std::int64_t adapter_bytes_ = 0;
  std::int64_t idle_adapter_bytes_ = 0;
  int running_launches_ = 0;
  bool healthy_ = true;
  int consecutive_failures_ = 0;
};

}  // namespace streamdit::scheduler
