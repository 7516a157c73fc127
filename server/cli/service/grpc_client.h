// What every client command (generate --server, status, models) shares: the server's address, the
// channel (plaintext, TLS or mutual TLS), and a failed call's status as an absl::Status with the
// same code, so that the one exit-code table (exit_code.h) decides the exit code.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "server/cli/command.h"

namespace streamdit::server::cli {

struct ClientOptions {
  std::string server;           // host:port or unix:/path; empty: DefaultServerAddress
  std::string tls_ca;           // PEM file of the CA that signed the server's certificate: TLS
  std::string tls_cert;         // client certificate (PEM) for mutual TLS, with tls_key
  std::string tls_key;          // its private key (PEM)
  std::string tls_server_name;  // the name the server's certificate must carry (default: host)
};

// Declares --server (unless `with_server` is false: the caller declares its own), --tls-ca,
// --tls-cert, --tls-key and --tls-server-name on `command`.
void AddClientOptions(CLI::App& command, ClientOptions& options, bool with_server = true);

// The configuration's listen address (the config at global.config_path; when that file is missing
// and was not given explicitly, the built-in default 0.0.0.0:50051), with a wildcard host made the
// loopback one (0.0.0.0 -> 127.0.0.1, [::] -> [::1]). Throws the loader's StatusError.
std::string DefaultServerAddress(const GlobalOptions& global);

// The address a client on this machine dials for a server listening on `listen`: a wildcard host
// made the loopback one (0.0.0.0 -> 127.0.0.1, [::] -> [::1]) and, when `port` > 0, the port
// replaced by it (the port a "host:0" listener was given). unix: addresses stay as they are.
std::string ClientAddressFor(const std::string& listen, int port = 0);

// A channel to options.server (or the default address). Throws INVALID_ARGUMENT for TLS flags
// that do not go together, NOT_FOUND naming a PEM file that cannot be read.
std::shared_ptr<grpc::Channel> MakeChannel(const ClientOptions& options,
                                           const GlobalOptions& global, std::string* address);

// The environment variable a client's API key comes from (never a flag: command lines are
// visible to every user of the machine and land in shell histories).
inline constexpr char kApiKeyEnvironmentVariable[] = "STREAMDIT_API_KEY";

// Puts the key from STREAMDIT_API_KEY, when set, on a call as `authorization: Bearer KEY`
// metadata (what a server with API keys configured requires on every call but health and
// reflection).
void AddApiKey(grpc::ClientContext& context);

// The same code and message as an absl::Status (gRPC and absl number their codes alike);
// UNAVAILABLE (unreachable, loading or draining) gets the address in front ("server ADDR: ...");
// UNAUTHENTICATED says where the client's key comes from.
absl::Status StatusFromGrpc(const grpc::Status& status, const std::string& address);

// Throws the StatusError of a failed call; returns on OK.
void ThrowIfFailed(const grpc::Status& status, const std::string& address);

}  // namespace streamdit::server::cli
