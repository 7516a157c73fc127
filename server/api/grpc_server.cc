#include "server/api/grpc_server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>

#include <fstream>
#include <future>
#include <sstream>
#include <thread>
#include <utility>
#include <vector>

#include "server/api/request_counting.h"

namespace streamdit::server {
namespace {

absl::StatusOr<std::string> ReadPem(const std::string& path, const std::string& what) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return absl::NotFoundError("tls." + what + ": cannot read '" + path + "'");
  std::ostringstream text;
  text << file.rdbuf();
  return text.str();
}

}  // namespace

absl::StatusOr<std::unique_ptr<GrpcServer>> GrpcServer::Start(const GrpcServerOptions& options) {
  std::shared_ptr<grpc::ServerCredentials> credentials = grpc::InsecureServerCredentials();
  if (options.tls) {
    grpc::SslServerCredentialsOptions ssl;
    absl::StatusOr<std::string> cert = ReadPem(options.tls->cert, "cert");
    if (!cert.ok()) return cert.status();
    absl::StatusOr<std::string> key = ReadPem(options.tls->key, "key");
    if (!key.ok()) return key.status();
    ssl.pem_key_cert_pairs.push_back({*key, *cert});
    if (!options.tls->client_ca.empty()) {
      absl::StatusOr<std::string> ca = ReadPem(options.tls->client_ca, "client_ca");
      if (!ca.ok()) return ca.status();
      ssl.pem_root_certs = *ca;
      ssl.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
    }
    credentials = grpc::SslServerCredentials(ssl);
  }

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  std::unique_ptr<GrpcServer> server(new GrpcServer());
  server->service_ = std::make_unique<ImageGenerationService>(options.api_keys);
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.listen, credentials, &server->port_);
  builder.RegisterService(server->service_.get());
  const int max_message = static_cast<int>(std::min<int64_t>(options.max_message_bytes, INT32_MAX));
  builder.SetMaxReceiveMessageSize(max_message);
  builder.SetMaxSendMessageSize(max_message);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, options.max_concurrent_streams);
  if (options.request_observer) {
    std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> creators;
    creators.push_back(RequestCountingFactory(options.request_observer));
    builder.experimental().SetInterceptorCreators(std::move(creators));
  }
  server->server_ = builder.BuildAndStart();
  if (!server->server_ || server->port_ == 0) {
    return absl::UnavailableError("listen: cannot bind '" + options.listen + "'");
  }
  server->SetServing(false);
  return server;
}

GrpcServer::~GrpcServer() { Shutdown(); }

void GrpcServer::SetBackend(GenerationService* service) {
  service_->SetBackend(service);
  SetServing(service != nullptr);
}

void GrpcServer::SetServing(bool serving) {
  if (auto* health = server_->GetHealthCheckService()) health->SetServingStatus(serving);
}

int GrpcServer::Drain(GenerationService* service, std::chrono::milliseconds grace) {
  SetServing(false);
  int cancelled = 0;
  if (service) {
    // Drain blocks until every accepted job ended; past the grace period the rest is cancelled.
    std::future<void> drained = std::async(std::launch::async, [service] { service->Drain(); });
    if (drained.wait_for(grace) != std::future_status::ready) {
      cancelled = service->CancelAll();
      drained.wait();
    }
  }
  Shutdown();
  return cancelled;
}

void GrpcServer::Shutdown() {
  if (!server_ || shut_down_) return;
  shut_down_ = true;
  // Calls still open get a short deadline to write their last message.
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
}

}  // namespace streamdit::server
