// GenerateImage and StreamGenerateImage over a real loopback channel, against the pipeline run
// in-process: the server must return exactly the image the engine makes for the same request.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <optional>
#include <thread>

#include "tests/integration/server_test_rig.h"
#include "tests/support/png_pixels.h"

namespace streamdit::server::testing {
namespace {

using test_support::ComparePixels;
using test_support::PixelDifference;

std::string DirectPng(ServerRig& rig, const std::string& prompt, uint64_t seed) {
  engine::GenerationRequest request;
  request.prompt = prompt;
  request.seed = seed;
  return rig.models()
      .default_model()
      .pipeline->Generate(request, engine::ExecutionTarget::Cpu())
      .png.front();
}

v1::GenerateImageRequest Request(const std::string& prompt, uint64_t seed) {
  v1::GenerateImageRequest request;
  request.set_prompt(prompt);
  request.set_seed(seed);
  return request;
}

TEST(GenerateRpc, UnaryReturnsTheEnginesImageAndItsStats) {
  ServerRig rig;
  v1::GenerateImageResponse response;
  const grpc::Status status = rig.Generate(Request("a red fox", 42), &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(response.images_size(), 1);
  EXPECT_EQ(response.images(0).seed(), 42u);
  EXPECT_EQ(response.images(0).width(), 64u);
  EXPECT_EQ(response.images(0).height(), 64u);
  EXPECT_EQ(response.images(0).png(), DirectPng(rig, "a red fox", 42));
  const v1::GenerationStats& stats = response.stats();
  EXPECT_EQ(stats.device(), "cpu:0");
  EXPECT_GT(stats.memory_budget_bytes(), 0u);
  EXPECT_GT(stats.memory_predicted_bytes(), 0u);
  EXPECT_GT(stats.memory_peak_bytes(), 0u);
  EXPECT_LE(stats.memory_peak_bytes(), stats.memory_budget_bytes());
  EXPECT_GT(stats.denoise_seconds(), 0);
}

TEST(GenerateRpc, SeedZeroDrawsARandomSeedAndEchoesIt) {
  ServerRig rig;
  v1::GenerateImageResponse response;
  ASSERT_TRUE(rig.Generate(Request("x", 0), &response).ok());
  const uint64_t seed = response.images(0).seed();
  EXPECT_NE(seed, 0u);
  EXPECT_LE(seed, 0xffffffffull);
  EXPECT_EQ(response.images(0).png(), DirectPng(rig, "x", seed));
}

TEST(GenerateRpc, ImagesOfOneRequestHaveConsecutiveSeeds) {
  ServerRig rig;
  v1::GenerateImageRequest request = Request("two foxes", 7);
  request.set_batch_size(2);
  v1::GenerateImageResponse response;
  ASSERT_TRUE(rig.Generate(request, &response).ok());
  ASSERT_EQ(response.images_size(), 2);
  EXPECT_EQ(response.images(0).seed(), 7u);
  EXPECT_EQ(response.images(1).seed(), 8u);
  EXPECT_NE(response.images(0).png(), response.images(1).png());
}

// v1: guidance is optional. Left out it is the model's default; 0 is a guidance like any other.
TEST(GenerateRpc, GuidanceLeftOutIsTheModelsDefaultAndZeroIsAskable) {
  ServerRig rig;
  const double default_guidance = rig.models().default_model().pipeline->defaults().guidance;
  ASSERT_NE(default_guidance, 0.0);
  auto png = [&rig](std::optional<float> guidance) {
    v1::GenerateImageRequest request = Request("a kite", 3);
    if (guidance) request.set_guidance(*guidance);
    v1::GenerateImageResponse response;
    const grpc::Status status = rig.Generate(request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.images_size() == 1 ? response.images(0).png() : std::string();
  };
  const std::string left_out = png(std::nullopt);
  EXPECT_EQ(left_out, png(static_cast<float>(default_guidance)));
  const std::string zero = png(0.0f);
  EXPECT_NE(zero, left_out);
  engine::GenerationRequest direct;
  direct.prompt = "a kite";
  direct.seed = 3;
  direct.guidance = 0.0;
  EXPECT_EQ(zero, rig.models()
                      .default_model()
                      .pipeline->Generate(direct, engine::ExecutionTarget::Cpu())
                      .png.front());
}

TEST(GenerateRpc, StreamSendsQueuedStartedProgressThenTheResult) {
  ServerRig rig;
  grpc::ClientContext context;
  std::unique_ptr<grpc::ClientReader<v1::StreamGenerateImageResponse>> reader =
      rig.stub().StreamGenerateImage(&context, Request("a stream", 5));
  std::vector<v1::StreamGenerateImageResponse> events;
  v1::StreamGenerateImageResponse event;
  while (reader->Read(&event)) events.push_back(event);
  const grpc::Status status = reader->Finish();
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_GE(events.size(), 5u);  // queued, started, 2 steps, result
  EXPECT_TRUE(events.front().has_queued());
  // Exactly one started event, after the queue and before the first step.
  std::vector<std::size_t> started_at;
  std::size_t first_step = events.size();
  for (std::size_t i = 0; i < events.size(); ++i) {
    if (events[i].has_started()) started_at.push_back(i);
    if (events[i].has_progress() && first_step == events.size()) first_step = i;
  }
  ASSERT_EQ(started_at.size(), 1u);
  EXPECT_GT(started_at[0], 0u);
  EXPECT_LT(started_at[0], first_step);
  const v1::JobStarted& started = events[started_at[0]].started();
  EXPECT_EQ(started.device(), "cpu:0");
  EXPECT_GT(started.memory_budget_bytes(), 0u);
  EXPECT_EQ(started.memory_budget_bytes(), events.back().result().stats().memory_budget_bytes());
  std::vector<uint32_t> steps;
  for (const auto& e : events) {
    if (e.has_progress()) {
      steps.push_back(e.progress().step());
      EXPECT_EQ(e.progress().total_steps(), 2u);
    }
  }
  EXPECT_EQ(steps, (std::vector<uint32_t>{1, 2}));
  ASSERT_TRUE(events.back().has_result());
  EXPECT_EQ(events.back().result().images(0).png(), DirectPng(rig, "a stream", 5));
}

TEST(GenerateRpc, ListModelsAndStatusDescribeTheServer) {
  ServerRig rig;
  grpc::ClientContext models_context;
  v1::ListModelsResponse models;
  ASSERT_TRUE(rig.stub().ListModels(&models_context, {}, &models).ok());
  ASSERT_EQ(models.models_size(), 1);
  EXPECT_EQ(models.models(0).name(), "flux1-demo");
  EXPECT_EQ(models.models(0).family(), "flux-dev");
  EXPECT_EQ(models.models(0).default_steps(), 2u);
  EXPECT_GT(models.models(0).weight_bytes(), 0u);
  EXPECT_GT(models.models(0).min_budget_bytes(), 0u);
  // The demo's bf16 transformer under f32 compute: resident as bf16, a layer decoded at a time.
  EXPECT_EQ(models.models(0).resident_format(), "stored");
  EXPECT_GT(models.models(0).decode_bytes(), 0u);
  EXPECT_LT(models.models(0).decode_bytes(), models.models(0).weight_bytes() / 4);

  grpc::ClientContext status_context;
  v1::GetServerStatusResponse status;
  ASSERT_TRUE(rig.stub().GetServerStatus(&status_context, {}, &status).ok());
  EXPECT_FALSE(status.draining());
  ASSERT_EQ(status.devices_size(), 1);
  EXPECT_EQ(status.devices(0).name(), "cpu:0");
  EXPECT_EQ(status.devices(0).budget_bytes(), 4ull << 30);
  EXPECT_TRUE(status.devices(0).healthy());
}

// 32 clients at once: each gets the image of its own seed, equal to the engine's alone within the
// batching tolerance (the scheduler batches same-size jobs; batched images may differ in the last
// bits from the image made alone).
TEST(GenerateRpc, ThirtyTwoConcurrentClientsAllGetTheirImages) {
  RigOptions options;
  options.devices = {{"cpu:0", 4ll << 30}, {"cpu:1", 4ll << 30}};
  ServerRig rig(options);
  constexpr int kClients = 32;
  std::vector<v1::GenerateImageResponse> responses(kClients);
  std::vector<grpc::Status> statuses(kClients);
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&, i] {
      statuses[i] =
          rig.Generate(Request("client " + std::to_string(i % 4), 100 + i), &responses[i]);
    });
  }
  for (auto& client : clients) client.join();
  for (int i = 0; i < kClients; ++i) {
    ASSERT_TRUE(statuses[i].ok()) << i << ": " << statuses[i].error_message();
    ASSERT_EQ(responses[i].images_size(), 1);
    EXPECT_EQ(responses[i].images(0).seed(), static_cast<uint64_t>(100 + i));
    EXPECT_EQ(responses[i].images(0).width(), 64u);
  }
  // Every fourth image against the engine alone (each costs a generation): bitwise when the job
  // ran alone, within one level on a few pixels when it was batched with others (the batch
  // tolerance: latents within 1e-6 relative in f32).
  int batched = 0;
  for (int i = 0; i < kClients; i += 4) {
    const std::string direct = DirectPng(rig, "client " + std::to_string(i % 4), 100 + i);
    const std::string& served = responses[i].images(0).png();
    if (responses[i].stats().batch_images() <= 1) {
      EXPECT_EQ(served, direct) << "client " << i << " ran alone but its image differs";
      continue;
    }
    ++batched;
    const PixelDifference difference = ComparePixels(served, direct);
    EXPECT_LE(difference.max_level, 1) << "client " << i;
    EXPECT_LE(difference.share, 0.01) << "client " << i;
  }
  std::printf("32 clients: %d of %d checked images were batched with others\n", batched,
              kClients / 4);
}

}  // namespace
}  // namespace streamdit::server::testing
