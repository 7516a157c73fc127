// A budget below what a job needs at the least is RESOURCE_EXHAUSTED like an allocation that
// crossed its ceiling, but it means something else to whoever retries: the same budget can never
// succeed. The refusal carries the job's minimum as a payload so that the server's scheduler can
// re-plan once with it (scheduler::LaunchOutcome::kBelowMinimum) instead of retrying it as an
// out-of-memory.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "absl/status/status.h"
#include "engine/status/status_error.h"

namespace streamdit::engine {

// RESOURCE_EXHAUSTED with `message`, carrying `minimum_bytes`.
StatusError BelowMinimumBudget(std::string_view message, int64_t minimum_bytes);

// The minimum a BelowMinimumBudget refusal carries; nullopt for any other status.
std::optional<int64_t> MinimumBudgetOf(const absl::Status& status);

}  // namespace streamdit::engine
