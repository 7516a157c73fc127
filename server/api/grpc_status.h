// absl::Status -> grpc::Status. The layers choose their codes as gRPC reports them (absl and gRPC
// number their codes alike), so this is a cast, not a table.
#pragma once

#include <grpcpp/support/status.h>

#include <string>

#include "absl/status/status.h"

namespace streamdit::server {

inline grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

}  // namespace streamdit::server
