#include "server/http/http_errors.h"

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "scheduler/status_reason.h"

namespace streamdit::server {
namespace {

// Runtime (and gRPC) field names, first word of a message, and the HTTP field each comes from.
constexpr std::pair<const char*, const char*> kParams[] = {
    {"width", "size"},
    {"height", "size"},
    {"size", "size"},
    {"steps", "num_inference_steps"},
    {"num_inference_steps", "num_inference_steps"},
    {"guidance", "guidance_scale"},
    {"guidance_scale", "guidance_scale"},
    {"batch_size", "n"},
    {"n", "n"},
    {"prompt", "prompt"},
    {"seed", "seed"},
    {"model", "model"},
    {"loras", "loras"},
    {"priority", "priority"},
    {"response_format", "response_format"},
    {"output_format", "output_format"},
    {"output_compression", "output_compression"},
    {"stream", "stream"},
    {"user", "user"},
};

}  // namespace

int HttpStatusOf(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk:
      return 200;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kOutOfRange:
      return 400;
    case absl::StatusCode::kUnauthenticated:
      return 401;
    case absl::StatusCode::kPermissionDenied:
      return 403;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kResourceExhausted:
      // A full queue is worth retrying later (429 makes clients back off and retry); a job that
      // no device can ever hold is not.
      return scheduler::ReasonOf(status) == scheduler::StatusReason::kNeverFits ? 400 : 429;
    case absl::StatusCode::kCancelled:
      return 499;
    case absl::StatusCode::kUnimplemented:
      return 501;
    case absl::StatusCode::kUnavailable:
      return 503;
    case absl::StatusCode::kDeadlineExceeded:
      return 504;
    default:
      return 500;
  }
}

std::string HttpParamOf(const std::string& message) {
  std::size_t end = 0;
  while (end < message.size() &&
         (absl::ascii_isalnum(static_cast<unsigned char>(message[end])) || message[end] == '_')) {
    ++end;
  }
  const std::string first = message.substr(0, end);
  for (const auto& [runtime, http] : kParams) {
    if (first == runtime) return http;
  }
  return "";
}

nlohmann::json OpenAiErrorBody(const absl::Status& status) {
  const int http = HttpStatusOf(status);
  const char* type = "server_error";
  switch (http) {
    case 400:
    case 404:
      type = http == 404 ? "not_found_error" : "invalid_request_error";
      break;
    case 401:
      type = "authentication_error";
      break;
    case 403:
      type = "permission_error";
      break;
    case 429:
      type = "rate_limit_error";
      break;
    case 503:
      type = "unavailable_error";
      break;
    case 504:
      type = "timeout_error";
      break;
    default:
      break;
  }
  const scheduler::StatusReason reason = scheduler::ReasonOf(status);
  std::string code = reason != scheduler::StatusReason::kNone
                         ? scheduler::StatusReasonName(reason)
                         : absl::AsciiStrToLower(absl::StatusCodeToString(status.code()));
  const std::string message(status.message());
  const std::string param = HttpParamOf(message);
  nlohmann::json error = {{"message", message},
                          {"type", type},
                          {"param", param.empty() ? nlohmann::json() : nlohmann::json(param)},
                          {"code", code}};
  return {{"error", std::move(error)}};
}

}  // namespace streamdit::server
