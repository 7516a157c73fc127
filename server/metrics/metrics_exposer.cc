#include "server/metrics/metrics_exposer.h"

#include <exception>
#include <utility>

#include "server/metrics/civetweb_thread_stacks.h"

namespace streamdit::server {

absl::StatusOr<std::unique_ptr<MetricsExposer>> MetricsExposer::Start(
    const std::string& listen, std::shared_ptr<prometheus::Registry> registry) {
  std::unique_ptr<MetricsExposer> exposer(new MetricsExposer());
  try {
    if (!CivetwebThreadStacksRaised()) {
      return absl::InternalError("metrics: cannot find libc's pthread_attr_setstacksize");
    }
    exposer->exposer_ = std::make_unique<prometheus::Exposer>(listen, /*num_threads=*/2);
  } catch (const std::exception& error) {
    return absl::UnavailableError("metrics_listen: cannot serve metrics on '" + listen +
                                  "': " + error.what());
  }
  exposer->exposer_->RegisterCollectable(std::move(registry), "/metrics");
  const std::vector<int> ports = exposer->exposer_->GetListeningPorts();
  exposer->port_ = ports.empty() ? 0 : ports.front();
  return exposer;
}

}  // namespace streamdit::server
