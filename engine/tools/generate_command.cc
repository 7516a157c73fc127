#include "engine/tools/generate_command.h"

#include <ATen/Parallel.h>

#include <atomic>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <map>
#include <stdexcept>

#include "engine/checkpoint/checkpoint_error.h"
#include "engine/demo/demo_model.h"
#include "engine/memory/cpu_memory_meter.h"
#include "engine/pipeline/flux_pipeline.h"
#include "engine/sampling/cancelled.h"
#include "engine/tools/flag_values.h"

namespace streamdit::engine {
namespace {

constexpr char kUsage[] =
    "usage: streamdit generate --local [--prompt TEXT] [--out FILE.png] [--model-dir DIR]\n"
    "                          [--seed N] [--steps N] [--width N] [--height N] [--guidance G]\n"
    "                          [--dtype f32|bf16] [--threads N] [--budget SIZE]\n"
    "                          [--prefetch N] [--storage fp8|bf16]\n"
    "  runs encode -> denoise -> decode in this process and writes a PNG (default out.png).\n"
    "  --budget caps the job's memory (e.g. 2GiB): weights stream through a ring of slots and\n"
    "  the measured peak is printed beside the predicted one (see `streamdit plan`).\n"
    "  --model-dir defaults to the configured demo model, which is created if missing.\n";

std::atomic<bool> interrupted{false};

extern "C" void OnInterrupt(int) { interrupted.store(true); }

torch::ScalarType ParseDtype(const std::string& text) {
  if (text == "f32" || text == "float32") return torch::kFloat;
  if (text == "bf16" || text == "bfloat16") return torch::kBFloat16;
  if (text == "f16" || text == "float16") return torch::kHalf;
  throw std::invalid_argument("--dtype must be f32, bf16 or f16, got '" + text + "'");
}

// Restores the previous SIGINT handler when the command returns.
class InterruptScope {
 public:
  InterruptScope() {
    interrupted.store(false);
    previous_ = std::signal(SIGINT, OnInterrupt);
  }
  ~InterruptScope() { std::signal(SIGINT, previous_); }

