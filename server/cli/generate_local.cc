#include "server/cli/generate_local.h"

#include <ATen/Parallel.h>

#include <filesystem>
#include <iomanip>
#include <system_error>

#include "engine/device/cuda_devices.h"
#include "engine/device/device_name.h"
#include "engine/memory/cpu_memory_meter.h"
#include "engine/pipeline/flux_pipeline.h"
#include "engine/status/status_error.h"
#include "server/cli/image_files.h"
#include "server/cli/interrupt.h"
#include "server/cli/lora_files.h"
#if STREAMDIT_CLI_SERVICE
#include "server/cli/service/configured_model.h"
#endif

namespace streamdit::server::cli {
namespace {

// The pipeline's configuration before the flags: a configured model, or a folder alone.
engine::PipelineConfig BaseConfig(const GenerateOptions& o, const GlobalOptions& global,
                                  std::ostream& out) {
  const bool folder_alone = !o.model_dir.empty() && o.model.empty();
  if (folder_alone) {
    engine::PipelineConfig config;
    config.paths = engine::FindModelFiles(o.model_dir);
    // The transformer file's name (flux1-dev), or a diffusers folder's own (its shards are named
    // diffusion_pytorch_model-00001-of-00003).
    const std::filesystem::path transformer =
        std::filesystem::absolute(config.paths.transformer.front()).lexically_normal();
    config.model_name = transformer.parent_path().filename() == "transformer"
                            ? transformer.parent_path().parent_path().filename().string()
                            : transformer.stem().string();
    return config;
  }
  std::error_code error;
  if (!global.config_given && !std::filesystem::is_regular_file(global.config_path, error)) {
    if (!o.model.empty()) {
      throw engine::NotFound("--model " + o.model + ": no configuration at " + global.config_path);
    }
    throw engine::InvalidArgument("no --model-dir and no configuration at " + global.config_path);
  }
#if STREAMDIT_CLI_SERVICE
  return ConfiguredPipeline(global.config_path, o.model, o.model_dir, out);
#else
  (void)out;
  throw engine::FailedPrecondition(
      "this build has no server libraries to read the configuration; pass --model-dir");
#endif
}

// "cpu" or "cuda:N" (engine::ParseExecutionTarget); a CUDA device must exist (named with the
// runtime's reason otherwise).
engine::ExecutionTarget ParseDeviceFlag(const std::string& device) {
  const absl::StatusOr<engine::ExecutionTarget> target = engine::ParseExecutionTarget(device);
  if (!target.ok())
    throw engine::InvalidArgument("--device: " + std::string(target.status().message()));
  if (!target->is_cuda()) return *target;
  const absl::StatusOr<std::vector<engine::CudaDeviceInfo>> cuda = engine::DiscoverCudaDevices();
  if (!cuda.ok()) {
    throw engine::StatusError(absl::FailedPreconditionError(
        "--device " + device +
        ": this machine has no CUDA device: " + std::string(cuda.status().message())));
  }
  if (target->device.index() >= static_cast<int>(cuda->size())) {
    throw engine::InvalidArgument("--device " + device + ": only " + std::to_string(cuda->size()) +
                                  " CUDA device(s) are visible");
  }
  return *target;
}

}  // namespace

void RunLocalGenerate(const GenerateOptions& o, const GlobalOptions& global, std::ostream& out,
                      std::ostream& err) {
  engine::GenerationRequest request;
  request.prompt = o.prompt;
  if (o.seed) request.seed = *o.seed;
  request.steps = o.steps;
  request.width = o.width;
  request.height = o.height;
  request.guidance = o.guidance;
  if (o.batch) request.batch_size = *o.batch;
  engine::ValidateGenerationRequest(request);

  engine::PipelineConfig config = BaseConfig(o, global, out);
  if (o.dtype_option->count()) config.compute_dtype = o.dtype;
  // Default: libtorch's own thread count. Forcing every core is not a win on a shared machine:
  // OpenMP workers spin-waiting for a busy core made a 512x512 run 2.6x slower in bench_pipeline
  // measurements on a 2-core machine under load.
  if (o.threads) at::set_num_threads(*o.threads);
  engine::JobMemoryOptions memory;
  if (o.budget_option->count()) memory.budget_bytes = o.budget_bytes;
  if (o.prefetch) memory.prefetch_depth = *o.prefetch;
  if (!o.storage.empty()) config.weight_storage = engine::ParseWeightStorage(o.storage);

  const engine::ExecutionTarget target = ParseDeviceFlag(o.device);
  const engine::FluxPipeline pipeline = engine::FluxPipeline::Load(config);
  request.loras = LoadLoraFiles(o.loras, pipeline.models());
  if (!request.loras.empty()) engine::ValidateGenerationRequest(request);
  InterruptScope interrupt_scope;
  engine::GenerationCallbacks callbacks;
  callbacks.on_step = [&](const engine::GenerationProgress& progress) {
    out << "step " << progress.step << "/" << progress.num_steps << "  " << std::fixed
        << std::setprecision(3) << progress.step_seconds << " s" << std::defaultfloat << "\n"
        << std::flush;
  };
  callbacks.on_phase = [&](engine::PipelinePhase phase, double seconds) {
    out << engine::PipelinePhaseName(phase) << ": " << std::fixed << std::setprecision(3) << seconds
        << " s" << std::defaultfloat << "\n"
        << std::flush;
  };
  callbacks.on_warning = [&](const std::string& warning) {
    err << "generate: warning: " << warning << "\n";
  };
  callbacks.cancelled = [] { return InterruptRequested(); };
  if (memory.budget_bytes) engine::CpuMemoryMeter::Install();  // to report the measured peak
  const engine::GenerationResult result = pipeline.Generate(request, target, callbacks, memory);

  out << "total: " << std::fixed << std::setprecision(3) << result.timings.total_seconds << " s"
      << std::defaultfloat << (result.timings.prompt_cache_hit ? " (prompt cached)" : "") << "\n";
  // Image i was drawn from seed + i (engine/pipeline/generation_request.h), wrapping at 2^64.
  const int count = static_cast<int>(result.png.size());
  for (int i = 0; i < count; ++i) {
    const std::string path = ImagePath(o.out, i, count);
    WriteImageFile(path, result.png[i]);
    out << "wrote " << path << " (" << result.request.width << "x" << result.request.height << ", "
        << result.request.steps << " steps, seed " << result.request.seed + uint64_t(i)
        << ", model " << config.model_name << ")\n";
  }
  if (result.memory.plan) {
    const engine::JobMemoryPlan& plan = *result.memory.plan;
    out << "memory: budget " << engine::FormatBytes(plan.budget_bytes) << ", predicted peak "
        << engine::FormatBytes(plan.predicted_peak_bytes());
    if (result.memory.measured) {
      out << ", measured peak " << engine::FormatBytes(result.memory.measured_peak());
    }
    out << ", streamed " << engine::FormatBytes(result.memory.streamed_bytes) << " (waited "
        << std::fixed << std::setprecision(3) << result.memory.stall_seconds << " s)"
        << std::defaultfloat << "\n";
  }
}

}  // namespace streamdit::server::cli
