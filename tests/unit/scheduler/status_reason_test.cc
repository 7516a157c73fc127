// The scheduler's statuses are absl::Status with gRPC's codes; the reason behind a code travels as
// a payload that clients and metrics read back (scheduler/status_reason.h).

#include "scheduler/status_reason.h"

#include <gtest/gtest.h>

#include <string>

#include "absl/strings/cord.h"

namespace streamdit::scheduler {
namespace {

constexpr StatusReason kAllReasons[] = {
    StatusReason::kNeverFits,       StatusReason::kQueueFull,   StatusReason::kDraining,
    StatusReason::kNoHealthyDevice, StatusReason::kOutOfMemory, StatusReason::kDeviceFailure,
};

TEST(StatusReasonTest, EveryReasonRoundTripsAndLeavesCodeAndMessageAlone) {
  for (StatusReason reason : kAllReasons) {
    absl::Status status = WithReason(absl::ResourceExhaustedError("full"), reason);
    EXPECT_EQ(ReasonOf(status), reason) << StatusReasonName(reason);
    EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
    EXPECT_EQ(status.message(), "full");
    // A copy carries the reason too (job callbacks get copies).
    absl::Status copy = status;
    EXPECT_EQ(ReasonOf(copy), reason);
  }
}

TEST(StatusReasonTest, ThePayloadIsTheReasonNameUnderTheTypeUrl) {
  absl::Status status = WithReason(absl::UnavailableError("draining"), StatusReason::kDraining);
  auto payload = status.GetPayload("type.streamdit.dev/streamdit.scheduler.StatusReason");
  ASSERT_TRUE(payload.has_value());
  EXPECT_EQ(std::string(*payload), "draining");
  EXPECT_STREQ(StatusReasonName(StatusReason::kNeverFits), "never_fits");
  EXPECT_STREQ(StatusReasonName(StatusReason::kQueueFull), "queue_full");
  EXPECT_STREQ(StatusReasonName(StatusReason::kNoHealthyDevice), "no_healthy_device");
  EXPECT_STREQ(StatusReasonName(StatusReason::kOutOfMemory), "out_of_memory");
  EXPECT_STREQ(StatusReasonName(StatusReason::kDeviceFailure), "device_failure");
  EXPECT_STREQ(StatusReasonName(StatusReason::kNone), "none");
  // Logs show code, message and reason.
  std::string text =
      WithReason(absl::ResourceExhaustedError("full"), StatusReason::kQueueFull).ToString();
  EXPECT_NE(text.find("RESOURCE_EXHAUSTED"), std::string::npos) << text;
  EXPECT_NE(text.find("full"), std::string::npos) << text;
  EXPECT_NE(text.find("queue_full"), std::string::npos) << text;
}

TEST(StatusReasonTest, NoReasonIsNone) {
  EXPECT_EQ(ReasonOf(absl::OkStatus()), StatusReason::kNone);
  EXPECT_EQ(ReasonOf(absl::CancelledError("cancelled")), StatusReason::kNone);
  // absl keeps no payload on OK: an OK status never has a reason.
  absl::Status ok = WithReason(absl::OkStatus(), StatusReason::kQueueFull);
  EXPECT_TRUE(ok.ok());
  EXPECT_EQ(ReasonOf(ok), StatusReason::kNone);
  // kNone removes a reason; an unknown name reads as none.
  absl::Status cleared = WithReason(
      WithReason(absl::InternalError("x"), StatusReason::kOutOfMemory), StatusReason::kNone);
  EXPECT_EQ(ReasonOf(cleared), StatusReason::kNone);
  EXPECT_EQ(cleared.code(), absl::StatusCode::kInternal);
  absl::Status unknown = absl::InternalError("x");
  unknown.SetPayload(kStatusReasonTypeUrl, absl::Cord("no_such_reason"));
  EXPECT_EQ(ReasonOf(unknown), StatusReason::kNone);
}

TEST(StatusReasonTest, CodesAreTheGrpcCodesByNumber) {
  // The server passes codes through as grpc::StatusCode; these numbers are gRPC's.
  EXPECT_EQ(static_cast<int>(absl::StatusCode::kOk), 0);
  EXPECT_EQ(static_cast<int>(absl::StatusCode::kCancelled), 1);
  EXPECT_EQ(static_cast<int>(absl::StatusCode::kInvalidArgument), 3);
  EXPECT_EQ(static_cast<int>(absl::StatusCode::kDeadlineExceeded), 4);
  EXPECT_EQ(static_cast<int>(absl::StatusCode::kNotFound), 5);
  EXPECT_EQ(static_cast<int>(absl::StatusCode::kResourceExhausted), 8);
  EXPECT_EQ(static_cast<int>(absl::StatusCode::kInternal), 13);
  EXPECT_EQ(static_cast<int>(absl::StatusCode::kUnavailable), 14);
  EXPECT_EQ(absl::StatusCodeToString(absl::StatusCode::kDeadlineExceeded), "DEADLINE_EXCEEDED");
  EXPECT_EQ(absl::StatusCodeToString(absl::StatusCode::kUnavailable), "UNAVAILABLE");
}

}  // namespace
}  // namespace streamdit::scheduler
