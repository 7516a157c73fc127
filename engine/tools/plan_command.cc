#include "engine/tools/plan_command.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <iomanip>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>

#include "engine/checkpoint/checkpoint_error.h"
#include "engine/flux/flux_transformer.h"
#include "engine/pipeline/job_memory_plan.h"
#include "engine/pipeline/model_paths.h"
#include "engine/sampling/flux_defaults.h"
#include "engine/streaming/host_storage.h"
#include "engine/text/clip_text_encoder.h"
#include "engine/text/t5_encoder.h"
#include "engine/tools/flag_values.h"
#include "engine/vae/vae_decoder.h"

namespace streamdit::engine {
namespace {

double PositiveFlag(const std::string& flag, const std::string& text) {
  const double value = ParseDoubleFlag(flag, text);
  if (!(value > 0)) throw std::invalid_argument(flag + " must be positive, got '" + text + "'");
  return value;
}

constexpr char kUsage[] =
    "usage: streamdit plan --model PATH --budget SIZE [--width N] [--height N] [--steps N]\n"
    "                      [--batch N] [--storage fp8|bf16] [--dtype bf16|f32] [--prefetch N]\n"
    "                      [--t5-tokens N] [--bandwidth GB/s] [--tflops T]\n"
    "  PATH: a model folder (every phase is planned) or a transformer .safetensors file (the\n"
    "  denoising phase only). SIZE: 24GiB, 16G, 500MB, bytes. --storage fp8 holds the\n"
    "  transformer's matmul weights as fp8 e4m3 in host RAM (half the bytes to move).\n"
    "  --bandwidth and --tflops default to what this machine measures (host memcpy, f32 matmul);\n"
    "  give your GPU's (e.g. --bandwidth 25 --tflops 400 for PCIe 4 and an H100 in bf16).\n";

// The planned models: either loaded zero-copy from their files, or (fp8 storage) the transformer
// with its eligible tensors replaced by shape-only fp8 stand-ins, so that sizes are exact and no
// weight byte is read.
struct PlannedModels {
  std::unique_ptr<FluxTransformer> transformer;
  std::unique_ptr<T5Encoder> t5;
  std::unique_ptr<ClipTextEncoder> clip;
  std::unique_ptr<VaeDecoder> vae;
  std::string description;

  JobModels models() const { return JobModels{transformer.get(), t5.get(), clip.get(), vae.get()}; }
};

void HoldAsFp8ForPlanning(FluxWeights& weights) {
  for (WeightBlock* block : Fp8EligibleBlocks(weights)) {
    for (auto& [name, tensor] : block->tensors) {
      if (!StoredAsFp8(name, tensor)) continue;
      StoredTensor shape_only;
      shape_only.data = torch::empty(
          tensor.data.sizes(), torch::TensorOptions().dtype(torch::kByte).device(torch::kMeta));
      shape_only.dtype = DType::kF8E4M3;
      tensor = shape_only;
    }
  }
}

PlannedModels LoadModels(const std::string& path) {
  PlannedModels loaded;
  std::error_code error;
  if (std::filesystem::is_directory(path, error)) {
    const ModelPaths paths = FindModelFiles(path);
    loaded.transformer = std::make_unique<FluxTransformer>(
        FluxTransformer::Load(Checkpoint::Open(paths.transformer)));
    loaded.t5 = std::make_unique<T5Encoder>(T5Encoder::Load(Checkpoint::Open(paths.t5)));
    loaded.clip =
        std::make_unique<ClipTextEncoder>(ClipTextEncoder::Load(Checkpoint::Open(paths.clip)));
    loaded.vae = std::make_unique<VaeDecoder>(VaeDecoder::Load(Checkpoint::Open(paths.ae)));
    loaded.description = path + " (transformer, T5, CLIP, VAE)";
  } else {
    loaded.transformer =
        std::make_unique<FluxTransformer>(FluxTransformer::Load(Checkpoint::Open({path})));
    loaded.description = path + " (transformer only: the denoising phase is planned)";
  }
  return loaded;
}

// Host memcpy bandwidth in bytes/s (a stand-in for the host-to-device link on CPU builds).
double MeasureBandwidth() {
  const std::size_t bytes = std::size_t{256} << 20;
  std::vector<char> from(bytes, 1), to(bytes);
  double best = 0;
  for (int i = 0; i < 3; ++i) {
    const auto start = std::chrono::steady_clock::now();
    std::memcpy(to.data(), from.data(), bytes);
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    best = std::max(best, double(bytes) / s);
  }
  return best;
}

// float32 matmul rate in FLOP/s with libtorch's threads.
double MeasureComputeRate() {
  const int64_t n = 1024;
  const torch::Tensor a = torch::randn({n, n}), b = torch::randn({n, n});
  at::matmul(a, b);  // warm-up
  double best = 0;
  for (int i = 0; i < 3; ++i) {
    const auto start = std::chrono::steady_clock::now();
    at::matmul(a, b);
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    best = std::max(best, 2.0 * n * n * n / s);
  }
  return best;
}

// Floating-point operations of one denoising step: every matmul weight against the tokens it
// reads (the double blocks' image weights against image tokens, text weights against text
// tokens), and attention's two L x L products per block.
double StepFlops(const FluxTransformer& transformer, int64_t batch, int64_t img_tokens,
                 int64_t txt_tokens) {
  const FluxConfig& c = transformer.config();
  const FluxWeights& w = transformer.weights();
  const int64_t tokens = img_tokens + txt_tokens;
  double flops = 0;
  auto matmuls = [](const WeightBlock& block, const std::string& prefix) {
    double params = 0;
    for (const auto& [name, tensor] : block.tensors) {
      if (tensor.data.dim() == 2 && name.compare(0, prefix.size(), prefix) == 0) {
        params += double(tensor.data.numel());
      }
    }
    return params;
  };
  flops += 2.0 * batch *
           (img_tokens * matmuls(w.input_embedders, "img_in") +
            txt_tokens * matmuls(w.input_embedders, "txt_in"));
  for (const WeightBlock& block : w.double_blocks) {
    flops +=
        2.0 * batch * (img_tokens * matmuls(block, "img_") + txt_tokens * matmuls(block, "txt_"));
  }
  for (const WeightBlock& block : w.single_blocks)
    flops += 2.0 * batch * tokens * matmuls(block, "");
  flops += 2.0 * batch * img_tokens * matmuls(w.final_layer, "");
  const double attention = 4.0 * batch * double(tokens) * tokens * c.hidden_size;
  flops += attention * double(c.depth + c.depth_single_blocks);
  return flops;
}

std::string Gb(double bytes) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(2) << bytes / 1e9 << " GB";
  return out.str();
}

}  // namespace

int RunPlanCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  std::map<std::string, std::string> flags;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--help" || args[i] == "-h") {
      out << kUsage;
      return 0;
    }
    static const char* const kFlags[] = {"--model",    "--budget",    "--width",     "--height",
                                         "--steps",    "--batch",     "--storage",   "--dtype",
                                         "--prefetch", "--t5-tokens", "--bandwidth", "--tflops"};
    if (std::find(std::begin(kFlags), std::end(kFlags), args[i]) == std::end(kFlags) ||
        i + 1 >= args.size()) {
      err << "streamdit plan: unknown flag or missing value: " << args[i] << "\n" << kUsage;
      return 2;
    }
    flags[args[i]] = args[i + 1];
    ++i;
  }
  try {
    if (!flags.count("--model") || !flags.count("--budget")) {
      throw std::invalid_argument("--model and --budget are required");
    }
    const int64_t budget = ParseByteSize("--budget", flags["--budget"]);
    const WeightStorage storage =
        ParseWeightStorage(flags.count("--storage") ? flags["--storage"] : "as-stored");
    torch::ScalarType compute = torch::kBFloat16;
    if (flags.count("--dtype")) {
      const std::string& d = flags["--dtype"];
      if (d == "f32") {
        compute = torch::kFloat;
      } else if (d != "bf16") {
        throw std::invalid_argument("--dtype must be bf16 or f32, got '" + d + "'");
      }
    }
    PlannedModels loaded = LoadModels(flags["--model"]);
    if (storage == WeightStorage::kFp8) HoldAsFp8ForPlanning(loaded.transformer->mutable_weights());
    const FluxConfig& config = loaded.transformer->config();
    const FluxSamplingDefaults defaults =
        config.guidance_embed ? FluxDevDefaults() : FluxSchnellDefaults();

    JobMemoryShape shape;
    shape.width = flags.count("--width") ? ParseIntFlag("--width", flags["--width"]) : 1024;
    shape.height = flags.count("--height") ? ParseIntFlag("--height", flags["--height"]) : 1024;
    shape.steps =
        flags.count("--steps") ? ParseIntFlag("--steps", flags["--steps"]) : defaults.num_steps;
    shape.batch = flags.count("--batch") ? ParseIntFlag("--batch", flags["--batch"]) : 1;
    shape.t5_tokens = flags.count("--t5-tokens") ? ParseIntFlag("--t5-tokens", flags["--t5-tokens"])
                                                 : defaults.t5_max_length;
    StreamingOptions options;
    options.prefetch_depth =
        flags.count("--prefetch") ? ParseIntFlag("--prefetch", flags["--prefetch"]) : 1;
    options.compute_dtype = compute;
    if (shape.width < 16 || shape.height < 16 || shape.steps < 1 || shape.batch < 1 ||
        shape.t5_tokens < 1 || options.prefetch_depth < 0) {
      throw std::invalid_argument(
          "--width and --height must be >= 16; --steps, --batch and "
          "--t5-tokens >= 1; --prefetch >= 0");
    }
    if (loaded.clip) shape.clip_tokens = loaded.clip->config().max_positions;
    shape.compute = compute;

    const double bandwidth = flags.count("--bandwidth")
                                 ? PositiveFlag("--bandwidth", flags["--bandwidth"]) * 1e9
                                 : MeasureBandwidth();
    const double rate = flags.count("--tflops") ? PositiveFlag("--tflops", flags["--tflops"]) * 1e12
                                                : MeasureComputeRate();

    JobMemoryPlan plan;
    try {
      plan = PlanJobMemory(loaded.models(), shape, budget, options);
    } catch (const std::invalid_argument& e) {
      err << "streamdit plan: " << e.what() << "\n";
      return 1;
    }
    const int64_t img_tokens = int64_t{(shape.height + 15) / 16} * ((shape.width + 15) / 16);
    out << "model: " << loaded.description << "\n"
        << "  hidden " << config.hidden_size << ", " << config.depth << " double + "
        << config.depth_single_blocks << " single blocks, storage " << WeightStorageName(storage)
        << ", compute " << (compute == torch::kFloat ? "f32" : "bf16") << "\n"
        << "job: " << shape.width << "x" << shape.height << " (" << img_tokens << " image + "
        << shape.t5_tokens << " text tokens), batch " << shape.batch << ", " << shape.steps
        << " steps, budget " << FormatBytes(budget) << ", prefetch depth " << options.prefetch_depth
        << "\n";
    for (const ComponentMemoryPlan& c : plan.components) {
      const ResidencyPlan& r = c.residency;
      int64_t total = 0;
      for (const PlannedBlock& b : r.blocks) total += b.storage_bytes;
      out << PipelineComponentName(c.component) << ": " << r.resident_count() << "/"
          << r.blocks.size() << " blocks resident (" << FormatBytes(r.resident_bytes) << " of "
          << FormatBytes(total) << ", " << std::fixed << std::setprecision(1)
          << (total ? 100.0 * double(r.resident_bytes) / double(total) : 100.0) << "%), ring "
          << r.num_slots << " x " << FormatBytes(r.slot_bytes) << "; streamed per "
          << (c.component == PipelineComponent::kTransformer ? "step " : "pass ")
          << Gb(double(r.streamed_bytes_per_step())) << ", once per job "
          << Gb(double(r.streamed_bytes_per_request())) << "; predicted peak "
          << FormatBytes(c.predicted_peak_bytes()) << "\n";
    }
    out << "predicted peak per phase:";
    for (PipelinePhase phase :
         {PipelinePhase::kEncode, PipelinePhase::kDenoise, PipelinePhase::kDecode}) {
      const int64_t peak = plan.predicted_peak_bytes(phase);
      out << " " << PipelinePhaseName(phase) << " " << (peak ? FormatBytes(peak) : "-");
    }
    out << "\nminimum budget for this job: " << FormatBytes(plan.minimum_budget_bytes())
        << "; everything resident from " << FormatBytes(plan.resident_budget_bytes()) << "\n";

    const ResidencyPlan& denoise = plan.component(PipelineComponent::kTransformer).residency;
    const double compute_s =
        StepFlops(*loaded.transformer, shape.batch, img_tokens, shape.t5_tokens) / rate;
    const double transfer_s = double(denoise.streamed_bytes_per_step()) / bandwidth;
    out << std::setprecision(3) << "time per step (predicted at " << bandwidth / 1e9 << " GB/s, "
        << rate / 1e12 << " TFLOP/s): compute " << compute_s << " s, transfer " << transfer_s
        << " s -> "
        << (options.prefetch_depth > 0 ? std::max(compute_s, transfer_s) : compute_s + transfer_s)
        << " s" << (options.prefetch_depth > 0 ? " with prefetch" : " without prefetch") << "\n";
    return 0;
  } catch (const CheckpointError& e) {
    err << "streamdit plan: " << e.what() << "\n";
    return 2;
  } catch (const std::invalid_argument& e) {
    err << "streamdit plan: " << e.what() << "\n" << kUsage;
    return 2;
  }
}

}  // namespace streamdit::engine
