// `streamdit serve`: starts the gRPC server (health NOT_SERVING) and, when configured, the HTTP
// front end (server/http/, /readyz 503), loads the configured models
// (creating the demo model where the config asks for it), starts one worker per device and the
// scheduler, turns health SERVING (and /readyz 200) and serves until SIGTERM or SIGINT. Then it
// drains: health NOT_SERVING, new work UNAVAILABLE, accepted work gets the grace period to finish,
// what is left is cancelled (its clients get CANCELLED, never silence), and Serve returns OK.
#pragma once

#include <atomic>

#include "absl/status/status.h"
#include "server/api/grpc_server.h"
#include "server/auth/api_keys.h"
#include "server/config/config_overrides.h"
#include "server/config/server_config.h"
#include "server/runtime/generation_service.h"
#include "server/runtime/model_registry.h"

namespace streamdit::server {

// The runtime's view of the config. Fails with the model's name and the engine's error for a
// model that cannot be described (a missing folder is NOT_FOUND naming it).
absl::StatusOr<std::vector<ModelSettings>> ModelSettingsFromConfig(const ServerConfig& config);
absl::StatusOr<ServiceSettings> ServiceSettingsFromConfig(const ServerConfig& config);
GrpcServerOptions GrpcOptionsFromConfig(const ServerConfig& config);

// The ports the server answers on once it serves (port 0 in the config picks a free one).
struct ServingPorts {
  int grpc = 0;
  int http = 0;  // 0: no HTTP front end
};

// The API keys the configuration names (auth.api_keys_file or the variable auth.api_keys_env),
// or none. The file's or variable's errors name it, never a key.
absl::StatusOr<ApiKeys> LoadApiKeys(const AuthSpec& auth, const EnvironmentLookup& environment);

struct ServeHooks {
  // Set once the server serves (tests and `scripts/run` wait on the health service instead).
  std::function<void(const ServingPorts& ports)> on_serving;
  // Polled; true begins the drain. Default: SIGTERM or SIGINT received.
  std::function<bool()> stop_requested;
};

// Runs until stopped. Errors at start (an address that cannot be bound, a missing or corrupt
// model file) are returned as they are: NOT_FOUND / DATA_LOSS naming the file.
absl::Status Serve(const ServerConfig& config, const ServeHooks& hooks = {});

}  // namespace streamdit::server
