// bench_service: what the front ends (gRPC and the HTTP/OpenAI API) cost and how much traffic
// they sustain.
//  1. The same generations (demo model, 64x64, 2 steps) through GenerationService in-process,
//     through gRPC over loopback and through HTTP (POST /v1/images/generations, b64_json) over
//     loopback, interleaved, one at a time: the median overhead per request of each protocol
//     (target: <= 5% + 5 ms), and HTTP's against gRPC's (target: <= 5% + 5 ms).
//  2. 64 concurrent clients calling GenerateImage (gRPC), then 64 calling the HTTP route, against
//     an engine-free runner (every launch returns at once): the requests per second each front
//     end (protocol, validation, scheduler, workers) sustains on this machine (target: >= 2000/s
//     on 2 cores for gRPC; HTTP is reported beside it).
// usage: bench_service [--rounds N] [--seconds S] [--clients N]
#include <grpcpp/grpcpp.h>
#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "engine/demo/demo_model.h"
#include "engine/pipeline/model_paths.h"
#include "server/api/grpc_server.h"
#include "server/http/http_server.h"
#include "server/runtime/engine_launch_runner.h"
#include "server/runtime/engine_memory_estimator.h"
#include "server/runtime/generation_service.h"
#include "streamdit/v1/image_generation.grpc.pb.h"

namespace streamdit::server {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

// Every launch "succeeds" at once with a one-byte image per requested image.
class InstantRunner final : public LaunchRunner {
 public:
  LaunchReport Run(const scheduler::Launch& launch, const std::vector<LaunchMember>& members,
                   const std::atomic<bool>& /*stop*/,
                   const LaunchCallbacks& /*callbacks*/) override {
    LaunchReport report;
    report.budget_bytes = launch.budget_bytes;
    for (const LaunchMember& member : members) {
      JobOutput output;
      for (int i = 0; i < member.request.batch_size; ++i) {
        output.png.push_back("x");
        output.seeds.push_back(member.request.seed + i);
      }
      output.width = *member.request.width;
      output.height = *member.request.height;
      report.outputs.push_back(std::move(output));
    }
    return report;
  }
};

ModelSettings DemoModel(const std::string& dir) {
  ModelSettings settings;
  settings.name = "flux1-demo";
  settings.pipeline.paths = engine::FindModelFiles(dir);
  settings.pipeline.t5_max_length = 32;
  settings.pipeline.default_steps = 2;
  settings.pipeline.default_width = 64;
  settings.pipeline.default_height = 64;
  return settings;
}

absl::StatusOr<JobResult> RunInProcess(GenerationService& service, GenerationJob job) {
  std::mutex mu;
  std::condition_variable cv;
  std::optional<absl::StatusOr<JobResult>> outcome;
  JobEvents events;
  events.on_done = [&](absl::StatusOr<JobResult> result) {
    std::lock_guard<std::mutex> lock(mu);
    outcome = std::move(result);
    cv.notify_one();
  };
  absl::StatusOr<scheduler::JobId> id = service.Submit(std::move(job), std::move(events));
  if (!id.ok()) return id.status();
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, [&] { return outcome.has_value(); });
  return std::move(*outcome);
}

struct Server {
  std::unique_ptr<GenerationService> service;
  std::unique_ptr<GrpcServer> grpc;
  std::unique_ptr<HttpServer> http;
  std::unique_ptr<v1::ImageGeneration::Stub> stub;
  std::shared_ptr<grpc::Channel> channel;

  // Ends both front ends (HTTP first: its blocked requests return when their jobs end).
  void Stop() {
    grpc->Drain(service.get(), std::chrono::seconds(10));
    http->Stop();
  }
};

// One OpenAI-style request as the `openai` client sends it.
std::string HttpBody(const std::string& prompt, uint64_t seed) {
  return "{\"prompt\": \"" + prompt + "\", \"seed\": " + std::to_string(seed) +
         ", \"response_format\": \"b64_json\"}";
}

// True for a 200 reply that carries an image.
bool HttpGenerate(httplib::Client& client, const std::string& prompt, uint64_t seed) {
  const httplib::Result result =
      client.Post("/v1/images/generations", HttpBody(prompt, seed), "application/json");
  return result && result->status == 200 && result->body.find("\"b64_json\"") != std::string::npos;
}

Server Start(const ModelRegistry& models, std::unique_ptr<LaunchRunner> runner,
             int max_concurrent_streams) {
  Server server;
  ServiceSettings settings;
  settings.devices = {{"cpu:0", 8ll << 30}};
  settings.scheduler.queue_capacity_per_priority = 100000;
  server.service = std::make_unique<GenerationService>(
      models, settings, std::make_unique<EngineMemoryEstimator>(models), std::move(runner));
  GrpcServerOptions options;
  options.listen = "127.0.0.1:0";
  options.max_concurrent_streams = max_concurrent_streams;
  server.grpc = *GrpcServer::Start(options);
  server.grpc->SetBackend(server.service.get());
  HttpServerOptions http_options;
  http_options.listen = "127.0.0.1:0";
  http_options.threads = max_concurrent_streams;
  server.http = *HttpServer::Start(http_options);
  server.http->SetBackend(server.service.get());
  server.channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(server.grpc->port()),
                                       grpc::InsecureChannelCredentials());
  server.stub = v1::ImageGeneration::NewStub(server.channel);
  return server;
}

struct Throughput {
  int64_t completed = 0;  // in the measured window
  int64_t failed = 0;     // over the whole run
  double seconds = 0;     // the measured window
  double per_second() const { return static_cast<double>(completed) / seconds; }
};

