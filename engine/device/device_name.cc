#include "engine/device/device_name.h"

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"

namespace streamdit::engine {

absl::StatusOr<ExecutionTarget> ParseExecutionTarget(const std::string& name) {
  int index = -1;
  if (name == "cpu") return ExecutionTarget::Cpu();
  if (absl::StartsWith(name, "cpu:") && absl::SimpleAtoi(name.substr(4), &index) && index >= 0) {
    return ExecutionTarget::Cpu();
  }
  if (absl::StartsWith(name, "cuda:") && absl::SimpleAtoi(name.substr(5), &index) && index >= 0) {
    return ExecutionTarget::Cuda(index);
  }
  return absl::InvalidArgumentError("device '" + name +
                                    "' is neither cpu, cpu:N nor cuda:N (N >= 0)");
}

}  // namespace streamdit::engine
