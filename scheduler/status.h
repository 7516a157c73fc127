#pragma once

#include <string>
#include <utility>

namespace streamdit::scheduler {

// Result codes of the scheduler. Each maps 1:1 to the gRPC status code of the same name, so the
// server translates without guessing; the scheduler itself stays free of gRPC and abseil.
enum class ErrorCode {
  kOk,
  kCancelled,
  kInvalidArgument,
  kDeadlineExceeded,
  kNotFound,
  kResourceExhausted,
  kUnavailable,
  kInternal,
};

// Why a job was refused or lost. Several reasons share one code (kNeverFits and kQueueFull are both
// RESOURCE_EXHAUSTED) but clients and metrics need to tell them apart: one is worth retrying later,
// the other never is.
enum class StatusReason {
  kNone,
  kNeverFits,        // RESOURCE_EXHAUSTED: larger than every healthy device's budget
  kQueueFull,        // RESOURCE_EXHAUSTED: the priority class's queue is at capacity
  kDraining,         // UNAVAILABLE: admission stopped
  kNoHealthyDevice,  // UNAVAILABLE: every device that could hold the job is unhealthy
  kOutOfMemory,      // INTERNAL: out-of-memory retries exhausted
  kDeviceFailure,    // INTERNAL: execution failures retries exhausted
};

const char* ErrorCodeName(ErrorCode code);
const char* StatusReasonName(StatusReason reason);

class Status {
 public:
  Status() = default;
  Status(ErrorCode code, StatusReason reason, std::string message)
      : code_(code), reason_(reason), message_(std::move(message)) {}
  Status(ErrorCode code, std::string message)
      : Status(code, StatusReason::kNone, std::move(message)) {}

  static Status Ok() { return Status(); }

  bool ok() const { return code_ == ErrorCode::kOk; }
  ErrorCode code() const { return code_; }
  StatusReason reason() const { return reason_; }
  const std::string& message() const { return message_; }

  // "RESOURCE_EXHAUSTED (queue_full): ..." for logs and test failures.
  std::string ToString() const;

 private:
  ErrorCode code_ = ErrorCode::kOk;
  StatusReason reason_ = StatusReason::kNone;
  std::string message_;
};

}  // namespace streamdit::scheduler
