// Reports every RPC's final status to a RequestObserver (the metrics' requests_total), in one
// place for every method: a gRPC server interceptor that sees each status as it is sent.
#pragma once

#include <grpcpp/support/server_interceptor.h>

#include <memory>

#include "server/runtime/request_observer.h"

namespace streamdit::server {

// For ServerBuilder::experimental().SetInterceptorCreators. `observer` must outlive the server.
std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> RequestCountingFactory(
    RequestObserver* observer);

}  // namespace streamdit::server
