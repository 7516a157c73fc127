// A configured `cuda:N` device as the service runs it: checked against what the CUDA runtime
// reports at start (the device exists; its budget, bytes or a share of the card, less the reserve,
// fits in what the card has free now), so that a configuration a machine cannot honour fails at
// start (exit 2) naming the device and the numbers, not at the first job.
#pragma once

#include <vector>

#include "absl/status/statusor.h"
#include "engine/device/cuda_devices.h"
#include "server/config/server_config.h"
#include "server/runtime/generation_service.h"

namespace streamdit::server {

// `discovered`: engine::DiscoverCudaDevices()'s answer (a fake in tests). INVALID_ARGUMENT naming
// the device when the machine has no CUDA device (with the runtime's reason), when the index is
// not visible, when the budget leaves nothing after the reserve, or when it exceeds the card's
// free memory (both numbers named).
absl::StatusOr<DeviceSettings> CudaDeviceSettings(
    const DeviceConfigSpec& device,
    const absl::StatusOr<std::vector<engine::CudaDeviceInfo>>& discovered);

// The devices one configured entry stands for: itself, or for "cuda:all" every discovered card
// (cuda:0, cuda:1, ...), each with the entry's budget, reserve and LoRA cache, each checked as
// above. The first refusal is the answer.
absl::StatusOr<std::vector<DeviceSettings>> CudaDevicesSettings(
    const DeviceConfigSpec& device,
    const absl::StatusOr<std::vector<engine::CudaDeviceInfo>>& discovered);

}  // namespace streamdit::server
