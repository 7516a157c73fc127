// The metric families as Prometheus reads them: the series dashboards and alerts need exist from
// the start, the device peak is a high-water mark no late report lowers, job peaks land in the
// byte buckets, and the names and labels are the documented ones.
#include "server/metrics/service_metrics.h"

#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>

#include <regex>
#include <string>

#include "scheduler/status_reason.h"
#include "tests/support/exposition.h"

namespace streamdit::server {
namespace {

using test_support::ExposedValue;

std::string Exposition(prometheus::Registry& registry) {
  return prometheus::TextSerializer().Serialize(registry.Collect());
}

TEST(ServiceMetrics, TheSeriesPanelsAndAlertsNeedExistFromTheStart) {
  prometheus::Registry registry;
  ServiceMetrics metrics(registry, {"cpu:0", "cpu:1"}, {1 << 30, 2 << 30}, {"flux1-demo"});
  const std::string text = Exposition(registry);
  EXPECT_EQ(ExposedValue(text, R"(streamdit_device_memory_budget_bytes{device="cpu:1"})"), 2 << 30);
  EXPECT_EQ(ExposedValue(text, R"(streamdit_device_memory_used_bytes{device="cpu:0"})"), 0);
  EXPECT_EQ(ExposedValue(text, R"(streamdit_device_memory_peak_bytes{device="cpu:1"})"), 0);
  EXPECT_EQ(ExposedValue(text, R"(streamdit_device_healthy{device="cpu:0"})"), 1);
  EXPECT_EQ(ExposedValue(text, R"(streamdit_queue_depth{priority="high"})"), 0);
  EXPECT_EQ(ExposedValue(text, R"(streamdit_requests_rejected_total{reason="never_fits"})"), 0);
  EXPECT_EQ(ExposedValue(text, R"(streamdit_oom_retries_total{device="cpu:1",model="flux1-demo"})"),
            0);
  EXPECT_EQ(ExposedValue(text, "streamdit_draining"), 0);
}

TEST(ServiceMetrics, TheDevicePeakIsAHighWaterMark) {
  prometheus::Registry registry;
  ServiceMetrics metrics(registry, {"cpu:0"}, {1 << 30}, {"m"});
  ServiceObserver& observer = metrics;
  observer.OnDeviceMemory("cpu:0", 100, 700);
  observer.OnDeviceMemory("cpu:0", 50, 300);  // a late report of an older peak
  const std::string text = Exposition(registry);
  EXPECT_EQ(ExposedValue(text, R"(streamdit_device_memory_peak_bytes{device="cpu:0"})"), 700);
  EXPECT_EQ(ExposedValue(text, R"(streamdit_device_memory_used_bytes{device="cpu:0"})"), 50);
}

TEST(ServiceMetrics, ALaunchRecordsItsPeakPredictionStreamingAndBatch) {
  prometheus::Registry registry;
  ServiceMetrics metrics(registry, {"cuda:0"}, {24ll << 30}, {"flux1-dev"});
  scheduler::Launch placed;
  placed.device = 0;
  metrics.OnLaunchPlaced(placed, scheduler::Duration::zero());
  LaunchStats launch;
  launch.device = "cuda:0";
  launch.model = "flux1-dev";
  launch.images = 3;
  launch.peak_bytes = 600ll << 20;  // in the 1 GiB bucket, not the 512 MiB one
  launch.predicted_bytes = 700ll << 20;
  launch.streamed_bytes = 12345;
  launch.stall_seconds = 0.5;
  launch.denoise_seconds = 2;
  static_cast<ServiceObserver&>(metrics).OnLaunchFinished(launch);
  const std::string text = Exposition(registry);
  const std::string labels = R"({device="cuda:0",model="flux1-dev")";
  EXPECT_EQ(ExposedValue(text, "streamdit_job_memory_peak_bytes_sum" + labels + "}"), 600 << 20);
  EXPECT_EQ(
      ExposedValue(text, "streamdit_job_memory_peak_bytes_bucket" + labels + R"(,le="536870912"})"),
      0);
  EXPECT_EQ(ExposedValue(
                text, "streamdit_job_memory_peak_bytes_bucket" + labels + R"(,le="1073741824"})"),
            1);
  EXPECT_EQ(ExposedValue(text, "streamdit_job_memory_predicted_bytes_sum" + labels + "}"),
            700 << 20);
  EXPECT_EQ(ExposedValue(text, "streamdit_weights_streamed_bytes_total" + labels + "}"), 12345);
  EXPECT_EQ(ExposedValue(text, "streamdit_stream_stall_seconds_total" + labels + "}"), 0.5);
  EXPECT_EQ(ExposedValue(text, "streamdit_batch_size_sum" + labels + "}"), 3);
  EXPECT_EQ(ExposedValue(text, R"(streamdit_device_running_launches{device="cuda:0"})"), 0);
}

TEST(ServiceMetrics, OutOfMemoryLaunchesAndRejectionsAreCountedByReason) {
  prometheus::Registry registry;
  ServiceMetrics metrics(registry, {"cpu:0"}, {1 << 30}, {"m"});
  LaunchStats launch;
  launch.device = "cpu:0";
  launch.model = "m";
  launch.outcome = scheduler::LaunchOutcome::kOutOfMemory;
  static_cast<ServiceObserver&>(metrics).OnLaunchFinished(launch);
  metrics.OnRejected({}, scheduler::WithReason(absl::ResourceExhaustedError("queue full"),
                                               scheduler::StatusReason::kQueueFull));
  metrics.OnRequestFinished(Protocol::kGrpc, "GenerateImage", absl::StatusCode::kInvalidArgument,
                            0.002);
  metrics.OnRequestFinished(Protocol::kGrpc, "GenerateImage", absl::StatusCode::kInvalidArgument,
                            0.003);
  const std::string text = Exposition(registry);
  EXPECT_EQ(ExposedValue(text, R"(streamdit_oom_retries_total{device="cpu:0",model="m"})"), 1);
  EXPECT_EQ(ExposedValue(text, R"(streamdit_requests_rejected_total{reason="queue_full"})"), 1);
  EXPECT_EQ(
      ExposedValue(
          text,
          R"(streamdit_requests_total{code="INVALID_ARGUMENT",method="GenerateImage",protocol="grpc"})"),
      2);
}

// Both protocols in one family, told apart by the label; every request's time in a histogram of
// its protocol and method, whatever its code.
TEST(ServiceMetrics, RequestsAndTheirTimesByProtocolAndMethod) {
  prometheus::Registry registry;
  ServiceMetrics metrics(registry, {"cpu:0"}, {1 << 30}, {"m"});
  metrics.OnRequestFinished(Protocol::kHttp, "POST /v1/images/generations", absl::StatusCode::kOk,
                            3.0);
  metrics.OnRequestFinished(Protocol::kHttp, "POST /v1/images/generations",
                            absl::StatusCode::kUnauthenticated, 0.001);
  metrics.OnRequestFinished(Protocol::kGrpc, "GenerateImage", absl::StatusCode::kOk, 0.7);
  const std::string text = Exposition(registry);
  const std::string http = R"(method="POST /v1/images/generations",protocol="http")";
  EXPECT_EQ(ExposedValue(text, "streamdit_requests_total{code=\"OK\"," + http + "}"), 1);
  EXPECT_EQ(ExposedValue(text, "streamdit_requests_total{code=\"UNAUTHENTICATED\"," + http + "}"),
            1);
  EXPECT_EQ(ExposedValue(text, "streamdit_request_handling_seconds_count{" + http + "}"), 2);
  EXPECT_DOUBLE_EQ(ExposedValue(text, "streamdit_request_handling_seconds_sum{" + http + "}"),
                   3.001);
  // le="1": the 1 ms refusal, not the 3 s generation.
  EXPECT_EQ(ExposedValue(text, "streamdit_request_handling_seconds_bucket{" + http + ",le=\"1\"}"),
            1);
  EXPECT_EQ(
      ExposedValue(
          text,
          R"(streamdit_request_handling_seconds_count{method="GenerateImage",protocol="grpc"})"),
      1);
}

TEST(ServiceMetrics, ByteBucketsSpan256MiBTo160GiB) {
  const auto buckets = ServiceMetrics::ByteBuckets();
  ASSERT_FALSE(buckets.empty());
  EXPECT_EQ(buckets.front(), 256.0 * 1024 * 1024);
  EXPECT_EQ(buckets.back(), 160.0 * 1024 * 1024 * 1024);
  for (std::size_t i = 1; i < buckets.size(); ++i) EXPECT_LT(buckets[i - 1], buckets[i]);
}

}  // namespace
}  // namespace streamdit::server