// `clients` threads, each calling the function `make_client()` returned for it with seeds
// 1 + c, 1 + c + clients, ... until stopped; after a warm-up of seconds / 5, the calls that
// succeed within `seconds` are counted.
Throughput MeasureThroughput(int clients, double seconds,
                             const std::function<std::function<bool(uint64_t)>()>& make_client) {
  std::atomic<bool> stop{false};
  std::atomic<int64_t> completed{0}, failed{0};
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c, call = make_client()] {
      for (uint64_t seed = 1 + c; !stop.load(); seed += clients) {
        if (call(seed)) {
          ++completed;
        } else {
          ++failed;
        }
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds / 5));  // warm-up
  const int64_t before = completed.load();
  const Clock::time_point start = Clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  Throughput result;
  result.completed = completed.load() - before;
  result.seconds = Seconds(Clock::now() - start);
  stop = true;
  for (auto& thread : threads) thread.join();
  result.failed = failed.load();
  return result;
}

int Main(int argc, char** argv) {
  int rounds = 7;
  double seconds = 5;
  int clients = 64;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--rounds") rounds = std::atoi(argv[i + 1]);
    if (flag == "--seconds") seconds = std::atof(argv[i + 1]);
    if (flag == "--clients") clients = std::atoi(argv[i + 1]);
  }
  const std::string dir =
      (std::filesystem::temp_directory_path() / "streamdit_bench_service_model").string();
  if (!engine::DemoModelExists(dir)) engine::WriteDemoModel(dir);
  std::unique_ptr<ModelRegistry> models = *ModelRegistry::Load({DemoModel(dir)});

  // 1. Overhead per request, interleaved.
  {
    Server server =
        Start(*models,
              std::make_unique<EngineLaunchRunner>(
                  *models, std::vector<engine::ExecutionTarget>{engine::ExecutionTarget::Cpu()}),
              256);
    std::vector<double> direct_times, grpc_times, http_times;
    httplib::Client http("127.0.0.1", server.http->port());
    http.set_read_timeout(std::chrono::seconds(300));
    for (int round = 0; round <= rounds; ++round) {
      GenerationJob job;
      job.request.prompt = "bench";
      job.request.seed = 1 + round;
      Clock::time_point start = Clock::now();
      if (!RunInProcess(*server.service, job).ok()) return 1;
      const double direct = Seconds(Clock::now() - start);
      v1::GenerateImageRequest request;
      request.set_prompt("bench");
      request.set_seed(1 + round);
      v1::GenerateImageResponse response;
      grpc::ClientContext context;
      start = Clock::now();
      if (!server.stub->GenerateImage(&context, request, &response).ok()) return 1;
      const double remote = Seconds(Clock::now() - start);
      start = Clock::now();
      if (!HttpGenerate(http, "bench", 1 + round)) return 1;
      const double over_http = Seconds(Clock::now() - start);
      if (round == 0) continue;  // warm-up (prompt cache, first-touch)
      direct_times.push_back(direct);
      grpc_times.push_back(remote);
      http_times.push_back(over_http);
    }
    const double direct = Median(direct_times), remote = Median(grpc_times),
                 over_http = Median(http_times);
    auto report = [rounds](const char* what, double base, const char* base_name, double value) {
      std::printf(
          "overhead: %s %.1f ms, %s %.1f ms per request (median of %d), overhead %.2f ms = "
          "%.1f%% (target <= 5%% + 5 ms: %s)\n",
          base_name, base * 1e3, what, value * 1e3, rounds, (value - base) * 1e3,
          100 * (value - base) / base, value - base <= 0.05 * base + 0.005 ? "met" : "NOT met");
    };
    report("gRPC", direct, "in-process", remote);
    report("HTTP", direct, "in-process", over_http);
    report("HTTP", remote, "gRPC", over_http);
    server.Stop();
  }

  // 2. Front-end throughput with an engine-free runner.
  {
    Server server = Start(*models, std::make_unique<InstantRunner>(), clients * 2);
    const Throughput grpc_load = MeasureThroughput(clients, seconds, [&server] {
      auto stub =
          std::shared_ptr<v1::ImageGeneration::Stub>(v1::ImageGeneration::NewStub(server.channel));
      return [stub](uint64_t seed) {
        v1::GenerateImageRequest request;
        request.set_prompt("front end");
        request.set_seed(seed);
        v1::GenerateImageResponse response;
        grpc::ClientContext context;
        return stub->GenerateImage(&context, request, &response).ok();
      };
    });
    std::printf(
        "front end (gRPC): %d clients, %.0f requests/s over %.1f s (%lld failed; target >= "
        "2000/s: %s)\n",
        clients, grpc_load.per_second(), grpc_load.seconds,
        static_cast<long long>(grpc_load.failed),
        grpc_load.per_second() >= 2000 ? "met" : "NOT met");

    // The same load over HTTP, one keep-alive connection per client.
    const Throughput http_load = MeasureThroughput(clients, seconds, [&server] {
      auto client = std::make_shared<httplib::Client>("127.0.0.1", server.http->port());
      client->set_keep_alive(true);
      client->set_tcp_nodelay(true);
      return [client](uint64_t seed) { return HttpGenerate(*client, "front end", seed); };
    });
    std::printf(
        "front end (HTTP): %d clients, %.0f requests/s over %.1f s (%lld failed), %.2fx gRPC's\n",
        clients, http_load.per_second(), http_load.seconds,
        static_cast<long long>(http_load.failed), http_load.per_second() / grpc_load.per_second());
    server.Stop();
  }
  return 0;
}

}  // namespace
}  // namespace streamdit::server

int main(int argc, char** argv) { return streamdit::server::Main(argc, argv); }
