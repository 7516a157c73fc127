// bench_formats: what each weight storage format costs per denoising step on this machine, and
// what it would cost on a 16 GB GPU. Formats: bf16 (as FLUX releases), fp8 e4m3 (host storage,
// ConvertBlocksToFp8) and the GGML block types Q8_0, Q6_K, Q4_K, Q4_0 (as city96's GGUF files),
// the latter synthetic (bench/support/synthetic_ggml.h: random blocks with fixed moderate scales;
// the engine has no quantizer, and timing does not depend on what the weights mean). Every format
// converts the same tensors: the 2-D matmul weights of the blocks fp8 storage converts.
//
// For each image token count (512 text tokens, as FLUX.1-dev) and format, seconds per step in
// three ways of holding the transformer:
//   minimum budget   streamed by its residency plan at the least weight budget (prefetch 1);
//   resident stored  every block resident as stored, each matmul weight decoded right before its
//                    matmul (an all-resident plan: what the engine does with a resident copy);
//   resident compute every weight decoded once beforehand into the compute dtype (no decode per
//                    step; the bf16 format in bf16 compute is the same as resident stored, so it
//                    is measured once and shown in both columns).
// Then the bytes: stored, the minimum budget, streamed per step at it (from the plan), and the
// measured device peak against the predicted one (plan weight bytes + the activation model). Then
// Q4_K resident stored with 4 LoRAs (ranks 16/32, strengths 0.25 each, every linear of the
// blocks) against none. Last, a physical model for FLUX.1-dev on a 16 GB card over PCIe 4 and 5.
//
// The modes run interleaved (one step of each, then again, each round starting at the next mode)
// after an untimed warm-up step per token count; the tables report medians. Each measurement
// builds its provider afresh and runs the once-per-request modulation pass before the timed step,
// as bench_streaming does, so that no mode's background copies run during another's step.
//
//   build/bench/bench_formats [--tokens 1024,4096] [--formats bf16,fp8,Q8_0,Q6_K,Q4_K,Q4_0]
//       [--steps 2] [--threads N] [--config full|small] [--dtype bf16|f32] [--lora 1|0]
//       [--gpu-tflops 400]
#include <ATen/Parallel.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "bench/support/flux_bench.h"
#include "bench/support/synthetic_ggml.h"
#include "engine/checkpoint/shape_string.h"
#include "engine/flux/flux_activation_memory.h"
#include "engine/flux/flux_transformer.h"
#include "engine/lora/lora_adapter.h"
#include "engine/lora/lora_job_adapters.h"
#include "engine/memory/cpu_memory_meter.h"
#include "engine/memory/scoped_peak.h"
#include "engine/streaming/host_storage.h"
#include "engine/streaming/residency_plan.h"
#include "engine/streaming/streaming_weight_provider.h"

