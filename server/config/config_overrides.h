// Settings that may come from outside the configuration file, in this order of precedence:
// command-line flags over environment variables over the file. Each setter validates its value
// as the file's loader does (config_values.h) and leaves the config unchanged on error; the
// INVALID_ARGUMENT message quotes the value and says what is allowed, and callers prefix where
// the value came from (ApplyEnvironmentOverrides names the variable; the CLI names the flag).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "server/config/server_config.h"

namespace streamdit::server {

absl::Status SetListen(ServerConfig& config, std::string_view address);         // host:port, unix:
absl::Status SetMetricsListen(ServerConfig& config, std::string_view address);  // host:port
// Turns the HTTP front end on at `address` (host:port), keeping a configured body limit.
absl::Status SetHttpListen(ServerConfig& config, std::string_view address);
absl::Status SetLogLevel(ServerConfig& config, std::string_view level);
absl::Status SetGracePeriod(ServerConfig& config, std::string_view duration);  // "30s"

// Returns a variable's value, nullopt when unset.
using EnvironmentLookup = std::function<std::optional<std::string>(const char* name)>;
// The process environment (std::getenv).
EnvironmentLookup ProcessEnvironment();

// Applies, when set and not empty: STREAMDIT_LISTEN, STREAMDIT_METRICS_LISTEN,
// STREAMDIT_HTTP_LISTEN, STREAMDIT_LOG_LEVEL, STREAMDIT_GRACE_PERIOD. An empty variable counts as
// unset (a container spec may list a variable without a value). On a bad value: INVALID_ARGUMENT
// "environment variable STREAMDIT_LOG_LEVEL: \"loud\" is not allowed; must be one of ...",
// after applying the variables before it (the server refuses to start either way).
absl::Status ApplyEnvironmentOverrides(ServerConfig& config, const EnvironmentLookup& lookup);

}  // namespace streamdit::server
