#include "scheduler/status_reason.h"

#include "absl/strings/cord.h"

namespace streamdit::scheduler {
namespace {

constexpr StatusReason kReasons[] = {
    StatusReason::kNeverFits,       StatusReason::kQueueFull,   StatusReason::kDraining,
    StatusReason::kNoHealthyDevice, StatusReason::kOutOfMemory, StatusReason::kDeviceFailure,
};

}  // namespace

const char* StatusReasonName(StatusReason reason) {
  switch (reason) {
    case StatusReason::kNone:
      return "none";
    case StatusReason::kNeverFits:
      return "never_fits";
    case StatusReason::kQueueFull:
      return "queue_full";
    case StatusReason::kDraining:
      return "draining";
    case StatusReason::kNoHealthyDevice:
      return "no_healthy_device";
    case StatusReason::kOutOfMemory:
      return "out_of_memory";
    case StatusReason::kDeviceFailure:
      return "device_failure";
  }
  return "unknown";
}

absl::Status WithReason(absl::Status status, StatusReason reason) {
  if (reason == StatusReason::kNone) {
    status.ErasePayload(kStatusReasonTypeUrl);
  } else {
    status.SetPayload(kStatusReasonTypeUrl, absl::Cord(StatusReasonName(reason)));
  }
  return status;
}

StatusReason ReasonOf(const absl::Status& status) {
  auto payload = status.GetPayload(kStatusReasonTypeUrl);
  if (!payload) return StatusReason::kNone;
  for (StatusReason reason : kReasons) {
    if (*payload == StatusReasonName(reason)) return reason;
  }
  return StatusReason::kNone;
}

}  // namespace streamdit::scheduler