namespace streamdit::engine {
namespace {

using bench::Clock;
using bench::Median;
using bench::Seconds;

double GB(int64_t bytes) { return bytes / 1e9; }

struct Format {
  enum class Kind { kBf16, kFp8, kGgml };
  std::string name;
  Kind kind = Kind::kBf16;
  GgmlType ggml = GgmlType::kF32;  // kGgml only
  double bits = 16;                // per weight, as stored
};

std::vector<Format> AllFormats() {
  std::vector<Format> formats = {{"bf16", Format::Kind::kBf16, GgmlType::kF32, 16},
                                 {"fp8", Format::Kind::kFp8, GgmlType::kF32, 8}};
  for (GgmlType type : {GgmlType::kQ8_0, GgmlType::kQ6_K, GgmlType::kQ4_K, GgmlType::kQ4_0}) {
    formats.push_back({std::string(GgmlTypeName(type)), Format::Kind::kGgml, type,
                       8.0 * double(GgmlBlockBytes(type)) / double(GgmlBlockSize(type))});
  }
  return formats;
}

struct Options {
  std::vector<int64_t> tokens = {1024, 4096};
  std::vector<Format> formats = AllFormats();
  int steps = 2;
  std::string config = "full";
  int threads = 0;  // 0: libtorch's default
  torch::ScalarType compute = torch::kBFloat16;
  bool lora = true;
  // The physical model's GPU compute rate: about 40% of an H100 SXM's dense bf16 peak (989
  // TFLOP/s), what FLUX.1-dev steps reach there (~0.2-0.3 s per 1024x1024 step, measured
  // elsewhere). A flag, since no GPU runs here.
  double gpu_tflops = 400;
};

Options ParseOptions(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) throw std::invalid_argument(flag + " needs a value");
    const std::string value = argv[++i];
    if (flag == "--tokens") {
      o.tokens = bench::ParsePositiveList(flag, value);
    } else if (flag == "--formats") {
      o.formats.clear();
      std::stringstream in(value);
      std::string item;
      while (std::getline(in, item, ',')) {
        const std::vector<Format> all = AllFormats();
        auto it = std::find_if(all.begin(), all.end(), [&](const Format& f) {
          return f.name == item || (f.name == "bf16" && item == "BF16") ||
                 (f.name == "fp8" && item == "FP8");
        });
        if (it == all.end()) throw std::invalid_argument("--formats: unknown format " + item);
        o.formats.push_back(*it);
      }
    } else if (flag == "--steps") {
      o.steps = std::max(1, std::atoi(value.c_str()));
    } else if (flag == "--threads") {
      o.threads = std::atoi(value.c_str());
    } else if (flag == "--config") {
      if (value != "full" && value != "small") throw std::invalid_argument("--config full|small");
      o.config = value;
    } else if (flag == "--dtype") {
      if (value != "f32" && value != "bf16") throw std::invalid_argument("--dtype f32|bf16");
      o.compute = value == "f32" ? torch::kFloat : torch::kBFloat16;
    } else if (flag == "--lora") {
      o.lora = value != "0";
    } else if (flag == "--gpu-tflops") {
      o.gpu_tflops = std::atof(value.c_str());
      if (!(o.gpu_tflops > 0)) throw std::invalid_argument("--gpu-tflops wants a positive number");
    } else {
      throw std::invalid_argument("unknown flag " + flag);
    }
  }
  return o;
}

// Mode (c): every block decoded once into the compute dtype, handed out as it is.
class ComputeDtypeProvider : public WeightProvider {
 public:
  ComputeDtypeProvider(const FluxWeights& weights, torch::ScalarType compute) {
    for (const WeightBlock* block : weights.AllBlocks()) {
      std::unordered_map<std::string, torch::Tensor> tensors;
      for (const auto& [name, stored] : block->tensors) {
        tensors.emplace(name, Materialize(stored, compute, torch::kCPU));
      }
      blocks_.emplace(block, BlockTensors(std::move(tensors)));
    }
  }
  BlockTensors Acquire(const WeightBlock& block) override { return blocks_.at(&block); }

  // The counted bytes the constructor allocates (tensors already in the compute dtype are not
  // copied).
  static int64_t Bytes(const FluxWeights& weights, torch::ScalarType compute) {
    int64_t bytes = 0;
    for (const WeightBlock* block : weights.AllBlocks()) {
      for (const auto& [name, stored] : block->tensors) {
        if (MaterializeCopies(stored, compute)) {
          bytes += stored.numel() * int64_t(c10::elementSize(compute));
        }
      }
    }
    return bytes;
  }

 private:
  std::unordered_map<const WeightBlock*, BlockTensors> blocks_;
};

enum class Holding { kMinimum, kResidentStored, kResidentCompute };

struct Mode {
  std::string label;
  const FluxTransformer* model = nullptr;
  Holding holding = Holding::kMinimum;
  ResidencyPlan plan;                                 // kMinimum and kResidentStored
  int64_t weight_bytes = 0;                           // predicted device bytes of the weights
  std::shared_ptr<const ComponentAdapters> adapters;  // null: no LoRA
  std::vector<double> seconds;
  int64_t peak = 0;  // the largest measured peak at the current token count
};

Mode MakeMode(const std::string& label, const FluxTransformer& model, Holding holding) {
  Mode mode;
  mode.label = label;
  mode.model = &model;
  mode.holding = holding;
  return mode;
}

