#include "scheduler/device_state.h"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace streamdit::scheduler {

DeviceState::DeviceState(int index, DeviceConfig config)
    : index_(index), config_(std::move(config)) {
  // Every fit test compares signed byte counts: a negative budget would corrupt them all.
  if (config_.budget_bytes < 0) {
    throw std::invalid_argument("device " + config_.name + ": budget_bytes must be >= 0, got " +
                                std::to_string(config_.budget_bytes));
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

std::int64_t DeviceState::AvailableFor(int model) const {
  std::int64_t available = free() + idle_resident_bytes_;
  const ResidentModel* own = FindResident(model);
  if (own != nullptr && own->active_launches == 0) available -= own->bytes;
  return available;
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

std::vector<std::pair<int, std::int64_t>> DeviceState::EvictUntilFree(std::int64_t bytes,
                                                                      int keep) {
  std::vector<std::pair<int, std::int64_t>> evicted;
  while (free() < bytes) {
    const ResidentModel* victim = nullptr;
    for (const ResidentModel& entry : resident_) {
      if (entry.active_launches != 0 || entry.model == keep) continue;
      if (victim == nullptr || entry.last_used < victim->last_used) victim = &entry;
    }
    if (victim == nullptr) {
      throw std::logic_error("device " + std::to_string(index_) + ": cannot free " +
                             std::to_string(bytes) + " bytes");
    }
    evicted.emplace_back(victim->model, victim->bytes);
    Remove(victim->model);
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
                              std::int64_t model_bytes) {
  if (reservation < 0 || model_bytes < 0) {
    throw std::logic_error("device " + std::to_string(index_) + ": negative launch bytes");
  }
  std::int64_t needed = reservation + (loads ? model_bytes : 0);
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
  reserved_bytes_ += reservation;
  ++running_launches_;
}

void DeviceState::EndLaunch(int model, std::int64_t reservation, bool uses_resident,
                            std::uint64_t seq) {
  if (reservation < 0 || reservation > reserved_bytes_ || running_launches_ == 0) {
    throw std::logic_error("device " + std::to_string(index_) + ": ending an unknown launch");
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
}

}  // namespace streamdit::scheduler
