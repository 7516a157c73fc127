#include "server/metrics/service_metrics.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>

#include <utility>

#include "scheduler/status_reason.h"

namespace streamdit::server {
namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;

constexpr const char* kPriorityNames[scheduler::kPriorityClasses] = {"low", "normal", "high"};
constexpr scheduler::StatusReason kRejectionReasons[] = {
    scheduler::StatusReason::kNeverFits, scheduler::StatusReason::kQueueFull,
    scheduler::StatusReason::kDraining, scheduler::StatusReason::kNoHealthyDevice};

prometheus::Histogram::BucketBoundaries SecondsBuckets() {
  return {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000};
}

}  // namespace

prometheus::Histogram::BucketBoundaries ServiceMetrics::ByteBuckets() {
  constexpr double kMiB = 1024.0 * 1024.0;
  prometheus::Histogram::BucketBoundaries buckets;
  for (double bytes = 256 * kMiB; bytes <= 128 * 1024 * kMiB; bytes *= 2) buckets.push_back(bytes);
  buckets.push_back(160 * 1024 * kMiB);
  return buckets;
}

ServiceMetrics::ServiceMetrics(prometheus::Registry& registry, std::vector<std::string> devices,
                               const std::vector<int64_t>& budgets,
                               const std::vector<std::string>& models)
    : devices_(std::move(devices)),
      device_budget_(BuildGauge()
                         .Name("streamdit_device_memory_budget_bytes")
                         .Help("The device's byte budget: a hard ceiling on its memory")
                         .Register(registry)),
      device_used_(BuildGauge()
                       .Name("streamdit_device_memory_used_bytes")
                       .Help("Measured bytes in use on the device (every step and phase change)")
                       .Register(registry)),
      device_reserved_(BuildGauge()
                           .Name("streamdit_device_memory_reserved_bytes")
                           .Help("The scheduler's accounting: resident weights plus the "
                                 "reservations of running launches")
                           .Register(registry)),
      device_peak_(BuildGauge()
                       .Name("streamdit_device_memory_peak_bytes")
                       .Help("Measured high-water mark of the device's bytes since the process "
                             "started; never lowered (resets only with the process)")
                       .Register(registry)),
      device_healthy_(BuildGauge()
                          .Name("streamdit_device_healthy")
                          .Help("1 while the scheduler places work on the device, 0 once it is "
                                "marked unhealthy")
                          .Register(registry)),
      device_running_(BuildGauge()
                          .Name("streamdit_device_running_launches")
                          .Help("Launches (batches) running on the device now")
                          .Register(registry)),
      resident_weights_(BuildGauge()
                            .Name("streamdit_resident_weight_bytes")
                            .Help("Measured bytes of the model's weights held resident on the "
                                  "device (0 once evicted)")
                            .Register(registry)),
      queue_depth_(BuildGauge()
                       .Name("streamdit_queue_depth")
                       .Help("Requests waiting in the queue, per priority class")
                       .Register(registry)),
      draining_(BuildGauge()
                    .Name("streamdit_draining")
                    .Help("1 while the server drains (after SIGTERM): new work is refused")
                    .Register(registry)),
      job_peak_(BuildHistogram()
                    .Name("streamdit_job_memory_peak_bytes")
                    .Help("Measured memory peak of each launch: bytes above the device's at its "
                          "start (shared resident weights excluded)")
                    .Register(registry)),
      job_predicted_(BuildHistogram()
                         .Name("streamdit_job_memory_predicted_bytes")
                         .Help("Predicted memory peak of each launch")
                         .Register(registry)),
      queue_wait_(BuildHistogram()
                      .Name("streamdit_queue_wait_seconds")
                      .Help("Time each request waited in the queue before its launch started")
                      .Register(registry)),
      request_duration_(BuildHistogram()
                            .Name("streamdit_request_duration_seconds")
                            .Help("Per finished request: queue, encode, denoise, decode and total "
                                  "seconds")
                            .Register(registry)),
      step_seconds_(BuildHistogram()
                        .Name("streamdit_denoise_step_seconds")
                        .Help("Wall time of each denoising step of a launch")
                        .Register(registry)),
      batch_size_(BuildHistogram()
                      .Name("streamdit_batch_size")
                      .Help("Images per launch (a batch of one or more requests)")
                      .Register(registry)),
      requests_(BuildCounter()
                    .Name("streamdit_requests_total")
                    .Help("Requests answered (gRPC and HTTP), by protocol, method (the RPC or "
                          "the HTTP route) and status code")
                    .Register(registry)),
      request_handling_(BuildHistogram()
                            .Name("streamdit_request_handling_seconds")
                            .Help("Per answered request: seconds from its arrival to its last "
                                  "byte, by protocol and method")
                            .Register(registry)),
      rejected_(BuildCounter()
                    .Name("streamdit_requests_rejected_total")
                    .Help("Requests the scheduler refused to admit, by reason")
                    .Register(registry)),
      images_(BuildCounter()
                  .Name("streamdit_images_generated_total")
                  .Help("Images delivered")
                  .Register(registry)),
      streamed_bytes_(BuildCounter()
                          .Name("streamdit_weights_streamed_bytes_total")
                          .Help("Weight bytes copied into streaming slots")
                          .Register(registry)),
      stall_seconds_(BuildCounter()
                         .Name("streamdit_stream_stall_seconds_total")
                         .Help("Time compute waited for a streamed weight block")
                         .Register(registry)),
      denoise_seconds_(BuildCounter()
                           .Name("streamdit_denoise_seconds_total")
                           .Help("Time spent denoising (the stall share's denominator)")
                           .Register(registry)),
      oom_retries_(BuildCounter()
                       .Name("streamdit_oom_retries_total")
                       .Help("Launches that ran out of memory; their jobs are re-planned with a "
                             "grown estimate and retried")
                       .Register(registry)),
      model_loads_(BuildCounter()
                       .Name("streamdit_model_loads_total")
                       .Help("Model weights loaded resident onto a device")
                       .Register(registry)),
      model_evictions_(BuildCounter()
                           .Name("streamdit_model_evictions_total")
                           .Help("Resident model weights evicted from a device")
                           .Register(registry)),
      lora_cache_loads_(BuildCounter()
                            .Name("streamdit_lora_cache_loads_total")
                            .Help("LoRA adapters converted into a device's adapter cache")
                            .Register(registry)),
      lora_cache_evictions_(BuildCounter()
                                .Name("streamdit_lora_cache_evictions_total")
                                .Help("LoRA adapters dropped from a device's adapter cache")
                                .Register(registry)) {
  for (std::size_t d = 0; d < devices_.size(); ++d) {
    const ScalarLabels device{{"device", devices_[d]}};
    device_budget_.Add(device).Set(d < budgets.size() ? static_cast<double>(budgets[d]) : 0);
    device_used_.Add(device);
    device_reserved_.Add(device);
    device_peak_.Add(device);
    device_healthy_.Add(device).Set(1);
    device_running_.Add(device);
    lora_cache_loads_.Add(device);
    lora_cache_evictions_.Add(device);
    for (const std::string& model : models) {
      oom_retries_.Add({{"device", devices_[d]}, {"model", model}});
    }
  }
  for (const char* priority : kPriorityNames) queue_depth_.Add({{"priority", priority}});
  for (scheduler::StatusReason reason : kRejectionReasons) {
    rejected_.Add({{"reason", scheduler::StatusReasonName(reason)}});
  }
  draining_.Add({});
}