// One format's model and where its modes sit in the interleaved list (-1: not measured).
struct FormatRun {
  Format format;
  std::unique_ptr<FluxTransformer> model;
  ResidencyPlan minimum_plan;
  int64_t minimum_budget = 0;
  bool decodes = false;  // some tensor is not in the compute dtype
  int minimum = -1, stored = -1, computed = -1;
};

std::vector<PlannedBlock> Describe(const FluxTransformer& model, torch::ScalarType compute) {
  const FluxWeights& w = model.weights();
  // Vec and modulation blocks are used once per request (modulation precompute), the rest per step.
  std::vector<bool> per_step(w.VecAndModulationOrder().size(), false);
  per_step.resize(w.ForwardOrder().size(), true);
  return DescribeBlocks(w.ForwardOrder(), per_step, compute, torch::kCPU);
}

// Activation bytes a request's modulation pass and one step add to the weights: the job memory
// plan's transformer phases for one image, without the latents and ids (the bench's inputs are
// made before the measurement).
int64_t ActivationBytes(const FluxConfig& config, int64_t img, int64_t txt,
                        torch::ScalarType compute) {
  FluxActivationShape shape;
  shape.img_tokens = img;
  shape.txt_tokens = txt;
  shape.compute = compute;
  return std::max(
      FluxModulationPassBytes(config, 1, compute),
      FluxModulationBytes(config, 1, compute) + FluxForwardActivationBytes(config, shape));
}

// One request's worth of work for one step: the provider, the modulation pass, the timed step.
void MeasureStep(Mode& mode, const FluxInputs& inputs, torch::ScalarType compute) {
  const FluxTransformer& model = *mode.model;
  torch::NoGradGuard no_grad;
  ScopedPeak peak;  // before the provider: its resident copies, ring and decodes count too
  std::unique_ptr<WeightProvider> base;
  if (mode.holding == Holding::kResidentCompute) {
    base = std::make_unique<ComputeDtypeProvider>(model.weights(), compute);
  } else {
    base = std::make_unique<StreamingWeightProvider>(mode.plan, StreamingOptions{1, compute},
                                                     ExecutionTarget::Cpu());
  }
  base->SetOrder(model.weights().ForwardOrder(), /*passes=*/1);
  const std::unique_ptr<WeightProvider> provider = WithAdapters(std::move(base), mode.adapters);
  const torch::Tensor vec =
      model.ComputeVec(inputs.timesteps, inputs.y, inputs.guidance, *provider, compute);
  const FluxModulation modulation = model.ComputeModulation(vec, *provider);
  const auto start = Clock::now();
  const torch::Tensor out = model.ForwardWithModulation(inputs, modulation, *provider, compute);
  mode.seconds.push_back(Seconds(start));
  mode.peak = std::max(mode.peak, peak.peak_above_start_bytes());
  if (!out.isfinite().all().item<bool>()) {
    throw std::runtime_error(mode.label + ": non-finite output");
  }
}

