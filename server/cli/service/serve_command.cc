#include "server/cli/service/serve_command.h"

#include <unistd.h>

#include <memory>
#include <optional>
#include <string>

#include "engine/status/status_error.h"
#include "server/cli/service/grpc_client.h"
#include "server/config/config_loader.h"
#include "server/config/config_overrides.h"
#include "server/serve/serve.h"

namespace streamdit::server::cli {
namespace {

struct ServeOptions {
  std::optional<std::string> listen, metrics_listen, http_listen, log_level, grace_period;
};

void ApplyFlag(const std::optional<std::string>& value, const char* flag,
               absl::Status (*set)(ServerConfig&, std::string_view), ServerConfig& config) {
  if (!value) return;
  const absl::Status status = set(config, *value);
  if (!status.ok())
    throw engine::InvalidArgument(std::string(flag) + ": " + std::string(status.message()));
}

// Tells the user how to reach the server once it serves (its log says the port as well).
void PrintHowToCall(const ServerConfig& config, const ServingPorts& ports, std::ostream& out) {
  const std::string address = ClientAddressFor(config.listen, ports.grpc);
  const std::string tls = config.tls ? " --tls-ca CA.pem" : "";
  out << "streamdit serve: serving " << config.models.size() << " model(s) on " << address
      << " (pid " << getpid() << "). Call it with:\n"
      << "  streamdit generate --server " << address << tls
      << " --prompt \"a lighthouse at dusk\" --out out.png\n"
      << "  streamdit status --server " << address << tls << "    streamdit models --server "
      << address << tls << "\n";
  if (ports.http != 0) {
    out << "  OpenAI images API: http://" << ClientAddressFor(config.http->listen, ports.http)
        << "/v1/images/generations\n";
  }
  out << "Stop it with `kill " << getpid() << "` (or Ctrl-C): it drains, finishing accepted work "
      << "within the grace period.\n"
      << std::flush;
}

void RunServe(const ServeOptions& o, const GlobalOptions& global, std::ostream& out) {
  absl::StatusOr<ServerConfig> loaded = LoadServerConfig(global.config_path);
  if (!loaded.ok()) throw engine::StatusError(loaded.status());
  ServerConfig config = *std::move(loaded);
  const absl::Status environment = ApplyEnvironmentOverrides(config, ProcessEnvironment());
  if (!environment.ok()) throw engine::StatusError(environment);
  ApplyFlag(o.listen, "--listen", SetListen, config);
  ApplyFlag(o.metrics_listen, "--metrics-listen", SetMetricsListen, config);
  ApplyFlag(o.http_listen, "--http-listen", SetHttpListen, config);
  ApplyFlag(o.log_level, "--log-level", SetLogLevel, config);
  ApplyFlag(o.grace_period, "--grace-period", SetGracePeriod, config);

  out << "streamdit serve: configuration " << config.source << ", listening on " << config.listen
      << "; loading the models ...\n"
      << std::flush;
  ServeHooks hooks;
  hooks.on_serving = [&config, &out](const ServingPorts& ports) {
    PrintHowToCall(config, ports, out);
  };
  const absl::Status served = Serve(config, hooks);
  if (!served.ok()) throw engine::StatusError(served);
  out << "streamdit serve: drained and stopped\n";
}

}  // namespace

void AddServeCommand(CLI::App& app, CommandTable& table, const GlobalOptions& global) {
  auto options = std::make_shared<ServeOptions>();
  CLI::App* command = app.add_subcommand(
      "serve",
      "Run the gRPC service on the configuration (--config; default config/default.yaml, the\n"
      "demo model on the CPU) until SIGTERM or Ctrl-C, then drain: accepted work finishes within\n"
      "the grace period. Flags override environment variables (STREAMDIT_LISTEN,\n"
      "STREAMDIT_METRICS_LISTEN, STREAMDIT_HTTP_LISTEN, STREAMDIT_LOG_LEVEL, "
      "STREAMDIT_GRACE_PERIOD), which override\n"
      "the file.");
  command->add_option("--listen", options->listen, "gRPC address (port 0: any free port)")
      ->type_name("HOST:PORT");
  command->add_option("--metrics-listen", options->metrics_listen, "Prometheus exposer address")
      ->type_name("HOST:PORT");
  command
      ->add_option("--http-listen", options->http_listen,
                   "OpenAI images API (HTTP) address; turns HTTP on")
      ->type_name("HOST:PORT");
  command->add_option("--log-level", options->log_level, "trace, debug, info, warn or error")
      ->type_name("LEVEL");
  command->add_option("--grace-period", options->grace_period, "Drain time, e.g. 30s, 1m30s")
      ->type_name("DURATION");
  table.Add("serve", command, [options, &global](std::ostream& out, std::ostream&) {
    RunServe(*options, global, out);
  });
}

}  // namespace streamdit::server::cli
