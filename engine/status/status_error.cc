#include "engine/status/status_error.h"

#include <utility>

namespace streamdit::engine {
namespace {

// The system's abseil is built with its own string_view (ABSL_OPTION_USE_STD_STRING_VIEW 0).
absl::string_view ToAbsl(std::string_view text) { return {text.data(), text.size()}; }

}  // namespace

StatusError::StatusError(absl::Status status)
    : std::runtime_error(std::string(status.message())), status_(std::move(status)) {
  if (status_.ok()) status_ = absl::InternalError("StatusError thrown with an OK status");
}

StatusError InvalidArgument(std::string_view message) {
  return StatusError(absl::InvalidArgumentError(ToAbsl(message)));
}
StatusError NotFound(std::string_view message) {
  return StatusError(absl::NotFoundError(ToAbsl(message)));
}
StatusError DataLoss(std::string_view message) {
  return StatusError(absl::DataLossError(ToAbsl(message)));
}
StatusError FailedPrecondition(std::string_view message) {
  return StatusError(absl::FailedPreconditionError(ToAbsl(message)));
}
StatusError ResourceExhausted(std::string_view message) {
  return StatusError(absl::ResourceExhaustedError(ToAbsl(message)));
}
StatusError Internal(std::string_view message) {
  return StatusError(absl::InternalError(ToAbsl(message)));
}

}  // namespace streamdit::engine