// Decoding one converted weight (the largest of the first double block) must give finite, normal
// values of about the bf16 weight's magnitude; prints them and how fast the codec decodes.
void CheckDecode(const FormatRun& run, const FluxTransformer& bf16, torch::ScalarType compute) {
  const WeightBlock& block = run.model->weights().double_blocks.front();
  const StoredTensor* stored = nullptr;
  std::string name;
  for (const auto& [tensor_name, tensor] : block.tensors) {
    if ((tensor.blocks || tensor.dtype == DType::kF8E4M3) &&
        (!stored || tensor.numel() > stored->numel())) {
      stored = &tensor;
      name = tensor_name;
    }
  }
  if (!stored) throw std::runtime_error(run.format.name + ": no converted tensor");
  torch::Tensor original;
  for (const auto& [tensor_name, tensor] : bf16.weights().double_blocks.front().tensors) {
    if (tensor_name == name) original = tensor.data.to(torch::kFloat);
  }
  const torch::Tensor value = Materialize(*stored, torch::kFloat, torch::kCPU);
  const torch::Tensor magnitude = value.abs();
  const int64_t subnormal = ((magnitude > 0) & (magnitude < FLT_MIN)).sum().item<int64_t>();
  const double rms = value.square().mean().sqrt().item<double>();
  const double reference = original.square().mean().sqrt().item<double>();
  const bool finite = value.isfinite().all().item<bool>();
  std::vector<double> seconds;
  for (int i = 0; i < 3; ++i) {
    const auto start = Clock::now();
    const torch::Tensor decoded = Materialize(*stored, compute, torch::kCPU);
    seconds.push_back(Seconds(start));
  }
  const double s = Median(seconds);
  std::printf(
      "  %-5s %s %s: rms %.4f (bf16 weight %.4f), max %.3f, %s, %ld subnormal; decode to %s "
      "%.1f ms (%.0f M weights/s)\n",
      run.format.name.c_str(), name.c_str(), ShapeString(stored->sizes()).c_str(), rms, reference,
      magnitude.max().item<double>(), finite ? "finite" : "NOT FINITE", long(subnormal),
      compute == torch::kFloat ? "f32" : "bf16", 1e3 * s, stored->numel() / s / 1e6);
  if (!finite || subnormal > 0 || !(rms > 0.1 * reference && rms < 10 * reference)) {
    throw std::runtime_error(run.format.name + ": decoded weights are not finite, normal values " +
                             "of a sane magnitude");
  }
}

// A LoRA of `rank` on every linear of the double and single blocks and their modulation (as
// bench_lora, sd-scripts' default targets); random values, scale alpha / rank = 1.
std::shared_ptr<const LoraAdapter> RandomLora(const FluxTransformer& model, int64_t rank,
                                              uint64_t seed, const std::string& name) {
  torch::manual_seed(seed);
  std::vector<LoraModule> modules;
  const FluxWeights& w = model.weights();
  for (const auto* list :
       {&w.double_blocks, &w.double_modulation, &w.single_blocks, &w.single_modulation}) {
    for (const WeightBlock& block : *list) {
      for (const auto& [tensor, stored] : block.tensors) {
        const std::string suffix = ".weight";
        if (stored.dim() != 2 || tensor.size() < suffix.size() ||
            tensor.compare(tensor.size() - suffix.size(), suffix.size(), suffix) != 0) {
          continue;
        }
        LoraModule module;
        module.block = block.name;
        module.module = tensor.substr(0, tensor.size() - suffix.size());
        module.key = block.name + "." + module.module;
        module.down = (torch::randn({rank, stored.size(1)}) * 0.01).to(torch::kBFloat16);
        module.up = (torch::randn({stored.size(0), rank}) * 0.01).to(torch::kBFloat16);
        modules.push_back(std::move(module));
      }
    }
  }
  return std::make_shared<LoraAdapter>(name, "<random>", LoraFormat::kKohya, Checkpoint(),
                                       std::move(modules));
}

// FLUX.1-dev from its tensor shapes: parameters (all, those every step multiplies, the largest
// block's) and the matmul FLOPs per image and per text token.
struct DevModel {
  double params = 0, per_step_params = 0, largest_block_params = 0;
  double img_flops_per_token = 0, txt_flops_per_token = 0;
  int64_t blocks = 0, hidden = 0;
};

