// The one owner of every streamdit metric family (the names are part of the API: README,
// "Operations"). It is fed only through the observer interfaces of the scheduler
// (scheduler/scheduler_observer.h), the service (server/runtime/service_observer.h) and the RPC
// layer (server/runtime/request_observer.h): neither the scheduler nor the engine includes
// prometheus. The registry is passed in, never a global, so tests use a fresh one.
//
// Every series a dashboard panel or an alert needs exists from construction (devices' gauges,
// queue depth per priority, OOM and rejection counters at 0), so that the first event of a
// counter is an increase Prometheus can see.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <string>
#include <vector>

#include "scheduler/scheduler_observer.h"
#include "server/runtime/request_observer.h"
#include "server/runtime/service_observer.h"

namespace streamdit::server {

class ServiceMetrics final : public scheduler::SchedulerObserver,
                             public ServiceObserver,
                             public RequestObserver {
 public:
  // `devices` in the scheduler's order (its device index is the position), with their budgets.
  ServiceMetrics(prometheus::Registry& registry, std::vector<std::string> devices,
                 const std::vector<int64_t>& budgets, const std::vector<std::string>& models);

  // Byte buckets of the job-memory histograms: 256 MiB, 512 MiB, 1 GiB, ... 128 GiB, 160 GiB.
  static prometheus::Histogram::BucketBoundaries ByteBuckets();

  void SetDraining(bool draining);

  // scheduler::SchedulerObserver
  void OnQueueDepth(
      std::size_t depth,
      const std::array<std::size_t, scheduler::kPriorityClasses>& by_priority) override;
  void OnRejected(const scheduler::JobRequest& request, const absl::Status& status) override;
  void OnModelLoaded(int device, const std::string& model, std::int64_t bytes) override;
  void OnModelEvicted(int device, const std::string& model, std::int64_t bytes) override;
  void OnAdapterLoaded(int device, const std::string& key, std::int64_t bytes) override;
  void OnAdapterEvicted(int device, const std::string& key, std::int64_t bytes) override;
  void OnDeviceMemory(int device, std::int64_t used_bytes, std::int64_t budget_bytes) override;
  void OnDeviceHealth(int device, bool healthy) override;
  void OnLaunchPlaced(const scheduler::Launch& launch, scheduler::Duration longest_wait) override;

  // ServiceObserver
  void OnDeviceMemory(const std::string& device, int64_t used_bytes, int64_t peak_bytes) override;
  void OnResidentWeights(const std::string& device, const std::string& model,
                         int64_t bytes) override;
  void OnStep(const std::string& device, const std::string& model, double step_seconds) override;
  void OnLaunchFinished(const LaunchStats& launch) override;
  void OnRequestStarted(const std::string& model, const std::string& device,
                        double queue_seconds) override;
  void OnRequestSucceeded(const RequestStats& request) override;

  // RequestObserver
  void OnRequestFinished(Protocol protocol, const std::string& method, absl::StatusCode code,
                         double seconds) override;

 private:
  using ScalarLabels = std::map<std::string, std::string>;
  const std::string& DeviceName(int device) const;

  std::vector<std::string> devices_;

  prometheus::Family<prometheus::Gauge>& device_budget_;
  prometheus::Family<prometheus::Gauge>& device_used_;
  prometheus::Family<prometheus::Gauge>& device_reserved_;
  prometheus::Family<prometheus::Gauge>& device_peak_;
  prometheus::Family<prometheus::Gauge>& device_healthy_;
  prometheus::Family<prometheus::Gauge>& device_running_;
  prometheus::Family<prometheus::Gauge>& resident_weights_;
  prometheus::Family<prometheus::Gauge>& queue_depth_;
  prometheus::Family<prometheus::Gauge>& draining_;

  prometheus::Family<prometheus::Histogram>& job_peak_;
  prometheus::Family<prometheus::Histogram>& job_predicted_;
  prometheus::Family<prometheus::Histogram>& queue_wait_;
  prometheus::Family<prometheus::Histogram>& request_duration_;
  prometheus::Family<prometheus::Histogram>& step_seconds_;
  prometheus::Family<prometheus::Histogram>& batch_size_;

  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Histogram>& request_handling_;
  prometheus::Family<prometheus::Counter>& rejected_;
  prometheus::Family<prometheus::Counter>& images_;
  prometheus::Family<prometheus::Counter>& streamed_bytes_;
  prometheus::Family<prometheus::Counter>& stall_seconds_;
  prometheus::Family<prometheus::Counter>& denoise_seconds_;
  prometheus::Family<prometheus::Counter>& oom_retries_;
  prometheus::Family<prometheus::Counter>& model_loads_;
  prometheus::Family<prometheus::Counter>& model_evictions_;
  prometheus::Family<prometheus::Counter>& lora_cache_loads_;
  prometheus::Family<prometheus::Counter>& lora_cache_evictions_;
};

}  // namespace streamdit::server
