// Why the scheduler refused or lost a job, carried on the absl::Status it returns.
//
// Codes are absl::StatusCode values, which are the gRPC status codes by number, so the server
// passes them through unchanged. Several reasons share one code (never_fits and queue_full are
// both RESOURCE_EXHAUSTED), but clients and metrics must tell them apart: a full queue is worth
// retrying later, a job that never fits is not. The reason therefore travels as a payload of the
// status: under kStatusReasonTypeUrl, the reason's name (StatusReasonName) as the cord. A status
// without that payload (OK, or any status the scheduler did not attach a reason to) has kNone.
#pragma once

#include "absl/status/status.h"

namespace streamdit::scheduler {

enum class StatusReason {
  kNone,
  kNeverFits,        // RESOURCE_EXHAUSTED: larger than every healthy device's budget
  kQueueFull,        // RESOURCE_EXHAUSTED: the priority class's queue is at capacity
  kDraining,         // UNAVAILABLE: admission stopped
  kNoHealthyDevice,  // UNAVAILABLE: every device that could hold the job is unhealthy
  kOutOfMemory,      // INTERNAL: out-of-memory retries exhausted
  kDeviceFailure,    // INTERNAL: execution failures retries exhausted
};

// The payload's type URL. Part of the API: the server and its metrics read the reason by it.
// A char array, not std::string_view: Debian's absl has its own absl::string_view type.
inline constexpr char kStatusReasonTypeUrl[] =
    "type.streamdit.dev/streamdit.scheduler.StatusReason";

// "never_fits", "queue_full", ...; "none" for kNone. These names are part of the API (payload,
// metric labels).
const char* StatusReasonName(StatusReason reason);

// `status` with its reason payload set to `reason` (kNone removes it). An OK status carries no
// payload (absl ignores payloads on OK) and is returned unchanged.
absl::Status WithReason(absl::Status status, StatusReason reason);

// The reason attached by WithReason; kNone when there is none or it is not a known name.
StatusReason ReasonOf(const absl::Status& status);

}  // namespace streamdit::scheduler