DevModel DescribeDev() {
  const FluxConfig dev;  // the defaults are FLUX.1-dev's
  DevModel m;
  m.blocks = dev.depth + dev.depth_single_blocks;
  m.hidden = dev.hidden_size;
  std::map<std::string, double> block_params;
  auto starts = [](const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; };
  for (const auto& [name, shape] : FluxTensorShapes(dev)) {
    double n = 1;
    for (int64_t s : shape) n *= double(s);
    m.params += n;
    // Modulation and the vec embedders run once per request (modulation precompute).
    if (name.find("mod") != std::string::npos || starts(name, "time_in") ||
        starts(name, "vector_in") || starts(name, "guidance_in")) {
      continue;
    }
    m.per_step_params += n;
    if (starts(name, "double_blocks.") || starts(name, "single_blocks.")) {
      block_params[name.substr(0, name.find('.', name.find('.') + 1))] += n;
    }
    if (shape.size() != 2) continue;
    // A double block's img_* weights multiply the image tokens, txt_* the text tokens; single
    // blocks multiply both; img_in and the final layer the image, txt_in the text.
    const bool img = name.find("img_") != std::string::npos || starts(name, "final_layer");
    const bool txt = name.find("txt_") != std::string::npos;
    if (!txt) m.img_flops_per_token += 2 * n;
    if (!img) m.txt_flops_per_token += 2 * n;
  }
  for (const auto& [block, n] : block_params) {
    m.largest_block_params = std::max(m.largest_block_params, n);
  }
  return m;
}

void PrintPhysicalModel(const Options& o) {
  const DevModel m = DescribeDev();
  constexpr double kCardGB = 16, kReserveGB = 3, kTxt = 512;
  const double available = (kCardGB - kReserveGB) * 1e9;
  std::printf(
      "\nphysical model: FLUX.1-dev (19 double + 38 single blocks, %.2f B parameters, %.2f B "
      "multiplied every step, largest block %.3f B) on a %.0f GB card\n",
      m.params / 1e9, m.per_step_params / 1e9, m.largest_block_params / 1e9, kCardGB);
  std::printf(
      "assumptions: every parameter at the format's bits (norms, biases and embedders kept in "
      "bf16 are ignored); %.0f GB left to weights (%.0f GB for activations and the CUDA context, "
      "text encoders and VAE offloaded); a model that does not fit streams as the residency plan "
      "does: a ring of 2 slots of the largest block, the rest of the %.0f GB resident, the "
      "modulation weights streamed once per request, so a step streams its per-step bytes less "
      "the resident ones; copies overlap compute (prefetch 1), so a step takes max(compute, "
      "copy); compute from FLOPs at %.0f TFLOP/s (--gpu-tflops; H100 class), the same for every "
      "format (the decode before each matmul is not counted: this engine decodes GGML blocks "
      "on a GPU with ATen kernels, unmeasured there).\n",
      available / 1e9, kReserveGB, available / 1e9, o.gpu_tflops);
  std::vector<double> compute;
  std::printf("compute per step:");
  for (int64_t img : o.tokens) {
    const double tokens = double(img) + kTxt;
    const double flops = double(img) * m.img_flops_per_token + kTxt * m.txt_flops_per_token +
                         double(m.blocks) * 4 * tokens * tokens * double(m.hidden);
    compute.push_back(flops / (o.gpu_tflops * 1e12));
    std::printf("  %ld + 512 tokens %.1f TFLOP, %.3f s;", long(img), flops / 1e12, compute.back());
  }
  std::printf("\n%-5s %6s %9s %9s %12s %11s %11s", "fmt", "bits", "model GB", "resident",
              "streamed GB", "copy s PCI4", "copy s PCI5");
  for (int64_t img : o.tokens) {
    std::printf(" %14s", ("step s @" + std::to_string(img) + " 4/5").c_str());
  }
  std::printf("\n");
  for (const Format& f : AllFormats()) {
    const double bytes = m.params * f.bits / 8;
    const bool fits = bytes <= available;
    const double ring = 2 * m.largest_block_params * f.bits / 8;
    const double streamed =
        fits ? 0 : std::max(0.0, m.per_step_params * f.bits / 8 - (available - ring));
    const double pcie4 = streamed / 25e9, pcie5 = streamed / 50e9;
    std::printf("%-5s %6.3f %9.2f %9s %12.2f %11.3f %11.3f", f.name.c_str(), f.bits, bytes / 1e9,
                fits ? "yes" : "no", streamed / 1e9, pcie4, pcie5);
    for (double c : compute) {
      std::printf("  %6.3f/%-6.3f", std::max(c, pcie4), std::max(c, pcie5));
    }
    std::printf("\n");
  }
}

