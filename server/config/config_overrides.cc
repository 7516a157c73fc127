#include "server/config/config_overrides.h"

#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "server/config/config_values.h"

namespace streamdit::server {

absl::Status SetListen(ServerConfig& config, std::string_view address) {
  absl::StatusOr<std::string> parsed = ParseListenAddress(address, /*allow_unix=*/true);
  if (!parsed.ok()) return parsed.status();
  config.listen = *std::move(parsed);
  return absl::OkStatus();
}

absl::Status SetMetricsListen(ServerConfig& config, std::string_view address) {
  absl::StatusOr<std::string> parsed = ParseListenAddress(address, /*allow_unix=*/false);
  if (!parsed.ok()) return parsed.status();
  config.metrics_listen = *std::move(parsed);
  return absl::OkStatus();
}

absl::Status SetHttpListen(ServerConfig& config, std::string_view address) {
  absl::StatusOr<std::string> parsed = ParseListenAddress(address, /*allow_unix=*/false);
  if (!parsed.ok()) return parsed.status();
  if (!config.http) config.http.emplace();
  config.http->listen = *std::move(parsed);
  return absl::OkStatus();
}

absl::Status SetLogLevel(ServerConfig& config, std::string_view level) {
  absl::StatusOr<LogLevel> parsed = ParseLogLevel(level);
  if (!parsed.ok()) return parsed.status();
  config.log_level = *parsed;
  return absl::OkStatus();
}

absl::Status SetGracePeriod(ServerConfig& config, std::string_view duration) {
  absl::StatusOr<std::chrono::milliseconds> parsed = ParseDuration(duration);
  if (!parsed.ok()) return parsed.status();
  config.grace_period = *parsed;
  return absl::OkStatus();
}

EnvironmentLookup ProcessEnvironment() {
  return [](const char* name) -> std::optional<std::string> {
    const char* value = std::getenv(name);
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
}

absl::Status ApplyEnvironmentOverrides(ServerConfig& config, const EnvironmentLookup& lookup) {
  using Setter = absl::Status (*)(ServerConfig&, std::string_view);
  static constexpr std::pair<const char*, Setter> kVariables[] = {
      {"STREAMDIT_LISTEN", &SetListen},
      {"STREAMDIT_METRICS_LISTEN", &SetMetricsListen},
      {"STREAMDIT_HTTP_LISTEN", &SetHttpListen},
      {"STREAMDIT_LOG_LEVEL", &SetLogLevel},
      {"STREAMDIT_GRACE_PERIOD", &SetGracePeriod},
  };
  for (const auto& [name, setter] : kVariables) {
    const std::optional<std::string> value = lookup(name);
    if (!value || value->empty()) continue;
    if (absl::Status status = setter(config, *value); !status.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("environment variable ", name, ": ", status.message()));
    }
  }
  return absl::OkStatus();
}

}  // namespace streamdit::server
