// A device as people write it ("cpu", "cpu:N", "cuda:N") turned into where the engine computes.
// The one parser behind `generate --device`, the server's devices and the benchmarks' --device.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "engine/device/execution_target.h"

namespace streamdit::engine {

// "cpu" and "cpu:N" compute on the CPU (a server's cpu:N are budgets carved out of the one CPU);
// "cuda:N" on CUDA device N. INVALID_ARGUMENT naming the text otherwise. Whether the device exists
// is not checked here (engine/device/cuda_devices.h).
absl::StatusOr<ExecutionTarget> ParseExecutionTarget(const std::string& name);

}  // namespace streamdit::engine