void Run(const Options& o) {
  const FluxConfig config = o.config == "full" ? bench::FullConfig() : bench::DemoScaleConfig();
  const int64_t txt_tokens = o.config == "full" ? 512 : 64;
  const torch::ScalarType compute = o.compute;
  std::printf(
      "bench_formats: config %s (hidden %ld, %ld double + %ld single blocks), compute %s, %d "
      "threads, %d round(s) interleaved, medians\n",
      o.config.c_str(), long(config.hidden_size), long(config.depth),
      long(config.depth_single_blocks), compute == torch::kFloat ? "f32" : "bf16",
      at::get_num_threads(), o.steps);

  const auto made = Clock::now();
  CpuMemoryMeter::Install();  // before any measured allocation
  const FluxTransformer bf16(config, bench::HostWeights(config));
  std::vector<FormatRun> runs;
  uint64_t seed = 1000;
  for (const Format& format : o.formats) {
    FormatRun run;
    run.format = format;
    // The same tensors, then the converted ones replaced (the bf16 model keeps its own).
    run.model = std::make_unique<FluxTransformer>(config, bf16.weights());
    const std::vector<WeightBlock*> eligible = Fp8EligibleBlocks(run.model->mutable_weights());
    if (format.kind == Format::Kind::kFp8) ConvertBlocksToFp8(eligible);
    if (format.kind == Format::Kind::kGgml) {
      bench::ConvertBlocksToSyntheticGgml(eligible, format.ggml, seed);
      seed += 1000;
    }
    for (const WeightBlock* block : run.model->weights().AllBlocks()) {
      for (const auto& [name, stored] : block->tensors) {
        run.decodes = run.decodes || MaterializeCopies(stored, compute);
      }
    }
    runs.push_back(std::move(run));
  }
  std::printf("weights made in %.1f s; decode check (largest weight of double_blocks.0):\n",
              Seconds(made));
  for (const FormatRun& run : runs) {
    if (run.format.kind != Format::Kind::kBf16) CheckDecode(run, bf16, compute);
  }

  std::vector<Mode> modes;
  const StreamingOptions streaming{1, compute};
  for (FormatRun& run : runs) {
    const std::vector<PlannedBlock> blocks = Describe(*run.model, compute);
    run.minimum_budget = MinimumWeightBytes(blocks, streaming);
    run.minimum_plan = PlanResidency(blocks, run.minimum_budget, streaming);
    Mode minimum = MakeMode(run.format.name + " minimum budget", *run.model, Holding::kMinimum);
    minimum.plan = run.minimum_plan;
    minimum.weight_bytes = run.minimum_plan.weight_bytes();
    run.minimum = int(modes.size());
    modes.push_back(minimum);
    Mode stored =
        MakeMode(run.format.name + " resident stored", *run.model, Holding::kResidentStored);
    stored.plan = PlanResidency(blocks, std::numeric_limits<int64_t>::max(), streaming);
    stored.weight_bytes = stored.plan.weight_bytes();
    run.stored = int(modes.size());
    modes.push_back(stored);
    run.computed = run.stored;  // the same work when nothing is decoded
    if (run.decodes) {
      Mode computed =
          MakeMode(run.format.name + " resident compute", *run.model, Holding::kResidentCompute);
      computed.weight_bytes = ComputeDtypeProvider::Bytes(run.model->weights(), compute);
      run.computed = int(modes.size());
      modes.push_back(computed);
    }
  }
  // Q4_K resident stored with 4 LoRAs; its baseline is the Q4_K resident stored mode.
  int lora = -1, lora_base = -1;
  std::vector<LoraUse> uses;
  for (const FormatRun& run : runs) {
    if (!o.lora || run.format.name != "Q4_K") continue;
    const int64_t ranks[] = {16, 32, 16, 32};
    for (int i = 0; i < 4; ++i) {
      uses.push_back({RandomLora(*run.model, ranks[i], 200 + i, "lora" + std::to_string(i)), 0.25});
    }
    Mode with = modes[std::size_t(run.stored)];
    with.label = "Q4_K resident stored + 4 LoRAs";
    // Converted once to the compute dtype before the steps, as a job converts its LoRAs once.
    with.adapters =
        BuildComponentAdapters(PipelineComponent::kTransformer, {&uses}, compute, torch::kCPU);
    lora_base = run.stored;
    lora = int(modes.size());
    modes.push_back(with);
  }
  std::printf("%zu modes per round\n", modes.size());

  for (int64_t tokens : o.tokens) {
    FluxInputs inputs = bench::Inputs(config, tokens, txt_tokens);
    // The pipeline's latents and text embeddings are in the compute dtype.
    inputs.img = inputs.img.to(compute);
    inputs.txt = inputs.txt.to(compute);
    // An untimed step first: the first step at a new token count pays one-time costs (kernel
    // selection for new shapes, first touch of fresh memory) that would land on one mode.
    const auto start = Clock::now();
    MeasureStep(modes.front(), inputs, compute);
    for (Mode& mode : modes) {
      mode.seconds.clear();
      mode.peak = 0;
    }
    std::printf("\n%ld image + %ld text tokens (warm-up step %.1f s)\n", long(tokens),
                long(txt_tokens), Seconds(start));
    for (int step = 0; step < o.steps; ++step) {
      for (std::size_t i = 0; i < modes.size(); ++i) {
        MeasureStep(modes[(step + i) % modes.size()], inputs, compute);
      }
    }
    std::printf("%-5s | %9s | %10s | %12s | %11s | %11s | %11s | %14s\n", "fmt", "stored GB",
                "min budget", "streamed/step", "s/step min", "s/st res-st", "s/st res-cmp",
                "stored/compute");
    for (const FormatRun& run : runs) {
      const double minimum = Median(modes[std::size_t(run.minimum)].seconds);
      const double stored = Median(modes[std::size_t(run.stored)].seconds);
      const double computed = Median(modes[std::size_t(run.computed)].seconds);
      std::printf("%-5s | %9.3f | %10.3f | %13.3f | %11.3f | %11.3f | %11.3f%s | %14.3f\n",
                  run.format.name.c_str(), GB(run.model->weights().nbytes()),
                  GB(run.minimum_budget), GB(run.minimum_plan.streamed_bytes_per_step()), minimum,
                  stored, computed, run.decodes ? " " : "=", stored / computed);
    }
    std::printf(
        "(= : stored in the compute dtype, resident compute is resident stored, measured once)\n");
    const int64_t activations = ActivationBytes(config, tokens, txt_tokens, compute);
    std::printf("device peak GB, measured / predicted (plan weight bytes + activation model):\n");
    for (const FormatRun& run : runs) {
      std::printf("  %-5s", run.format.name.c_str());
      std::vector<std::pair<const char*, int>> shown = {{"min", run.minimum},
                                                        {"res-st", run.stored}};
      if (run.computed != run.stored) shown.push_back({"res-cmp", run.computed});
      for (const auto& [what, index] : shown) {
        const Mode& mode = modes[std::size_t(index)];
        const int64_t predicted = mode.weight_bytes + activations;
        std::printf("  %s %.3f / %.3f (%.2f)", what, GB(mode.peak), GB(predicted),
                    double(mode.peak) / double(predicted));
      }
      std::printf("\n");
    }
    if (lora >= 0) {
      const double with = Median(modes[std::size_t(lora)].seconds);
      const double without = Median(modes[std::size_t(lora_base)].seconds);
      std::printf(
          "LoRA: Q4_K resident stored with 4 LoRAs (ranks 16, 32, 16, 32, strength 0.25 each, "
          "every linear of the blocks) %.3f s/step vs %.3f s/step without: ratio %.3f\n",
          with, without, with / without);
    }
  }
  PrintPhysicalModel(o);
}

}  // namespace
}  // namespace streamdit::engine

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // rows as they finish, also when redirected
  try {
    const streamdit::engine::Options options = streamdit::engine::ParseOptions(argc, argv);
    if (options.threads > 0) at::set_num_threads(options.threads);
    streamdit::engine::Run(options);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_formats: %s\n", e.what());
    return 1;
  }
  return 0;
}
