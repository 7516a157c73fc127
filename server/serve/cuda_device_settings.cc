#include "server/serve/cuda_device_settings.h"

#include <string>

#include "engine/pipeline/job_memory_plan.h"

namespace streamdit::server {

absl::StatusOr<DeviceSettings> CudaDeviceSettings(
    const DeviceConfigSpec& device,
    const absl::StatusOr<std::vector<engine::CudaDeviceInfo>>& discovered) {
  if (!discovered.ok()) {
    return absl::InvalidArgumentError("devices: " + device.name +
                                      " is a CUDA device, and this machine has none: " +
                                      std::string(discovered.status().message()));
  }
  if (device.index < 0 || device.index >= static_cast<int>(discovered->size())) {
    return absl::InvalidArgumentError("devices: " + device.name +
                                      " does not exist: " + std::to_string(discovered->size()) +
                                      " CUDA device(s) are visible");
  }
  const engine::CudaDeviceInfo& card = (*discovered)[static_cast<std::size_t>(device.index)];
  absl::StatusOr<int64_t> budget = device.EffectiveBudget(card.total_bytes);
  if (!budget.ok()) return budget.status();
  // What the process may reserve is the budget plus the reserve (the CUDA context and
  // fragmentation the reserve stands for): all of it must be free on the card now.
  const int64_t wanted = *budget + device.reserve_bytes;
  if (wanted > card.free_bytes) {
    return absl::InvalidArgumentError(
        "devices: " + device.name + " (" + card.name + "): the budget of " +
        engine::FormatBytes(*budget) +
        (device.reserve_bytes > 0
             ? " plus the reserve of " + engine::FormatBytes(device.reserve_bytes)
             : std::string()) +
        " is more than the " + engine::FormatBytes(card.free_bytes) + " free on the card (of " +
        engine::FormatBytes(card.total_bytes) + ")");
  }
  DeviceSettings settings{device.name, *budget};
  if (device.lora_cache_bytes) settings.lora_cache_bytes = *device.lora_cache_bytes;
  settings.cuda_index = card.index;
  settings.total_bytes = card.total_bytes;
  return settings;
}

absl::StatusOr<std::vector<DeviceSettings>> CudaDevicesSettings(
    const DeviceConfigSpec& device,
    const absl::StatusOr<std::vector<engine::CudaDeviceInfo>>& discovered) {
  std::vector<DeviceSettings> devices;
  if (device.index != DeviceConfigSpec::kAllCudaDevices) {
    absl::StatusOr<DeviceSettings> one = CudaDeviceSettings(device, discovered);
    if (!one.ok()) return one.status();
    devices.push_back(*std::move(one));
    return devices;
  }
  if (!discovered.ok()) return CudaDeviceSettings(device, discovered).status();
  for (const engine::CudaDeviceInfo& card : *discovered) {
    DeviceConfigSpec each = device;
    each.index = card.index;
    each.name = "cuda:" + std::to_string(card.index);
    absl::StatusOr<DeviceSettings> one = CudaDeviceSettings(each, discovered);
    if (!one.ok()) return one.status();
    devices.push_back(*std::move(one));
  }
  return devices;
}

}  // namespace streamdit::server
