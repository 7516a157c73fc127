// Every RPC the server answers, as it ends: the gRPC layer reports it (server/api/), metrics count
// it (server/metrics/). No gRPC types here: gRPC's status codes are absl's.
#pragma once

#include <string>

#include "absl/status/status.h"

namespace streamdit::server {

class RequestObserver {
 public:
  virtual ~RequestObserver() = default;
  // `method`: the RPC's short name ("GenerateImage", "Check", ...). Called from gRPC's threads.
  virtual void OnRequestFinished(const std::string& method, absl::StatusCode code) = 0;
};

}  // namespace streamdit::server
