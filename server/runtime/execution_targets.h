// Where each of a server's devices computes: the engine's ExecutionTarget for every configured
// device, by the scheduler's device index. `cpu:N` devices are budgets carved out of the one CPU,
// so each computes on the CPU; `cuda:N` computes on CUDA device N.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/device/execution_target.h"
#include "server/runtime/generation_service.h"

namespace streamdit::server {

// By engine::ParseExecutionTarget: INVALID_ARGUMENT naming the first device that is neither
// "cpu:N" nor "cuda:N".
absl::StatusOr<std::vector<engine::ExecutionTarget>> ExecutionTargetsOf(
    const std::vector<DeviceSettings>& devices);

}  // namespace streamdit::server
