// The one place where a Status becomes an HTTP reply: the status code and OpenAI's error shape
// {"error": {"message", "type", "param", "code"}}. The statuses are the ones the gRPC side sends
// (server/api/grpc_status.h casts the same absl::Status), so both protocols agree on every fault.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "absl/status/status.h"

namespace streamdit::server {

// 400 INVALID_ARGUMENT / FAILED_PRECONDITION / OUT_OF_RANGE and RESOURCE_EXHAUSTED "never fits"
// (retrying cannot help), 401 UNAUTHENTICATED, 403 PERMISSION_DENIED, 404 NOT_FOUND, 413 the body
// limit (kPayloadTooLarge below), 429 RESOURCE_EXHAUSTED "queue full", 499 CANCELLED (the client
// went away), 501 UNIMPLEMENTED, 503 UNAVAILABLE (loading, draining, no healthy device),
// 504 DEADLINE_EXCEEDED, 500 anything else.
int HttpStatusOf(const absl::Status& status);

// OpenAI's error object. `type` follows the status ("invalid_request_error",
// "authentication_error", "not_found_error", "rate_limit_error", "timeout_error",
// "unavailable_error", "server_error"); `code` is the scheduler's reason when there is one
// ("queue_full", "never_fits", ...) or the gRPC code's name; `param` names the request field the
// message is about when the message starts with one, else null.
nlohmann::json OpenAiErrorBody(const absl::Status& status);

// The HTTP field a runtime message is about: the request field names the runtime uses ("width",
// "steps", "batch_size", "loras[1]"...) become the HTTP ones ("size", "num_inference_steps", "n",
// "loras"); empty when the message names none.
std::string HttpParamOf(const std::string& message);

}  // namespace streamdit::server
