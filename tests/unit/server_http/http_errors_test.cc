// One mapping from absl::Status to HTTP: the status codes OpenAI's clients turn into their error
// classes, the reason payload telling a full queue (retry later) from a job that never fits.
#include "server/http/http_errors.h"

#include <gtest/gtest.h>

#include "scheduler/status_reason.h"

namespace streamdit::server {
namespace {

TEST(HttpErrors, EveryCodeGetsTheStatusItsClientClassNeeds) {
  using scheduler::StatusReason;
  using scheduler::WithReason;
  const std::pair<absl::Status, int> cases[] = {
      {absl::InvalidArgumentError("width must be a multiple of 16"), 400},
      {absl::FailedPreconditionError("loras[0]: does not fit"), 400},
      {absl::UnauthenticatedError("no key"), 401},
      {absl::PermissionDeniedError("no"), 403},
      {absl::NotFoundError("model: no model named 'x'"), 404},
      {WithReason(absl::ResourceExhaustedError("queue full"), StatusReason::kQueueFull), 429},
      {WithReason(absl::ResourceExhaustedError("too big"), StatusReason::kNeverFits), 400},
      {absl::CancelledError("gone"), 499},
      {absl::UnavailableError("draining"), 503},
      {absl::DeadlineExceededError("late"), 504},
      {absl::InternalError("bug"), 500},
      {absl::DataLossError("corrupt"), 500},
  };
  for (const auto& [status, http] : cases) EXPECT_EQ(HttpStatusOf(status), http) << status;
}

TEST(HttpErrors, TheBodyIsOpenAisErrorObject) {
  const nlohmann::json queue_full = OpenAiErrorBody(
      scheduler::WithReason(absl::ResourceExhaustedError("the normal queue is full"),
                            scheduler::StatusReason::kQueueFull))["error"];
  EXPECT_EQ(queue_full["message"], "the normal queue is full");
  EXPECT_EQ(queue_full["type"], "rate_limit_error");
  EXPECT_EQ(queue_full["code"], "queue_full");
  EXPECT_TRUE(queue_full["param"].is_null());

  const nlohmann::json width =
      OpenAiErrorBody(absl::InvalidArgumentError("width must be in [64, 2048], got 8"))["error"];
  EXPECT_EQ(width["param"], "size");  // the HTTP field the runtime's "width" came from
  EXPECT_EQ(width["code"], "invalid_argument");
  EXPECT_EQ(OpenAiErrorBody(absl::InvalidArgumentError("loras[2]: unknown"))["error"]["param"],
            "loras");
  EXPECT_EQ(OpenAiErrorBody(absl::InvalidArgumentError("steps must be"))["error"]["param"],
            "num_inference_steps");
  EXPECT_EQ(OpenAiErrorBody(absl::UnauthenticatedError("x"))["error"]["type"],
            "authentication_error");
  EXPECT_EQ(OpenAiErrorBody(absl::NotFoundError("x"))["error"]["type"], "not_found_error");
}

}  // namespace
}  // namespace streamdit::server
