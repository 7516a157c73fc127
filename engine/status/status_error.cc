#include "engine/status/status_error.h"

#include <utility>

namespace streamdit::engine {

StatusError::StatusError(absl::Status status)
    : std::runtime_error(std::string(status.message())), status_(std::move(status)) {
  if (status_.ok()) status_ = absl::InternalError("StatusError thrown with an OK status");
}

StatusError InvalidArgument(std::string_view message) {
  return StatusError(absl::InvalidArgumentError(message));
}
StatusError NotFound(std::string_view message) { return StatusError(absl::NotFoundError(message)); }
StatusError DataLoss(std::string_view message) { return StatusError(absl::DataLossError(message)); }
StatusError FailedPrecondition(std::string_view message) {
  return StatusError(absl::FailedPreconditionError(message));
}
StatusError ResourceExhausted(std::string_view message) {
  return StatusError(absl::ResourceExhaustedError(message));
}
StatusError Internal(std::string_view message) { return StatusError(absl::InternalError(message)); }

}  // namespace streamdit::engine
