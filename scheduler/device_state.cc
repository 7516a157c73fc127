#include "scheduler/device_state.h"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace streamdit::scheduler {
namespace {

bool Lists(const std::vector<AdapterDemand>& adapters, const std::string& key) {
  return std::any_of(adapters.begin(), adapters.end(),
                     [&key](const AdapterDemand& adapter) { return adapter.key == key; });
}

}  // namespace

DeviceState::DeviceState(int index, DeviceConfig config)
    : index_(index), config_(std::move(config)) {
  // Every fit test compares signed byte counts: a negative budget would corrupt them all.
  if (config_.budget_bytes < 0) {
    throw std::invalid_argument("device " + config_.name + ": budget_bytes must be >= 0, got " +
                                std::to_string(config_.budget_bytes));
  }
  if (config_.adapter_cache_bytes < 0 &&
      config_.adapter_cache_bytes != DeviceConfig::kDefaultAdapterCache) {
    throw std::invalid_argument("device " + config_.name +
                                ": adapter_cache_bytes must be >= 0, got " +
                                std::to_string(config_.adapter_cache_bytes));
  }
}

const ResidentModel* DeviceState::FindResident(int model) const {
  for (const ResidentModel& entry : resident_) {
    if (entry.model == model) return &entry;
  }
  return nullptr;
}

ResidentModel* DeviceState::MutableResident(int model) {
  return const_cast<ResidentModel*>(FindResident(model));
}

const CachedAdapter* DeviceState::FindAdapter(const std::string& key) const {
  for (const CachedAdapter& entry : adapters_) {
    if (entry.key == key) return &entry;
  }
  return nullptr;
}

CachedAdapter* DeviceState::MutableAdapter(const std::string& key) {
  return const_cast<CachedAdapter*>(FindAdapter(key));
}

std::int64_t DeviceState::AvailableFor(int model) const {
  std::int64_t available = AvailableToAnyLaunch();
  const ResidentModel* own = FindResident(model);
  if (own != nullptr && own->active_launches == 0) available -= own->bytes;
  return available;
}

std::int64_t DeviceState::AdapterClaim(const std::vector<AdapterDemand>& adapters) const {
  std::int64_t claim = 0;
  for (const AdapterDemand& adapter : adapters) {
    const CachedAdapter* cached = FindAdapter(adapter.key);
    if (cached == nullptr) {
      claim += adapter.bytes;
    } else if (cached->active_launches == 0) {
      claim += cached->bytes;
    }
  }
  return claim;
}

std::int64_t DeviceState::AdapterLoadBytes(const std::vector<AdapterDemand>& adapters) const {
  std::int64_t bytes = 0;
  for (const AdapterDemand& adapter : adapters) {
    if (FindAdapter(adapter.key) == nullptr) bytes += adapter.bytes;
  }
  return bytes;
}

void DeviceState::Remove(int model) {
  auto it = std::find_if(resident_.begin(), resident_.end(),
                         [model](const ResidentModel& entry) { return entry.model == model; });
  if (it == resident_.end() || it->active_launches != 0) {
    throw std::logic_error("device " + std::to_string(index_) +
                           ": evicting a busy or absent model");
  }
  resident_bytes_ -= it->bytes;
  idle_resident_bytes_ -= it->bytes;
  resident_.erase(it);
}

void DeviceState::RemoveAdapter(const std::string& key) {
  auto it = std::find_if(adapters_.begin(), adapters_.end(),
                         [&key](const CachedAdapter& entry) { return entry.key == key; });
  if (it == adapters_.end() || it->active_launches != 0) {
    throw std::logic_error("device " + std::to_string(index_) +
                           ": evicting a busy or absent adapter");
  }
  adapter_bytes_ -= it->bytes;
  idle_adapter_bytes_ -= it->bytes;
  adapters_.erase(it);
}

Evictions DeviceState::EvictUntilFree(std::int64_t bytes, int keep_model,
                                      const std::vector<AdapterDemand>& keep_adapters) {
  Evictions evicted;
  while (free() < bytes) {
    // The least recently used idle entry of either kind: models and adapters share one clock.
    const ResidentModel* model = nullptr;
    for (const ResidentModel& entry : resident_) {
      if (entry.active_launches != 0 || entry.model == keep_model) continue;
      if (model == nullptr || entry.last_used < model->last_used) model = &entry;
    }
    const CachedAdapter* adapter = nullptr;
    for (const CachedAdapter& entry : adapters_) {
      if (entry.active_launches != 0 || Lists(keep_adapters, entry.key)) continue;
      if (adapter == nullptr || entry.last_used < adapter->last_used) adapter = &entry;
    }
    if (model == nullptr && adapter == nullptr) {
      throw std::logic_error("device " + std::to_string(index_) + ": cannot free " +
                             std::to_string(bytes) + " bytes");
    }
    if (adapter != nullptr && (model == nullptr || adapter->last_used <= model->last_used)) {
      evicted.adapters.push_back({adapter->key, adapter->bytes});
      RemoveAdapter(evicted.adapters.back().key);
    } else {
      evicted.models.emplace_back(model->model, model->bytes);
      Remove(model->model);
    }
  }
  return evicted;
}

