// Every request the server answers, as it ends: the gRPC layer (server/api/) and the HTTP layer
// (server/http/) report it, metrics count it (server/metrics/). No gRPC or HTTP types here:
// gRPC's status codes are absl's, and an HTTP reply is reported by the code its status came from.
#pragma once

#include <string>

#include "absl/status/status.h"

namespace streamdit::server {

enum class Protocol { kGrpc, kHttp };

// "grpc" or "http": the value of the metrics' `protocol` label.
inline const char* ProtocolName(Protocol protocol) {
  return protocol == Protocol::kGrpc ? "grpc" : "http";
}

class RequestObserver {
 public:
  virtual ~RequestObserver() = default;
  // `method`: the RPC's short name ("GenerateImage", "Check", ...) or the HTTP route
  // ("POST /v1/images/generations", "other" for a path no route serves). `seconds`: from the
  // request's arrival to its last byte (a stream's end). Called from the servers' threads.
  virtual void OnRequestFinished(Protocol protocol, const std::string& method,
                                 absl::StatusCode code, double seconds) = 0;
};

}  // namespace streamdit::server
