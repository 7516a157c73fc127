#include "server/cli/service/grpc_client.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>

#include "engine/status/status_error.h"
#include "server/config/config_loader.h"

namespace streamdit::server::cli {
namespace {

std::string ReadPem(const std::string& flag, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw engine::NotFound(flag + ": cannot read " + path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

void AddClientOptions(CLI::App& command, ClientOptions& options, bool with_server) {
  if (with_server) {
    command
        .add_option("--server", options.server,
                    "host:port of a running `streamdit serve` (default: the config's listen\n"
                    "address, 0.0.0.0 read as 127.0.0.1)")
        ->type_name("ADDR");
  }
  command.add_option("--tls-ca", options.tls_ca, "Connect with TLS; the CA's PEM file")
      ->type_name("FILE");
  command.add_option("--tls-cert", options.tls_cert, "Client certificate (PEM) for mutual TLS")
      ->type_name("FILE");
  command.add_option("--tls-key", options.tls_key, "Its private key (PEM)")->type_name("FILE");
  command
      .add_option("--tls-server-name", options.tls_server_name,
                  "Name the server's certificate must carry (default: the host)")
      ->type_name("NAME");
}

std::string DefaultServerAddress(const GlobalOptions& global) {
  std::string listen = ServerConfig().listen;
  std::error_code error;
  if (global.config_given || std::filesystem::is_regular_file(global.config_path, error)) {
    absl::StatusOr<ServerConfig> config = LoadServerConfig(global.config_path);
    if (!config.ok()) throw engine::StatusError(config.status());
    listen = config->listen;
  }
  return ClientAddressFor(listen);
}

std::string ClientAddressFor(const std::string& listen, int port) {
  if (listen.rfind("unix:", 0) == 0) return listen;
  std::string address = listen;
  for (const auto& [wildcard, loopback] :
       {std::pair<std::string, std::string>{"0.0.0.0:", "127.0.0.1:"}, {"[::]:", "[::1]:"}}) {
    if (address.rfind(wildcard, 0) == 0) address = loopback + address.substr(wildcard.size());
  }
  const std::size_t colon = address.rfind(':');
  if (port > 0 && colon != std::string::npos) {
    address = address.substr(0, colon + 1) + std::to_string(port);
  }
  return address;
}

std::shared_ptr<grpc::Channel> MakeChannel(const ClientOptions& options,
                                           const GlobalOptions& global, std::string* address) {
  *address = options.server.empty() ? DefaultServerAddress(global) : options.server;
  const bool tls = !options.tls_ca.empty() || !options.tls_cert.empty() ||
                   !options.tls_key.empty() || !options.tls_server_name.empty();
  if (!tls) return grpc::CreateChannel(*address, grpc::InsecureChannelCredentials());
  if (options.tls_cert.empty() != options.tls_key.empty()) {
    throw engine::InvalidArgument("--tls-cert and --tls-key go together (mutual TLS)");
  }
  grpc::SslCredentialsOptions ssl;
  if (!options.tls_ca.empty()) ssl.pem_root_certs = ReadPem("--tls-ca", options.tls_ca);
  if (!options.tls_cert.empty()) {
    ssl.pem_cert_chain = ReadPem("--tls-cert", options.tls_cert);
    ssl.pem_private_key = ReadPem("--tls-key", options.tls_key);
  }
  grpc::ChannelArguments arguments;
  if (!options.tls_server_name.empty()) {
    arguments.SetSslTargetNameOverride(options.tls_server_name);
  }
  return grpc::CreateCustomChannel(*address, grpc::SslCredentials(ssl), arguments);
}

void AddApiKey(grpc::ClientContext& context) {
  const char* key = std::getenv(kApiKeyEnvironmentVariable);
  if (key != nullptr && *key != '\0') {
    context.AddMetadata("authorization", std::string("Bearer ") + key);
  }
}

absl::Status StatusFromGrpc(const grpc::Status& status, const std::string& address) {
  if (status.ok()) return absl::OkStatus();
  const auto code = static_cast<absl::StatusCode>(status.error_code());
  if (code == absl::StatusCode::kUnavailable) {
    return absl::Status(code, "server " + address + ": " + status.error_message());
  }
  if (code == absl::StatusCode::kUnauthenticated) {
    return absl::Status(code, status.error_message() + " (the client sends the key in $" +
                                  kApiKeyEnvironmentVariable + ")");
  }
  return absl::Status(code, status.error_message());
}

void ThrowIfFailed(const grpc::Status& status, const std::string& address) {
  const absl::Status converted = StatusFromGrpc(status, address);
  if (!converted.ok()) throw engine::StatusError(converted);
}

}  // namespace streamdit::server::cli