std::vector<AdapterDemand> DeviceState::TrimIdleAdapters(std::int64_t limit) {
  std::vector<AdapterDemand> evicted;
  while (adapter_bytes_ > limit) {
    const CachedAdapter* victim = nullptr;
    for (const CachedAdapter& entry : adapters_) {
      if (entry.active_launches != 0) continue;
      if (victim == nullptr || entry.last_used < victim->last_used) victim = &entry;
    }
    if (victim == nullptr) break;  // the rest is in use: it stays, whatever the bound
    evicted.push_back({victim->key, victim->bytes});
    RemoveAdapter(evicted.back().key);
  }
  return evicted;
}

std::vector<std::pair<int, std::int64_t>> DeviceState::EvictAllIdle() {
  std::vector<std::pair<int, std::int64_t>> evicted;
  std::vector<int> idle;
  for (const ResidentModel& entry : resident_) {
    if (entry.active_launches == 0) idle.push_back(entry.model);
  }
  for (int model : idle) {
    evicted.emplace_back(model, FindResident(model)->bytes);
    Remove(model);
  }
  return evicted;
}

void DeviceState::StartLaunch(int model, std::int64_t reservation, bool uses_resident, bool loads,
                              std::int64_t model_bytes,
                              const std::vector<AdapterDemand>& adapters) {
  const bool negative_adapter =
      std::any_of(adapters.begin(), adapters.end(),
                  [](const AdapterDemand& adapter) { return adapter.bytes < 0; });
  if (reservation < 0 || model_bytes < 0 || negative_adapter) {
    throw std::logic_error("device " + std::to_string(index_) + ": negative launch bytes");
  }
  std::int64_t needed = reservation + (loads ? model_bytes : 0) + AdapterLoadBytes(adapters);
  if (needed > free()) {
    throw std::logic_error("device " + std::to_string(index_) + ": launch needs " +
                           std::to_string(needed) + " bytes, " + std::to_string(free()) + " free");
  }
  if (loads) {
    if (FindResident(model) != nullptr) {
      throw std::logic_error("device " + std::to_string(index_) + ": loading a resident model");
    }
    resident_.push_back(ResidentModel{model, model_bytes, 0, 0});
    resident_bytes_ += model_bytes;
    idle_resident_bytes_ += model_bytes;
  }
  if (uses_resident || loads) {
    ResidentModel* entry = MutableResident(model);
    if (entry == nullptr) {
      throw std::logic_error("device " + std::to_string(index_) + ": shared model not resident");
    }
    if (entry->active_launches++ == 0) idle_resident_bytes_ -= entry->bytes;
  }
  for (const AdapterDemand& adapter : adapters) {
    CachedAdapter* entry = MutableAdapter(adapter.key);
    if (entry == nullptr) {
      adapters_.push_back(CachedAdapter{adapter.key, adapter.bytes, 1, 0});
      adapter_bytes_ += adapter.bytes;
    } else if (entry->active_launches++ == 0) {
      idle_adapter_bytes_ -= entry->bytes;
    }
  }
  reserved_bytes_ += reservation;
  ++running_launches_;
}

void DeviceState::EndLaunch(int model, std::int64_t reservation, bool uses_resident,
                            std::uint64_t seq, const std::vector<AdapterDemand>& adapters) {
  if (reservation < 0 || reservation > reserved_bytes_ || running_launches_ == 0) {
    throw std::logic_error("device " + std::to_string(index_) + ": ending an unknown launch");
  }
  for (const AdapterDemand& adapter : adapters) {  // checked first: a throw changes nothing
    const CachedAdapter* entry = FindAdapter(adapter.key);
    if (entry == nullptr || entry->active_launches == 0) {
      throw std::logic_error("device " + std::to_string(index_) + ": releasing an idle adapter");
    }
  }
  reserved_bytes_ -= reservation;
  --running_launches_;
  if (uses_resident) {
    ResidentModel* entry = MutableResident(model);
    if (entry == nullptr || entry->active_launches == 0) {
      throw std::logic_error("device " + std::to_string(index_) + ": releasing an idle model");
    }
    entry->last_used = seq;
    if (--entry->active_launches == 0) idle_resident_bytes_ += entry->bytes;
  }
  for (const AdapterDemand& adapter : adapters) {
    CachedAdapter* entry = MutableAdapter(adapter.key);
    entry->last_used = seq;
    if (--entry->active_launches == 0) idle_adapter_bytes_ += entry->bytes;
  }
}

}  // namespace streamdit::scheduler
