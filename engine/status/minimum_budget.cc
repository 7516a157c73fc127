#include "engine/status/minimum_budget.h"

#include <string>

#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"

namespace streamdit::engine {
namespace {

// absl payloads are keyed by a type URL; the value is the byte count in decimal.
constexpr char kMinimumBudgetUrl[] = "type.streamdit.dev/engine.MinimumBudgetBytes";

}  // namespace

StatusError BelowMinimumBudget(std::string_view message, int64_t minimum_bytes) {
  absl::Status status =
      absl::ResourceExhaustedError(absl::string_view(message.data(), message.size()));
  status.SetPayload(kMinimumBudgetUrl, absl::Cord(std::to_string(minimum_bytes)));
  return StatusError(std::move(status));
}

std::optional<int64_t> MinimumBudgetOf(const absl::Status& status) {
  if (status.code() != absl::StatusCode::kResourceExhausted) return std::nullopt;
  // absl::optional: Debian's abseil is built with its own optional, not std::optional.
  const absl::optional<absl::Cord> payload = status.GetPayload(kMinimumBudgetUrl);
  int64_t bytes = 0;
  if (!payload || !absl::SimpleAtoi(std::string(*payload), &bytes)) return std::nullopt;
  return bytes;
}

}  // namespace streamdit::engine
