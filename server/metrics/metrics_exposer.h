// The Prometheus endpoint: a registry served at http://HOST:PORT/metrics on its own port
// (prometheus-cpp's exposer), apart from the gRPC port.
#pragma once

#include <prometheus/exposer.h>
#include <prometheus/registry.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace streamdit::server {

class MetricsExposer {
 public:
  // `listen`: HOST:PORT (port 0 picks a free one: see port()). UNAVAILABLE naming the address
  // when it cannot be bound.
  static absl::StatusOr<std::unique_ptr<MetricsExposer>> Start(
      const std::string& listen, std::shared_ptr<prometheus::Registry> registry);

  int port() const { return port_; }

 private:
  MetricsExposer() = default;
  std::unique_ptr<prometheus::Exposer> exposer_;
  int port_ = 0;
};

}  // namespace streamdit::server
