// The engine's one error vocabulary: every failure that leaves the engine is a StatusError that
// carries an absl::Status whose code is the gRPC code the server will report (the codes of
// absl::StatusCode and grpc::StatusCode are the same numbers), so no layer above keeps a table of
// its own. The engine throws (its callers run deep call stacks of libtorch code that throws too);
// StatusFromException (exception_status.h) turns whatever was thrown into a Status at the boundary.
//
// Codes, as the engine uses them:
//   INVALID_ARGUMENT     a request field or option out of range; the message names the field, the
//                        limit and the value ("width must be a multiple of 16 in [64, 2048], got
//                        100")
//   NOT_FOUND            a model file that does not exist
//   DATA_LOSS            a model file that exists but is corrupt, truncated or of an unknown layout
//   FAILED_PRECONDITION  components that do not fit together (T5's width is not the transformer's)
//   RESOURCE_EXHAUSTED   a budget below the job's minimum, or an allocation above a device's budget
//   CANCELLED            the job was cancelled (engine/sampling/cancelled.h)
//   INTERNAL             a broken invariant of the engine itself
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace streamdit::engine {

class StatusError : public std::runtime_error {
 public:
  // `status` must not be OK.
  explicit StatusError(absl::Status status);

  const absl::Status& status() const { return status_; }
  absl::StatusCode code() const { return status_.code(); }

 private:
  absl::Status status_;
};

// Shorthands for the throw sites: `throw InvalidArgument("steps must be in [1, 100], got 0")`.
StatusError InvalidArgument(std::string_view message);
StatusError NotFound(std::string_view message);
StatusError DataLoss(std::string_view message);
StatusError FailedPrecondition(std::string_view message);
StatusError ResourceExhausted(std::string_view message);
StatusError Internal(std::string_view message);

}  // namespace streamdit::engine