const std::string& ServiceMetrics::DeviceName(int device) const {
  static const std::string kUnknown = "unknown";
  return device >= 0 && static_cast<std::size_t>(device) < devices_.size()
             ? devices_[static_cast<std::size_t>(device)]
             : kUnknown;
}

void ServiceMetrics::SetDraining(bool draining) { draining_.Add({}).Set(draining ? 1 : 0); }

void ServiceMetrics::OnQueueDepth(
    std::size_t /*depth*/,
    const std::array<std::size_t, scheduler::kPriorityClasses>& by_priority) {
  for (int p = 0; p < scheduler::kPriorityClasses; ++p) {
    queue_depth_.Add({{"priority", kPriorityNames[p]}})
        .Set(static_cast<double>(by_priority[static_cast<std::size_t>(p)]));
  }
}

void ServiceMetrics::OnRejected(const scheduler::JobRequest& /*request*/,
                                const absl::Status& status) {
  rejected_.Add({{"reason", scheduler::StatusReasonName(scheduler::ReasonOf(status))}}).Increment();
}

void ServiceMetrics::OnModelLoaded(int device, const std::string& model, std::int64_t /*bytes*/) {
  model_loads_.Add({{"device", DeviceName(device)}, {"model", model}}).Increment();
}

void ServiceMetrics::OnModelEvicted(int device, const std::string& model, std::int64_t /*bytes*/) {
  model_evictions_.Add({{"device", DeviceName(device)}, {"model", model}}).Increment();
}

void ServiceMetrics::OnAdapterLoaded(int device, const std::string& /*key*/,
                                     std::int64_t /*bytes*/) {
  // Labelled by device only: adapter keys change with every rescan (unbounded label values).
  lora_cache_loads_.Add({{"device", DeviceName(device)}}).Increment();
}