 private:
  void (*previous_)(int) = SIG_DFL;
};

ModelPaths ConfiguredPaths(const std::string& directory,
                           const std::map<std::string, std::string>& relative) {
  auto path = [&](const char* role) {
    auto found = relative.find(role);
    if (found == relative.end()) {
      throw std::invalid_argument(std::string("the configured model lacks paths.") + role);
    }
    return (std::filesystem::path(directory) / found->second).string();
  };
  ModelPaths paths;
  paths.transformer = {path("transformer")};
  paths.ae = {path("ae")};
  paths.t5 = {path("t5")};
  paths.clip = {path("clip")};
  paths.t5_tokenizer = path("t5_tokenizer");
  paths.clip_vocab = path("clip_vocab");
  paths.clip_merges = path("clip_merges");
  return paths;
}

}  // namespace

int RunGenerateCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
                       const GenerateCommandDefaults& defaults) {
  static const char* const kValueFlags[] = {
      "--prompt",   "--out",   "--model-dir", "--seed",   "--steps",    "--width",  "--height",
      "--guidance", "--dtype", "--threads",   "--budget", "--prefetch", "--storage"};
  bool local = false;
  std::map<std::string, std::string> flags;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--help" || args[i] == "-h") {
      out << kUsage;
      return 0;
    }
    if (args[i] == "--local") {
      local = true;
      continue;
    }
    bool known = false;
    for (const char* flag : kValueFlags) known = known || args[i] == flag;
    if (!known || i + 1 >= args.size()) {
      err << "generate: " << (known ? "missing value for " : "unexpected argument ") << "'"
          << args[i] << "'\n"
          << kUsage;
      return 2;
    }
    flags[args[i]] = args[i + 1];
    ++i;
  }
  if (!local) {
    err << "generate: only --local (in-process generation) is available in this build\n" << kUsage;
    return 2;
  }

  GenerationRequest request;
  PipelineConfig config;
  JobMemoryOptions memory;
  std::string out_path = flags.count("--out") ? flags["--out"] : "out.png";
  std::string model_dir = defaults.model_dir;
  try {
    request.prompt = flags.count("--prompt") ? flags["--prompt"] : "";
    if (flags.count("--seed")) request.seed = ParseUnsignedFlag("--seed", flags["--seed"]);
    if (flags.count("--steps")) request.steps = ParseIntFlag("--steps", flags["--steps"]);
    if (flags.count("--width")) request.width = ParseIntFlag("--width", flags["--width"]);
    if (flags.count("--height")) request.height = ParseIntFlag("--height", flags["--height"]);
    if (flags.count("--guidance")) {
      request.guidance = ParseDoubleFlag("--guidance", flags["--guidance"]);
    }
    config.compute_dtype = ParseDtype(flags.count("--dtype") ? flags["--dtype"] : defaults.dtype);
    // Default: libtorch's own thread count. Forcing every core is not a win on a shared
    // machine: OpenMP workers spin-waiting for a busy core made a 512x512 run 2.6x slower in
    // bench_pipeline measurements on this 2-core machine under load.
    if (flags.count("--threads")) {
      const int threads = ParseIntFlag("--threads", flags["--threads"]);
      if (threads < 1) throw std::invalid_argument("--threads must be at least 1");
      at::set_num_threads(threads);
    }
    if (!defaults.family.empty()) config.family = ParseFluxFamily(defaults.family);
    if (flags.count("--budget")) memory.budget_bytes = ParseByteSize("--budget", flags["--budget"]);
    if (flags.count("--prefetch")) {
      memory.prefetch_depth = ParseIntFlag("--prefetch", flags["--prefetch"]);
      if (memory.prefetch_depth < 0) throw std::invalid_argument("--prefetch must be >= 0");
    }
    if (flags.count("--storage")) config.weight_storage = ParseWeightStorage(flags["--storage"]);
    ValidateGenerationRequest(request);
  } catch (const std::invalid_argument& error) {
    err << "generate: " << error.what() << "\n";
    return 2;
  }

  try {
    if (flags.count("--model-dir")) {
      model_dir = flags["--model-dir"];
    } else {
      if (model_dir.empty()) {
        err << "generate: no --model-dir and no model folder configured\n";
        return 2;
      }
      // The configured demo model is created on first use.
      if (!DemoModelExists(model_dir)) {
        out << "creating the demo model in " << model_dir << " ...\n";
        WriteDemoModel(model_dir);
      }
      config.default_steps = defaults.steps;
      config.default_width = defaults.width;
      config.default_height = defaults.height;
      config.t5_max_length = defaults.t5_max_length;
    }
    config.paths = !defaults.paths.empty() && !flags.count("--model-dir")
                       ? ConfiguredPaths(model_dir, defaults.paths)
                       : FindModelFiles(model_dir);
    config.model_name =
        !defaults.model_name.empty() && !flags.count("--model-dir")
            ? defaults.model_name
            : std::filesystem::path(config.paths.transformer.front()).stem().string();

    const FluxPipeline pipeline = FluxPipeline::Load(config);
    InterruptScope interrupt_scope;
    GenerationCallbacks callbacks;
    callbacks.on_step = [&](const GenerationProgress& progress) {
      out << "step " << progress.step << "/" << progress.num_steps << "  " << std::fixed
          << std::setprecision(3) << progress.step_seconds << " s" << std::defaultfloat << "\n"
          << std::flush;
    };
    callbacks.on_phase = [&](PipelinePhase phase, double seconds) {
      out << PipelinePhaseName(phase) << ": " << std::fixed << std::setprecision(3) << seconds
          << " s" << std::defaultfloat << "\n"
          << std::flush;
    };
    callbacks.on_warning = [&](const std::string& warning) {
      err << "generate: warning: " << warning << "\n";
    };
    callbacks.cancelled = [] { return interrupted.load(); };
    if (memory.budget_bytes) CpuMemoryMeter::Install();  // to report the measured peak
    const GenerationResult result = pipeline.Generate(request, callbacks, memory);

    const std::filesystem::path out_file(out_path);
    if (out_file.has_parent_path()) std::filesystem::create_directories(out_file.parent_path());
    std::ofstream file(out_path, std::ios::binary | std::ios::trunc);
    file.write(result.png.front().data(), static_cast<std::streamsize>(result.png.front().size()));
    if (!file.flush()) {
      err << "generate: cannot write " << out_path << "\n";
      return 1;
    }
    out << "total: " << std::fixed << std::setprecision(3) << result.timings.total_seconds << " s"
        << std::defaultfloat << (result.timings.prompt_cache_hit ? " (prompt cached)" : "") << "\n"
        << "wrote " << out_path << " (" << result.request.width << "x" << result.request.height
        << ", " << result.request.steps << " steps, seed " << result.request.seed << ", model "
        << config.model_name << ")\n";
    if (result.memory.plan) {
      const JobMemoryPlan& plan = *result.memory.plan;
      out << "memory: budget " << FormatBytes(plan.budget_bytes) << ", predicted peak "
          << FormatBytes(plan.predicted_peak_bytes());
      if (result.memory.measured)
        out << ", measured peak " << FormatBytes(result.memory.measured_peak());
      out << ", streamed " << FormatBytes(result.memory.streamed_bytes) << " (waited " << std::fixed
          << std::setprecision(3) << result.memory.stall_seconds << " s)" << std::defaultfloat
          << "\n";
    }
    return 0;
  } catch (const Cancelled& cancelled) {
    err << "generate: interrupted (" << cancelled.what() << ")\n";
    return 130;
  } catch (const std::invalid_argument& error) {
    err << "generate: " << error.what() << "\n";
    return 2;
  } catch (const std::exception& error) {
    err << "generate: " << error.what() << "\n";
    return 1;
  }
}

}  // namespace streamdit::engine
