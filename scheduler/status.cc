#include "scheduler/status.h"

namespace streamdit::scheduler {

const char* ErrorCodeName(ErrorCode code) {
  switch (code) {
    case ErrorCode::kOk:
      return "OK";
    case ErrorCode::kCancelled:
      return "CANCELLED";
    case ErrorCode::kInvalidArgument:
      return "INVALID_ARGUMENT";
    case ErrorCode::kDeadlineExceeded:
      return "DEADLINE_EXCEEDED";
    case ErrorCode::kNotFound:
      return "NOT_FOUND";
    case ErrorCode::kResourceExhausted:
      return "RESOURCE_EXHAUSTED";
    case ErrorCode::kUnavailable:
      return "UNAVAILABLE";
    case ErrorCode::kInternal:
      return "INTERNAL";
  }
  return "UNKNOWN";
}

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

std::string Status::ToString() const {
  std::string text = ErrorCodeName(code_);
  if (reason_ != StatusReason::kNone) {
    text += " (";
    text += StatusReasonName(reason_);
    text += ")";
  }
  if (!message_.empty()) {
    text += ": ";
    text += message_;
  }
  return text;
}

}  // namespace streamdit::scheduler