void ServiceMetrics::OnAdapterEvicted(int device, const std::string& /*key*/,
                                      std::int64_t /*bytes*/) {
  lora_cache_evictions_.Add({{"device", DeviceName(device)}}).Increment();
}

void ServiceMetrics::OnDeviceMemory(int device, std::int64_t used_bytes,
                                    std::int64_t budget_bytes) {
  const ScalarLabels labels{{"device", DeviceName(device)}};
  device_reserved_.Add(labels).Set(static_cast<double>(used_bytes));
  device_budget_.Add(labels).Set(static_cast<double>(budget_bytes));
}

void ServiceMetrics::OnDeviceHealth(int device, bool healthy) {
  device_healthy_.Add({{"device", DeviceName(device)}}).Set(healthy ? 1 : 0);
}

void ServiceMetrics::OnLaunchPlaced(const scheduler::Launch& launch,
                                    scheduler::Duration /*longest_wait*/) {
  device_running_.Add({{"device", DeviceName(launch.device)}}).Increment();
}

void ServiceMetrics::OnDeviceMemory(const std::string& device, int64_t used_bytes,
                                    int64_t peak_bytes) {
  const ScalarLabels labels{{"device", device}};
  device_used_.Add(labels).Set(static_cast<double>(used_bytes));
  prometheus::Gauge& peak = device_peak_.Add(labels);
  // The meter's high-water mark only grows; a late report never lowers the gauge.
  if (static_cast<double>(peak_bytes) > peak.Value()) peak.Set(static_cast<double>(peak_bytes));
}

void ServiceMetrics::OnResidentWeights(const std::string& device, const std::string& model,
                                       int64_t bytes) {
  resident_weights_.Add({{"device", device}, {"model", model}}).Set(static_cast<double>(bytes));
}

void ServiceMetrics::OnStep(const std::string& device, const std::string& model,
                            double step_seconds) {
  step_seconds_.Add({{"device", device}, {"model", model}}, SecondsBuckets()).Observe(step_seconds);
}

void ServiceMetrics::OnLaunchFinished(const LaunchStats& launch) {
  const ScalarLabels labels{{"device", launch.device}, {"model", launch.model}};
  device_running_.Add({{"device", launch.device}}).Decrement();
  if (launch.outcome == scheduler::LaunchOutcome::kOutOfMemory) {
    oom_retries_.Add(labels).Increment();
  }
  if (launch.peak_bytes > 0) {
    // Observed as a pair, so that measured / predicted compares the same launches.
    job_peak_.Add(labels, ByteBuckets()).Observe(static_cast<double>(launch.peak_bytes));
    job_predicted_.Add(labels, ByteBuckets()).Observe(static_cast<double>(launch.predicted_bytes));
  }
  if (launch.outcome != scheduler::LaunchOutcome::kSucceeded) return;
  batch_size_.Add(labels, prometheus::Histogram::BucketBoundaries{1, 2, 3, 4, 6, 8, 12, 16, 24, 32})
      .Observe(static_cast<double>(launch.images));
  streamed_bytes_.Add(labels).Increment(static_cast<double>(launch.streamed_bytes));
  stall_seconds_.Add(labels).Increment(launch.stall_seconds);
  denoise_seconds_.Add(labels).Increment(launch.denoise_seconds);
}

void ServiceMetrics::OnRequestStarted(const std::string& model, const std::string& /*device*/,
                                      double queue_seconds) {
  queue_wait_.Add({{"model", model}}, SecondsBuckets()).Observe(queue_seconds);
}

void ServiceMetrics::OnRequestSucceeded(const RequestStats& request) {
  images_.Add({{"device", request.device}, {"model", request.model}})
      .Increment(static_cast<double>(request.images));
  const std::pair<const char*, double> phases[] = {{"queue", request.queue_seconds},
                                                   {"encode", request.encode_seconds},
                                                   {"denoise", request.denoise_seconds},
                                                   {"decode", request.decode_seconds},
                                                   {"total", request.total_seconds}};
  for (const auto& [phase, seconds] : phases) {
    request_duration_.Add({{"model", request.model}, {"phase", phase}}, SecondsBuckets())
        .Observe(seconds);
  }
}

void ServiceMetrics::OnRequestFinished(Protocol protocol, const std::string& method,
                                       absl::StatusCode code, double seconds) {
  const std::string protocol_name = ProtocolName(protocol);
  requests_
      .Add({{"protocol", protocol_name},
            {"method", method},
            {"code", absl::StatusCodeToString(code)}})
      .Increment();
  request_handling_.Add({{"protocol", protocol_name}, {"method", method}}, SecondsBuckets())
      .Observe(seconds);
}

}  // namespace streamdit::server
