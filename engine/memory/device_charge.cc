#include "engine/memory/device_charge.h"

namespace streamdit::engine {
namespace {

thread_local MemoryMeter* current_device = nullptr;

}  // namespace

ScopedDeviceCharge::ScopedDeviceCharge(MemoryMeter* device) : previous_(current_device) {
  current_device = device;
}

ScopedDeviceCharge::~ScopedDeviceCharge() { current_device = previous_; }

MemoryMeter* ScopedDeviceCharge::Current() { return current_device; }

}  // namespace streamdit::engine
