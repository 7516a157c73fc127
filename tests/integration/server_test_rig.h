// A real streamdit server for integration tests: the demo model (written once per test binary),
// a GenerationService over one or more `cpu` devices, and the gRPC server on a free loopback
// port, with a client stub over a real channel.
#pragma once

#include <grpcpp/grpcpp.h>
#include <stdlib.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/demo/demo_model.h"
#include "engine/pipeline/model_paths.h"
#include "server/api/grpc_server.h"
#include "server/runtime/engine_launch_runner.h"
#include "server/runtime/engine_memory_estimator.h"
#include "server/runtime/execution_targets.h"
#include "server/runtime/generation_service.h"
#include "server/runtime/model_registry.h"
#include "streamdit/v1/image_generation.grpc.pb.h"
#include "tests/support/scratch_dir.h"

namespace streamdit::server::testing {

// The demo model, written on first use into a temp folder removed at exit (ctest runs each test
// in its own process: a folder left behind per test would fill the disk).
inline const std::string& DemoModelDir() {
  static const std::string path = [] {
    static const test_support::ScratchDir created("streamdit_server");
    engine::WriteDemoModel(created.path());
    return created.path();
  }();
  return path;
}

// The demo model at a test size: 64x64, 2 steps, 32 T5 tokens.
inline ModelSettings DemoModel(const std::string& name = "flux1-demo") {
  ModelSettings settings;
  settings.name = name;
  engine::PipelineConfig& config = settings.pipeline;
  config.paths = engine::FindModelFiles(DemoModelDir());
  config.t5_max_length = 32;
  config.default_steps = 2;
  config.default_width = 64;
  config.default_height = 64;
  return settings;
}

// Submits `job` to the service and waits until it ends: its result, or the refusal.
inline absl::StatusOr<JobResult> RunToEnd(GenerationService& service, GenerationJob job) {
  std::mutex mu;
  std::condition_variable cv;
  std::optional<absl::StatusOr<JobResult>> outcome;
  JobEvents events;
  events.on_done = [&](absl::StatusOr<JobResult> result) {
    std::lock_guard<std::mutex> lock(mu);
    outcome = std::move(result);
    cv.notify_one();
  };
  absl::StatusOr<scheduler::JobId> id = service.Submit(std::move(job), events);
  if (!id.ok()) return id.status();
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, [&] { return outcome.has_value(); });
  return *std::move(outcome);
}

struct RigOptions {
  std::vector<DeviceSettings> devices = {{"cpu:0", 4ll << 30}};
  scheduler::SchedulerConfig scheduler;
  RequestLimits limits;
  GrpcServerOptions grpc;
  ServiceObservers observers;          // e.g. metrics (must outlive the rig)
  std::vector<std::string> lora_dirs;  // scanned once at start when given
};

class ServerRig {
 public:
  explicit ServerRig(RigOptions options = {}) {
    absl::StatusOr<std::unique_ptr<ModelRegistry>> models =
        ModelRegistry::Load({DemoModel()}, options.lora_dirs);
    if (!models.ok()) throw std::runtime_error(models.status().ToString());
    models_ = *std::move(models);
    if (!options.lora_dirs.empty()) models_->loras().Rescan();
    ServiceSettings settings;
    settings.devices = options.devices;
    settings.scheduler = options.scheduler;
    settings.limits = options.limits;
    service_ = std::make_unique<GenerationService>(
        *models_, settings, std::make_unique<EngineMemoryEstimator>(*models_),
        std::make_unique<EngineLaunchRunner>(*models_, *ExecutionTargetsOf(settings.devices)),
        options.observers);
    options.grpc.listen = "127.0.0.1:0";
    absl::StatusOr<std::unique_ptr<GrpcServer>> server = GrpcServer::Start(options.grpc);
    if (!server.ok()) throw std::runtime_error(server.status().ToString());
    server_ = *std::move(server);
    server_->SetBackend(service_.get());
    channel_ = grpc::CreateChannel(address(), grpc::InsecureChannelCredentials());
    stub_ = v1::ImageGeneration::NewStub(channel_);
  }
  ~ServerRig() {
    server_->Drain(service_.get(), std::chrono::seconds(30));
    server_.reset();
    service_.reset();
  }

  std::string address() const { return "127.0.0.1:" + std::to_string(server_->port()); }
  v1::ImageGeneration::Stub& stub() { return *stub_; }
  std::shared_ptr<grpc::Channel> channel() { return channel_; }
  GenerationService& service() { return *service_; }
  GrpcServer& server() { return *server_; }
  const ModelRegistry& models() { return *models_; }

  grpc::Status Generate(const v1::GenerateImageRequest& request,
                        v1::GenerateImageResponse* response,
                        std::chrono::milliseconds timeout = std::chrono::seconds(300)) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + timeout);
    return stub_->GenerateImage(&context, request, response);
  }

 private:
  std::unique_ptr<ModelRegistry> models_;
  std::unique_ptr<GenerationService> service_;
  std::unique_ptr<GrpcServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::ImageGeneration::Stub> stub_;
};

}  // namespace streamdit::server::testing
