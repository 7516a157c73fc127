#include "server/runtime/execution_targets.h"

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"

namespace streamdit::server {

absl::StatusOr<engine::ExecutionTarget> ExecutionTargetOf(const std::string& device_name) {
  int index = -1;
  if (absl::StartsWith(device_name, "cpu:") && absl::SimpleAtoi(device_name.substr(4), &index) &&
      index >= 0) {
    return engine::ExecutionTarget::Cpu();
  }
  if (absl::StartsWith(device_name, "cuda:") && absl::SimpleAtoi(device_name.substr(5), &index) &&
      index >= 0) {
    return engine::ExecutionTarget::Cuda(index);
  }
  return absl::InvalidArgumentError("device '" + device_name +
                                    "' is neither cpu:N nor cuda:N (N >= 0)");
}

absl::StatusOr<std::vector<engine::ExecutionTarget>> ExecutionTargetsOf(
    const std::vector<DeviceSettings>& devices) {
  std::vector<engine::ExecutionTarget> targets;
  for (const DeviceSettings& device : devices) {
    absl::StatusOr<engine::ExecutionTarget> target = ExecutionTargetOf(device.name);
    if (!target.ok()) return target.status();
    targets.push_back(*target);
  }
  return targets;
}

}  // namespace streamdit::server
