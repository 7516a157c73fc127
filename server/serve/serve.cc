#include "server/serve/serve.h"

#include <spdlog/spdlog.h>

#include <csignal>
#include <filesystem>
#include <thread>

#include "engine/demo/demo_model.h"
#include "engine/device/cuda_devices.h"
#include "engine/pipeline/job_memory_plan.h"
#include "engine/pipeline/model_paths.h"
#include "engine/status/exception_status.h"
#include "server/http/http_server.h"
#include "server/metrics/metrics_exposer.h"
#include "server/metrics/service_metrics.h"
#include "server/runtime/engine_launch_runner.h"
#include "server/runtime/engine_memory_estimator.h"
#include "server/runtime/execution_targets.h"
#include "server/serve/cuda_device_settings.h"

namespace streamdit::server {
namespace {

std::atomic<bool> stop_signal{false};

extern "C" void OnStopSignal(int /*signal*/) { stop_signal.store(true); }
// SIGHUP rescans the LoRA folders (from the serving loop, not the handler).
std::atomic<bool> reload_signal{false};
extern "C" void OnReloadSignal(int /*signal*/) { reload_signal.store(true); }

void LogLoraScan(const LoraScanReport& report) {
  spdlog::info("LoRAs: {} known ({} added, {} removed, {} read again)", report.loras, report.added,
               report.removed, report.reloaded);
  for (const std::string& error : report.errors) spdlog::warn("{}", error);
}

spdlog::level::level_enum SpdlogLevel(LogLevel level) {
  switch (level) {
    case LogLevel::kTrace:
      return spdlog::level::trace;
    case LogLevel::kDebug:
      return spdlog::level::debug;
    case LogLevel::kInfo:
      return spdlog::level::info;
    case LogLevel::kWarn:
      return spdlog::level::warn;
    case LogLevel::kError:
      return spdlog::level::err;
  }
  return spdlog::level::info;
}

}  // namespace

absl::StatusOr<ApiKeys> LoadApiKeys(const AuthSpec& auth, const EnvironmentLookup& environment) {
  if (!auth.api_keys_file.empty()) return ApiKeys::FromFile(auth.api_keys_file);
  if (auth.api_keys_env.empty()) return ApiKeys();
  const std::optional<std::string> value = environment(auth.api_keys_env.c_str());
  if (!value || value->empty()) {
    return absl::FailedPreconditionError("auth.api_keys_env: the environment variable " +
                                         auth.api_keys_env + " is not set");
  }
  return ApiKeys::Parse(*value, "environment variable " + auth.api_keys_env);
}

absl::StatusOr<std::vector<ModelSettings>> ModelSettingsFromConfig(const ServerConfig& config) {
  std::vector<ModelSettings> models;
  // Plans are sized by the allocator of the devices the jobs run on (CUDA rounds every tensor up).
  bool any_cuda = false;
  for (const DeviceConfigSpec& device : config.devices)
    any_cuda |= device.kind == DeviceKind::kCuda;
  const torch::Device planning_device =
      any_cuda ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
  // The default model first: the registry serves its first model to requests that name none.
  std::vector<const ModelSpec*> ordered;
  for (const ModelSpec& spec : config.models) {
    if (spec.name == config.default_model)
      ordered.insert(ordered.begin(), &spec);
    else
      ordered.push_back(&spec);
  }
  for (const ModelSpec* spec : ordered) {
    ModelSettings settings;
    settings.name = spec->name;
    settings.planning_device = planning_device;
    settings.pipeline.pin_host_tier = any_cuda;
    engine::PipelineConfig& pipeline = settings.pipeline;
    const absl::Status described = engine::StatusOfCall([&] {
      if (spec->create_demo && !engine::DemoModelExists(spec->dir)) {
        spdlog::info("creating the demo model in {}", spec->dir);
        engine::WriteDemoModel(spec->dir);
      }
      engine::ModelPaths found;
      const ModelPathsSpec& paths = spec->paths;
      const bool all_given = !paths.transformer.empty() && !paths.ae.empty() && !paths.t5.empty() &&
                             !paths.clip.empty() && !paths.t5_tokenizer.empty() &&
                             !paths.clip_vocab.empty() && !paths.clip_merges.empty();
      if (!all_given) found = engine::FindModelFiles(spec->dir);
      auto pick = [](const auto& given, const auto& fallback) {
        return given.empty() ? fallback : given;
      };
      pipeline.paths.transformer = pick(paths.transformer, found.transformer);
      pipeline.paths.ae = pick(paths.ae, found.ae);
      pipeline.paths.t5 = pick(paths.t5, found.t5);
      pipeline.paths.clip = pick(paths.clip, found.clip);
      pipeline.paths.t5_tokenizer = pick(paths.t5_tokenizer, found.t5_tokenizer);
      pipeline.paths.clip_vocab = pick(paths.clip_vocab, found.clip_vocab);
      pipeline.paths.clip_merges = pick(paths.clip_merges, found.clip_merges);
      pipeline.paths.settings = found.settings;  // a diffusers folder's configuration
    });
    if (!described.ok()) {
      return absl::Status(described.code(),
                          "model '" + spec->name + "': " + std::string(described.message()));
    }
    if (spec->family) {
      pipeline.family = *spec->family == ModelFamily::kDev ? engine::FluxFamily::kDev
                                                           : engine::FluxFamily::kSchnell;
    }
    pipeline.default_steps = spec->defaults.steps;
    pipeline.default_width = spec->defaults.width;
    pipeline.default_height = spec->defaults.height;
    pipeline.t5_max_length = spec->defaults.t5_max_length;
    pipeline.compute_dtype =
        spec->compute_dtype == ComputeDtype::kBf16 ? torch::kBFloat16 : torch::kFloat;
    pipeline.weight_storage = spec->storage == HostStorage::kFp8 ? engine::WeightStorage::kFp8
                                                                 : engine::WeightStorage::kAsStored;
    pipeline.resident_format = spec->resident_format == ResidentCopy::kCompute
                                   ? engine::ResidentFormat::kCompute
                                   : engine::ResidentFormat::kStored;
    models.push_back(std::move(settings));
  }
  return models;
}

absl::StatusOr<ServiceSettings> ServiceSettingsFromConfig(const ServerConfig& config) {
  ServiceSettings settings;
  for (const DeviceConfigSpec& device : config.devices) {
    if (device.kind == DeviceKind::kCuda) {
      // What the driver says first: a configuration naming a device this machine does not have,
      // or more memory than its card has free, is a bad configuration for it (exit 2).
      absl::StatusOr<std::vector<DeviceSettings>> cuda =
          CudaDevicesSettings(device, engine::DiscoverCudaDevices());
      if (!cuda.ok()) return cuda.status();
      for (DeviceSettings& found : *cuda) {
        for (const DeviceSettings& listed : settings.devices) {
          if (listed.name == found.name) {
            return absl::InvalidArgumentError("devices: " + found.name +
                                              " is listed twice (once through cuda:all)");
          }
        }
        settings.devices.push_back(std::move(found));
      }
      continue;
    }
    absl::StatusOr<int64_t> budget = device.EffectiveBudget(0);
    if (!budget.ok()) return budget.status();
    DeviceSettings settings_device{device.name, *budget};
    if (device.lora_cache_bytes) settings_device.lora_cache_bytes = *device.lora_cache_bytes;
    settings.devices.push_back(std::move(settings_device));
  }
  scheduler::SchedulerConfig& scheduler = settings.scheduler;
  scheduler.queue_capacity_per_priority = static_cast<std::size_t>(config.scheduler.queue_capacity);
  scheduler.max_batch_images = config.scheduler.max_batch_images;
  scheduler.aging_step = config.scheduler.aging;
  scheduler.head_reservation_after = config.scheduler.head_reservation_after;
  scheduler.max_oom_retries = config.scheduler.max_oom_retries;
  scheduler.max_failure_retries = config.scheduler.max_failure_retries;
  RequestLimits& limits = settings.limits;
  limits.min_size = config.limits.min_size;
  limits.max_size = config.limits.max_size;
  limits.max_pixels = config.limits.max_pixels;
  limits.max_steps = config.limits.max_steps;
  limits.max_prompt_bytes = static_cast<std::size_t>(config.limits.max_prompt_bytes);
  limits.max_images_per_request = config.limits.max_images_per_request;
  return settings;
}

GrpcServerOptions GrpcOptionsFromConfig(const ServerConfig& config) {
  GrpcServerOptions options;
  options.listen = config.listen;
  options.max_message_bytes = config.limits.max_message_bytes;
  options.max_concurrent_streams = config.limits.max_concurrent_streams;
  if (config.tls) options.tls = TlsFiles{config.tls->cert, config.tls->key, config.tls->client_ca};
  return options;
}

absl::Status Serve(const ServerConfig& config, const ServeHooks& hooks) {
  spdlog::set_level(SpdlogLevel(config.log_level));
  absl::StatusOr<ServiceSettings> settings = ServiceSettingsFromConfig(config);
  if (!settings.ok()) return settings.status();

  stop_signal.store(false);
  std::signal(SIGTERM, OnStopSignal);
  std::signal(SIGINT, OnStopSignal);
  const std::function<bool()> stop_requested =
      hooks.stop_requested ? hooks.stop_requested : [] { return stop_signal.load(); };

  // Metrics first: the exposer answers scrapes while the models load, and the RPC counter must
  // outlive the gRPC server.
  auto registry = std::make_shared<prometheus::Registry>();
  std::vector<std::string> device_names;
  std::vector<int64_t> budgets;
  for (const DeviceSettings& device : settings->devices) {
    device_names.push_back(device.name);
    budgets.push_back(device.budget_bytes);
  }
  std::vector<std::string> model_names;
  for (const ModelSpec& model : config.models) model_names.push_back(model.name);
  ServiceMetrics metrics(*registry, device_names, budgets, model_names);
  std::unique_ptr<MetricsExposer> exposer;
  if (config.metrics_listen) {
    absl::StatusOr<std::unique_ptr<MetricsExposer>> started =
        MetricsExposer::Start(*config.metrics_listen, registry);
    if (!started.ok()) return started.status();
    exposer = *std::move(started);
    spdlog::info("metrics on http://{}/metrics (port {})", *config.metrics_listen, exposer->port());
  }

  absl::StatusOr<ApiKeys> api_keys = LoadApiKeys(config.auth, ProcessEnvironment());
  if (!api_keys.ok()) return api_keys.status();
  if (api_keys->enabled()) {
    spdlog::info("API keys: {} accepted ({}); health, readiness and metrics stay open",
                 api_keys->size(),
                 config.auth.api_keys_file.empty() ? "variable " + config.auth.api_keys_env
                                                   : "file " + config.auth.api_keys_file);
  }

  GrpcServerOptions grpc_options = GrpcOptionsFromConfig(config);
  grpc_options.request_observer = &metrics;
  grpc_options.api_keys = &*api_keys;
  absl::StatusOr<std::unique_ptr<GrpcServer>> server = GrpcServer::Start(grpc_options);
  if (!server.ok()) return server.status();
  spdlog::info("listening on {} (port {}){}; loading {} model(s)", config.listen, (*server)->port(),
               config.tls ? " with TLS" : "", config.models.size());
  std::unique_ptr<HttpServer> http;
  if (config.http) {
    HttpServerOptions http_options;
    http_options.listen = config.http->listen;
    http_options.max_body_bytes = config.http->max_body_bytes;
    http_options.api_keys = &*api_keys;
    http_options.request_observer = &metrics;
    absl::StatusOr<std::unique_ptr<HttpServer>> started = HttpServer::Start(http_options);
    if (!started.ok()) return started.status();
    http = *std::move(started);
    spdlog::info("HTTP (OpenAI images API) on http://{} (port {})", config.http->listen,
                 http->port());
  }

  absl::StatusOr<std::vector<ModelSettings>> model_settings = ModelSettingsFromConfig(config);
  if (!model_settings.ok()) return model_settings.status();
  absl::StatusOr<std::unique_ptr<ModelRegistry>> models =
      ModelRegistry::Load(*std::move(model_settings), config.lora_dirs);
  if (!models.ok()) return models.status();
  for (const std::string& directory : config.lora_dirs) {
    if (!std::filesystem::is_directory(directory)) {
      return absl::FailedPreconditionError("lora_dirs: " + directory + " is not a folder");
    }
  }
  if (!config.lora_dirs.empty()) LogLoraScan((*models)->loras().Rescan());
  for (const auto& model : (*models)->models()) {
    spdlog::info(
        "model {}: {:.1f} MiB of weights resident ({} format; {:.1f} MiB decoded at once), minimum "
        "budget {:.1f} MiB, {:.1f} MiB of host memory page-locked for streaming",
        model->name, model->weight_bytes / 1048576.0,
        engine::ResidentFormatName(model->pipeline->config().resident_format),
        model->decode_bytes / 1048576.0, model->min_budget_bytes / 1048576.0,
        model->pipeline->pinned_host_bytes() / 1048576.0);
  }
  for (const DeviceSettings& device : settings->devices) {
    spdlog::info("device {}: budget {:.1f} MiB", device.name, device.budget_bytes / 1048576.0);
  }

  absl::StatusOr<std::vector<engine::ExecutionTarget>> targets =
      ExecutionTargetsOf(settings->devices);
  if (!targets.ok()) return targets.status();
  GenerationService service(**models, *settings, std::make_unique<EngineMemoryEstimator>(**models),
                            std::make_unique<EngineLaunchRunner>(**models, *std::move(targets)),
                            ServiceObservers{&metrics, &metrics});
  (*server)->SetBackend(&service);
  if (http) http->SetBackend(&service);
  spdlog::info("serving");
  if (hooks.on_serving) hooks.on_serving({(*server)->port(), http ? http->port() : 0});

  reload_signal.store(false);
  std::signal(SIGHUP, OnReloadSignal);
  while (!stop_requested()) {
    if (reload_signal.exchange(false)) LogLoraScan((*models)->loras().Rescan());
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }

  spdlog::info("draining (grace period {} ms)", config.grace_period.count());
  metrics.SetDraining(true);
  if (http) http->SetServing(false);  // load balancers stop sending; requests in flight finish
  const int cancelled = (*server)->Drain(&service, config.grace_period);
  if (cancelled > 0) {
    spdlog::warn("grace period over: {} job(s) cancelled", cancelled);
  }
  // Every job has ended: the HTTP requests waiting on them have their answers.
  if (http) {
    http->Stop();
    http->SetBackend(nullptr);
  }
  (*server)->SetBackend(nullptr);
  spdlog::info("stopped");
  return absl::OkStatus();
}

}  // namespace streamdit::server
