// The gRPC server: the ImageGeneration service, the standard grpc.health.v1 service (NOT_SERVING
// while the models load and while draining; SERVING in between), server reflection, message and
// stream limits, and optional TLS / mutual TLS.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "server/api/image_generation_service.h"
#include "server/runtime/request_observer.h"

namespace streamdit::server {

struct TlsFiles {
  std::string cert;       // PEM file of the server's certificate chain
  std::string key;        // PEM file of its private key
  std::string client_ca;  // PEM file of the CA that signs client certificates; empty: no mTLS
};

struct GrpcServerOptions {
  std::string listen = "0.0.0.0:50051";  // port 0 picks a free port (see GrpcServer::port)
  int64_t max_message_bytes = 64ll << 20;
  int max_concurrent_streams = 256;
  std::optional<TlsFiles> tls;
  // Told every RPC's final status (the metrics' requests_total); must outlive the server.
  RequestObserver* request_observer = nullptr;
  // API keys every ImageGeneration method requires (null or empty: open); must outlive the server.
  const ApiKeys* api_keys = nullptr;
};

class GrpcServer {
 public:
  // Binds and starts serving at once, with health NOT_SERVING and every generation call
  // UNAVAILABLE until SetBackend. An address that cannot be bound is UNAVAILABLE naming it; an
  // unreadable TLS file is NOT_FOUND naming it.
  static absl::StatusOr<std::unique_ptr<GrpcServer>> Start(const GrpcServerOptions& options);
  ~GrpcServer();

  // Serves `service` from now on and marks the server SERVING.
  void SetBackend(GenerationService* service);
  void SetServing(bool serving);
  int port() const { return port_; }

  // Health NOT_SERVING, admission stops (new work: UNAVAILABLE), accepted work gets `grace` to
  // finish; what is left then is cancelled (its clients get CANCELLED). Then the server shuts
  // down. Returns how many jobs had to be cancelled.
  int Drain(GenerationService* service, std::chrono::milliseconds grace);
  void Shutdown();
  void Wait() { server_->Wait(); }

 private:
  GrpcServer() = default;

  std::unique_ptr<ImageGenerationService> service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  bool shut_down_ = false;
};

}  // namespace streamdit::server
