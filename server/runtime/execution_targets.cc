#include "server/runtime/execution_targets.h"

#include "engine/device/device_name.h"

namespace streamdit::server {

absl::StatusOr<std::vector<engine::ExecutionTarget>> ExecutionTargetsOf(
    const std::vector<DeviceSettings>& devices) {
  std::vector<engine::ExecutionTarget> targets;
  for (const DeviceSettings& device : devices) {
    absl::StatusOr<engine::ExecutionTarget> target = engine::ParseExecutionTarget(device.name);
    if (!target.ok()) return target.status();
    targets.push_back(*target);
  }
  return targets;
}

}  // namespace streamdit::server
