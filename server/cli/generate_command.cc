#include "server/cli/generate_command.h"

#include <ATen/Parallel.h>

#include <filesystem>
#include <fstream>
#include <iomanip>
#include <map>
#include <memory>
#include <optional>

#include "engine/demo/demo_model.h"
#include "engine/memory/cpu_memory_meter.h"
#include "engine/pipeline/flux_pipeline.h"
#include "engine/status/status_error.h"
#include "server/cli/flag_values.h"
#include "server/cli/generate_defaults.h"
#include "server/cli/interrupt.h"

namespace streamdit::server::cli {
namespace {

struct GenerateOptions {
  bool local = false;
  std::string prompt;
  std::string out = "out.png";
  std::string model_dir;
  std::optional<uint64_t> seed;
  std::optional<int> steps, width, height, batch;
  std::optional<double> guidance;
  torch::ScalarType dtype = torch::kFloat;
  CLI::Option* dtype_option = nullptr;
  std::optional<int> threads;
  int64_t budget_bytes = 0;
  CLI::Option* budget_option = nullptr;
  std::optional<int> prefetch;
  std::string storage;
};

engine::ModelPaths ConfiguredPaths(const std::string& directory,
                                   const std::map<std::string, std::string>& relative) {
  auto path = [&](const char* role) {
    auto found = relative.find(role);
    if (found == relative.end()) {
      throw engine::InvalidArgument(std::string("the configured model lacks paths.") + role);
    }
    return (std::filesystem::path(directory) / found->second).string();
  };
  engine::ModelPaths paths;
  paths.transformer = {path("transformer")};
  paths.ae = {path("ae")};
  paths.t5 = {path("t5")};
  paths.clip = {path("clip")};
  paths.t5_tokenizer = path("t5_tokenizer");
  paths.clip_vocab = path("clip_vocab");
  paths.clip_merges = path("clip_merges");
  return paths;
}

// out.png for one image; out-0.png, out-1.png, ... for a batch.
std::string ImagePath(const std::string& out, int index, int count) {
  if (count == 1) return out;
  const std::filesystem::path path(out);
  return (path.parent_path() /
          (path.stem().string() + "-" + std::to_string(index) + path.extension().string()))
      .string();
}

void WriteFile(const std::string& path, const std::string& bytes) {
  const std::filesystem::path file(path);
  if (file.has_parent_path()) std::filesystem::create_directories(file.parent_path());
  std::ofstream stream(path, std::ios::binary | std::ios::trunc);
  stream.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!stream.flush()) throw engine::Internal("cannot write " + path);
}

void RunGenerate(const GenerateOptions& o, const GlobalOptions& global, std::ostream& out,
                 std::ostream& err) {
  const GenerateDefaults defaults = ReadGenerateDefaults(global.config_path, global.config_given);
  engine::GenerationRequest request;
  request.prompt = o.prompt;
  if (o.seed) request.seed = *o.seed;
  request.steps = o.steps;
  request.width = o.width;
  request.height = o.height;
  request.guidance = o.guidance;
  if (o.batch) request.batch_size = *o.batch;
  engine::ValidateGenerationRequest(request);

  engine::PipelineConfig config;
  config.compute_dtype = o.dtype_option->count() ? o.dtype : ParseDtype("dtype", defaults.dtype);
  // Default: libtorch's own thread count. Forcing every core is not a win on a shared machine:
  // OpenMP workers spin-waiting for a busy core made a 512x512 run 2.6x slower in bench_pipeline
  // measurements on a 2-core machine under load.
  if (o.threads) at::set_num_threads(*o.threads);
  if (!defaults.family.empty()) config.family = engine::ParseFluxFamily(defaults.family);
  engine::JobMemoryOptions memory;
  if (o.budget_option->count()) memory.budget_bytes = o.budget_bytes;
  if (o.prefetch) memory.prefetch_depth = *o.prefetch;
  if (!o.storage.empty()) config.weight_storage = engine::ParseWeightStorage(o.storage);

  const bool configured_model = o.model_dir.empty();
  std::string model_dir = o.model_dir;
  if (configured_model) {
    model_dir = defaults.model_dir;
    if (model_dir.empty()) {
      throw engine::InvalidArgument("no --model-dir and no model folder configured");
    }
    // The configured demo model is created on first use.
    if (!engine::DemoModelExists(model_dir)) {
      out << "creating the demo model in " << model_dir << " ...\n";
      engine::WriteDemoModel(model_dir);
    }
    config.default_steps = defaults.steps;
    config.default_width = defaults.width;
    config.default_height = defaults.height;
    config.t5_max_length = defaults.t5_max_length;
  }
  config.paths = configured_model && !defaults.paths.empty()
                     ? ConfiguredPaths(model_dir, defaults.paths)
                     : engine::FindModelFiles(model_dir);
  config.model_name = configured_model && !defaults.model_name.empty()
                          ? defaults.model_name
                          : std::filesystem::path(config.paths.transformer.front()).stem().string();

  const engine::FluxPipeline pipeline = engine::FluxPipeline::Load(config);
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
  const engine::GenerationResult result = pipeline.Generate(request, callbacks, memory);

  out << "total: " << std::fixed << std::setprecision(3) << result.timings.total_seconds << " s"
      << std::defaultfloat << (result.timings.prompt_cache_hit ? " (prompt cached)" : "") << "\n";
  // Image i was drawn from seed + i (engine/pipeline/generation_request.h), wrapping at 2^64.
  const int count = static_cast<int>(result.png.size());
  for (int i = 0; i < count; ++i) {
    const std::string path = ImagePath(o.out, i, count);
    WriteFile(path, result.png[i]);
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

}  // namespace

void AddGenerateCommand(CLI::App& app, CommandTable& table, const GlobalOptions& global) {
  auto options = std::make_shared<GenerateOptions>();
  GenerateOptions& o = *options;
  CLI::App* command = app.add_subcommand(
      "generate",
      "Text to PNG. Runs encode -> denoise -> decode in this process (--local, the default\n"
      "until the gRPC client arrives) and prints one line per step. --model-dir defaults to\n"
      "the configured demo model, which is created if missing.");
  command->add_flag("--local", o.local, "Generate in this process (the default)");
  command->add_option("--prompt", o.prompt, "The text");
  command->add_option("--out", o.out, "Output PNG; a batch writes STEM-0.EXT, STEM-1.EXT, ...")
      ->capture_default_str();
  command->add_option("--model-dir", o.model_dir, "Model folder (default: the configured model)")
      ->type_name("DIR");
  command->add_option("--seed", o.seed, "Seed of the first image; image i has seed + i")
      ->check(Unsigned());
  command->add_option("--steps", o.steps, "Denoising steps (default: the model's)");
  command->add_option("--width", o.width, "Pixels, a multiple of 16 in [64, 2048]");
  command->add_option("--height", o.height, "Pixels, a multiple of 16 in [64, 2048]");
  command->add_option("--guidance", o.guidance, "Distilled guidance (dev models)");
  command->add_option("--batch", o.batch, "Images of this request (seeds seed, seed+1, ...)")
      ->check(AtLeast(1));
  o.dtype_option =
      AddDtypeOption(*command, "--dtype", &o.dtype, "Compute dtype (default: the config's)");
  command->add_option("--threads", o.threads, "libtorch threads (default: libtorch's)")
      ->check(AtLeast(1));
  o.budget_option = AddByteSizeOption(
      *command, "--budget", &o.budget_bytes,
      "Memory budget of the job (e.g. 2GiB): weights stream through a ring of slots and the\n"
      "measured peak is printed beside the predicted one (see `streamdit plan`)");
  command->add_option("--prefetch", o.prefetch, "Streaming prefetch depth")->check(AtLeast(0));
  command->add_option("--storage", o.storage, "Host weight storage: fp8 or bf16")
      ->type_name("fp8|bf16");
  table.Add("generate", command, [options, &global](std::ostream& out, std::ostream& err) {
    RunGenerate(*options, global, out, err);
  });
}

}  // namespace streamdit::server::cli
