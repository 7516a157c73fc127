// Health, cancellation, deadlines and drain: what an operator and a load balancer rely on.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <thread>

#include "tests/integration/health_client.h"
#include "tests/integration/server_test_rig.h"

namespace streamdit::server::testing {
namespace {

v1::GetServerStatusResponse Status(ServerRig& rig) {
  grpc::ClientContext context;
  v1::GetServerStatusResponse status;
  EXPECT_TRUE(rig.stub().GetServerStatus(&context, {}, &status).ok());
  return status;
}

void WaitForIdleDevices(ServerRig& rig) {
  for (int i = 0; i < 200; ++i) {
    const v1::GetServerStatusResponse status = Status(rig);
    bool idle = status.queue_depth() == 0;
    for (const auto& device : status.devices()) {
      idle = idle && device.running_launches() == 0 && device.reserved_bytes() == 0;
    }
    if (idle) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ADD_FAILURE() << "devices did not return to idle";
}

v1::GenerateImageRequest Slow(uint64_t seed) {
  v1::GenerateImageRequest request;
  request.set_prompt("slow");
  request.set_seed(seed);
  request.set_steps(100);
  request.set_width(256);
  request.set_height(256);
  return request;
}

TEST(Lifecycle, HealthIsNotServingUntilTheBackendIsSetAndWhileDraining) {
  GrpcServerOptions options;
  options.listen = "127.0.0.1:0";
  absl::StatusOr<std::unique_ptr<GrpcServer>> server = GrpcServer::Start(options);
  ASSERT_TRUE(server.ok()) << server.status();
  auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string((*server)->port()),
                                     grpc::InsecureChannelCredentials());
  EXPECT_EQ(Health(channel), HealthStatus::kNotServing);
  auto stub = v1::ImageGeneration::NewStub(channel);
  grpc::ClientContext context;
  v1::GenerateImageResponse response;
  EXPECT_EQ(stub->GenerateImage(&context, {}, &response).error_code(),
            grpc::StatusCode::UNAVAILABLE);

  ServerRig rig;
  auto rig_channel = rig.channel();
  EXPECT_EQ(Health(rig_channel), HealthStatus::kServing);
  rig.server().SetServing(false);
  EXPECT_EQ(Health(rig_channel), HealthStatus::kNotServing);
}

TEST(Lifecycle, CancelMidGenerationReturnsTheMemory) {
  ServerRig rig;
  grpc::ClientContext context;
  auto reader = rig.stub().StreamGenerateImage(&context, Slow(1));
  v1::StreamGenerateImageResponse event;
  // Wait until it runs (a progress event), then cancel.
  bool running = false;
  while (reader->Read(&event)) {
    if (event.has_progress()) {
      running = true;
      break;
    }
  }
  ASSERT_TRUE(running);
  EXPECT_GT(Status(rig).devices(0).reserved_bytes(), 0u);
  context.TryCancel();
  while (reader->Read(&event)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  WaitForIdleDevices(rig);
}

TEST(Lifecycle, AnExpiredDeadlineEndsTheJobAndReturnsTheMemory) {
  ServerRig rig;
  v1::GenerateImageResponse response;
  const grpc::Status status = rig.Generate(Slow(2), &response, std::chrono::milliseconds(700));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  WaitForIdleDevices(rig);
  // The server still serves.
  v1::GenerateImageRequest quick;
  quick.set_seed(3);
  EXPECT_TRUE(rig.Generate(quick, &response).ok());
}

TEST(Lifecycle, DrainFinishesAcceptedWorkAndRefusesNewWork) {
  auto rig = std::make_unique<ServerRig>();
  constexpr int kAccepted = 6;
  std::vector<grpc::Status> statuses(kAccepted);
  std::vector<std::thread> clients;
  for (int i = 0; i < kAccepted; ++i) {
    clients.emplace_back([&, i] {
      v1::GenerateImageRequest request;
      request.set_seed(10 + i);
      v1::GenerateImageResponse response;
      statuses[i] = rig->Generate(request, &response);
    });
  }
  // Wait until all are accepted (queued or running).
  for (int i = 0; i < 200; ++i) {
    const v1::GetServerStatusResponse status = Status(*rig);
    int running = 0;
    for (const auto& device : status.devices()) running += device.running_launches();
    if (static_cast<int>(status.queue_depth()) + running > 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::thread drainer([&] { rig->server().Drain(&rig->service(), std::chrono::seconds(60)); });
  for (auto& client : clients) client.join();
  drainer.join();
  for (int i = 0; i < kAccepted; ++i) {
    // Accepted work finished; a request that arrived after the drain began was refused.
    EXPECT_TRUE(statuses[i].ok() || statuses[i].error_code() == grpc::StatusCode::UNAVAILABLE)
        << i << ": " << statuses[i].error_message();
  }
  EXPECT_TRUE(statuses[0].ok()) << statuses[0].error_message();
}

TEST(Lifecycle, DrainPastItsGracePeriodCancelsWhatIsLeft) {
  ServerRig rig;
  grpc::Status status;
  std::thread client([&] {
    v1::GenerateImageResponse response;
    status = rig.Generate(Slow(4), &response);
  });
  for (int i = 0; i < 400; ++i) {
    if (Status(rig).devices(0).running_launches() > 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const int cancelled = rig.server().Drain(&rig.service(), std::chrono::milliseconds(200));
  client.join();
  EXPECT_EQ(cancelled, 1);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::CANCELLED) << status.error_message();
}

}  // namespace
}  // namespace streamdit::server::testing
