// The metrics of a real server on loopback: what a scrape shows after generations equals what
// the responses and GetServerStatus said, and every RPC is counted by method and code.
#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>

#include "server/metrics/service_metrics.h"
#include "tests/integration/server_test_rig.h"
#include "tests/support/exposition.h"

namespace streamdit::server::testing {
namespace {

using test_support::ExposedValue;

TEST(Metrics, AScrapeShowsWhatTheResponsesSaid) {
  prometheus::Registry registry;
  const int64_t budget = 4ll << 30;
  ServiceMetrics metrics(registry, {"cpu:0"}, {budget}, {"flux1-demo"});
  RigOptions options;
  options.devices = {{"cpu:0", budget}};
  options.observers = {&metrics, &metrics};
  options.grpc.request_observer = &metrics;
  ServerRig rig(options);

  int64_t peaks = 0;
  for (int i = 0; i < 3; ++i) {  // one at a time: one launch per request
    v1::GenerateImageRequest request;
    request.set_prompt("metrics");
    request.set_seed(1 + i);
    v1::GenerateImageResponse response;
    ASSERT_TRUE(rig.Generate(request, &response).ok());
    peaks += static_cast<int64_t>(response.stats().memory_peak_bytes());
  }
  v1::GenerateImageRequest bad;
  bad.set_width(100);
  v1::GenerateImageResponse ignored;
  EXPECT_EQ(rig.Generate(bad, &ignored).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  grpc::ClientContext context;
  v1::GetServerStatusResponse status;
  ASSERT_TRUE(rig.stub().GetServerStatus(&context, {}, &status).ok());

  const std::string text = prometheus::TextSerializer().Serialize(registry.Collect());
  const std::string labels = R"({device="cpu:0",model="flux1-demo"})";
  EXPECT_EQ(ExposedValue(text, "streamdit_job_memory_peak_bytes_count" + labels), 3) << text;
  EXPECT_EQ(ExposedValue(text, "streamdit_job_memory_peak_bytes_sum" + labels), peaks);
  EXPECT_EQ(ExposedValue(text, "streamdit_images_generated_total" + labels), 3);
  EXPECT_EQ(ExposedValue(text, R"(streamdit_device_memory_peak_bytes{device="cpu:0"})"),
            status.devices(0).peak_bytes());
  EXPECT_EQ(ExposedValue(text, R"(streamdit_device_memory_budget_bytes{device="cpu:0"})"), budget);
  EXPECT_EQ(
      ExposedValue(text, R"(streamdit_resident_weight_bytes{device="cpu:0",model="flux1-demo"})"),
      status.devices(0).resident_weights(0).bytes());
  const std::string grpc_generate = R"(method="GenerateImage",protocol="grpc")";
  EXPECT_EQ(ExposedValue(text, "streamdit_requests_total{code=\"OK\"," + grpc_generate + "}"), 3);
  EXPECT_EQ(ExposedValue(
                text, "streamdit_requests_total{code=\"INVALID_ARGUMENT\"," + grpc_generate + "}"),
            1);
  // Every answered call's time, the refused one too.
  EXPECT_EQ(ExposedValue(text, "streamdit_request_handling_seconds_count{" + grpc_generate + "}"),
            4);
  EXPECT_GT(ExposedValue(text, "streamdit_request_handling_seconds_sum{" + grpc_generate + "}"), 0);
  EXPECT_GT(
      ExposedValue(
          text, R"(streamdit_request_duration_seconds_count{model="flux1-demo",phase="denoise"})"),
      0);
  EXPECT_EQ(ExposedValue(text, R"(streamdit_denoise_step_seconds_count)" + labels), 3 * 2);
}

}  // namespace
}  // namespace streamdit::server::testing
