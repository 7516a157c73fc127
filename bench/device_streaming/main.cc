// bench_device_streaming: the transformer streamed to one device under byte budgets, against the
// physical model that says what streaming can cost at best. For each storage (bf16, fp8) and each
// budget it plans the residency (the budget less the forward's activations), runs denoising steps
// on the device and prints seconds per step, bytes streamed per step, the time spent waiting for
// copies, the predicted and the measured peak, and the model
//   t = max(compute, bytes streamed per step / copy bandwidth)
// with `compute` the all-resident step and the bandwidth measured in the same run (pinned host to
// device on CUDA; host memcpy on the CPU). Random weights are made on the spot (no download).
//
//   build/bench/bench_device_streaming [--device cuda:0|cpu] [--config dev|full|small]
//       [--tokens 4096] [--txt 512] [--budgets 16GiB,12GiB,8GiB] [--steps 3] [--dtype bf16|f32]
//
// `dev` is FLUX.1-dev's size (19 double + 38 single blocks, 23.8 GB of bf16 weights; the host
// needs about 36 GB for both storages); `full` has FLUX.1 widths with 2 + 2 blocks; `small` is the
// demo model's scale, for rehearsing on a CPU. scripts/device-check runs it on a GPU machine.
#include <ATen/Parallel.h>
#include <torch/cuda.h>

#include <cstdio>
#include <limits>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench/support/flux_bench.h"
#include "engine/device/compute_stream.h"
#include "engine/device/device_name.h"
#include "engine/flux/flux_activation_memory.h"
#include "engine/memory/bandwidth_probe.h"
#include "engine/memory/cpu_memory_meter.h"
#include "engine/memory/cuda_device_meter.h"
#include "engine/pipeline/job_memory_plan.h"
#include "engine/streaming/host_storage.h"
#include "engine/streaming/pinned_host_tier.h"
#include "engine/streaming/residency_plan.h"
#include "engine/streaming/streaming_weight_provider.h"

namespace streamdit::engine {
namespace {

using bench::Clock;
using bench::Median;
using bench::Seconds;

double GB(int64_t bytes) { return bytes / 1e9; }

// "16GiB", "12GB", "512MiB" or plain bytes; std::invalid_argument otherwise.
int64_t ParseBytes(const std::string& text) {
  std::size_t used = 0;
  const double number = std::stod(text, &used);
  const std::string unit = text.substr(used);
  double scale = 1;
  if (unit == "GiB")
    scale = double(int64_t{1} << 30);
  else if (unit == "MiB")
    scale = double(int64_t{1} << 20);
  else if (unit == "GB")
    scale = 1e9;
  else if (unit == "MB")
    scale = 1e6;
  else if (!unit.empty())
    throw std::invalid_argument("--budgets: unknown unit in " + text);
  if (!(number > 0)) throw std::invalid_argument("--budgets: sizes must be > 0, got " + text);
  return static_cast<int64_t>(number * scale);
}

struct Options {
  ExecutionTarget target = ExecutionTarget::Cpu();
  std::string config = "small";
  int64_t img_tokens = 1024;
  int64_t txt_tokens = 512;
  std::vector<int64_t> budgets;  // empty: a few fractions of the all-resident bytes
  int steps = 3;
  torch::ScalarType compute = torch::kBFloat16;
};

Options ParseOptions(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) throw std::invalid_argument(flag + " needs a value");
    const std::string value = argv[++i];
    if (flag == "--device") {
      const absl::StatusOr<ExecutionTarget> target = ParseExecutionTarget(value);
      if (!target.ok()) throw std::invalid_argument("--device: " + target.status().ToString());
      o.target = *target;
    } else if (flag == "--config") {
      if (value != "dev" && value != "full" && value != "small") {
        throw std::invalid_argument("--config dev|full|small");
      }
      o.config = value;
    } else if (flag == "--tokens") {
      o.img_tokens = bench::ParsePositiveList(flag, value).front();
    } else if (flag == "--txt") {
      o.txt_tokens = bench::ParsePositiveList(flag, value).front();
    } else if (flag == "--budgets") {
      std::stringstream in(value);
      std::string item;
      while (std::getline(in, item, ',')) o.budgets.push_back(ParseBytes(item));
    } else if (flag == "--steps") {
      o.steps = std::max(1, std::atoi(value.c_str()));
    } else if (flag == "--dtype") {
      if (value != "f32" && value != "bf16") throw std::invalid_argument("--dtype f32|bf16");
      o.compute = value == "f32" ? torch::kFloat : torch::kBFloat16;
    } else {
      throw std::invalid_argument("unknown flag " + flag);
    }
  }
  return o;
}

FluxConfig ConfigNamed(const std::string& name) {
  if (name == "dev") return FluxConfig{};  // FLUX.1-dev: the defaults
  if (name == "full") return bench::FullConfig();
  return bench::DemoScaleConfig();
}

// Host to device bytes per second: best of three 256 MiB copies from pinned memory on CUDA (the
// streaming ring's path), host memcpy on the CPU.
double MeasureBandwidth(const ExecutionTarget& target) {
  if (!target.is_cuda()) return MeasureCopyBandwidth();
  constexpr int64_t kBytes = int64_t{256} << 20;
  const torch::Tensor host =
      torch::empty({kBytes}, torch::TensorOptions().dtype(torch::kByte).pinned_memory(true));
  const torch::Tensor device =
      torch::empty({kBytes}, torch::TensorOptions().dtype(torch::kByte).device(target.device));
  double best = 0;
  for (int i = 0; i < 4; ++i) {
    torch::cuda::synchronize(target.device.index());
    const auto start = Clock::now();
    device.copy_(host, /*non_blocking=*/true);
    torch::cuda::synchronize(target.device.index());
    if (i > 0) best = std::max(best, kBytes / Seconds(start));  // the first warms up
  }
  return best;
}

void Synchronize(const ExecutionTarget& target) {
  if (target.is_cuda()) torch::cuda::synchronize(target.device.index());
}

struct Mode {
  std::string name;
  const FluxTransformer* model = nullptr;
  int64_t budget = 0;  // the job's budget (weights + activations); 0: all resident
  ResidencyPlan plan;
  int64_t predicted_peak = 0;
  std::vector<double> step_seconds, stall_seconds;
  int64_t measured_peak = 0;
};

FluxInputs OnDevice(FluxInputs in, const ExecutionTarget& target) {
  for (torch::Tensor* t :
       {&in.img, &in.img_ids, &in.txt, &in.txt_ids, &in.timesteps, &in.y, &in.guidance}) {
    if (t->defined()) *t = t->to(target.device);
  }
  return in;
}

// One denoising step as a request runs it: the modulation pass, then the timed step.
void MeasureStep(Mode& mode, const FluxInputs& inputs, const ExecutionTarget& target,
                 torch::ScalarType compute, MemoryMeter* meter) {
  const ScopedComputeStream stream(target);
  Synchronize(target);
  std::optional<MemoryMeter::Window> window;
  if (meter) window.emplace(meter->OpenWindow());
  {
    StreamingWeightProvider provider(mode.plan, StreamingOptions{1, compute}, target);
    provider.SetOrder(mode.model->weights().ForwardOrder(), /*passes=*/1);
    const torch::Tensor vec =
        mode.model->ComputeVec(inputs.timesteps, inputs.y, inputs.guidance, provider, compute);
    const FluxModulation modulation = mode.model->ComputeModulation(vec, provider);
    Synchronize(target);
    const double stall_before = provider.stall_seconds();
    const auto start = Clock::now();
    const torch::Tensor out =
        mode.model->ForwardWithModulation(inputs, modulation, provider, compute);
    Synchronize(target);
    mode.step_seconds.push_back(Seconds(start));
    mode.stall_seconds.push_back(provider.stall_seconds() - stall_before);
    if (!out.isfinite().all().item<bool>()) {
      throw std::runtime_error(mode.name + ": non-finite output");
    }
  }
  if (window) {
    mode.measured_peak = std::max(mode.measured_peak, window->peak_above_start_bytes());
  }
}

void Run(const Options& o) {
  const FluxConfig config = ConfigNamed(o.config);
  const ExecutionTarget& target = o.target;
  std::printf(
      "bench_device_streaming: %s, config %s (%ld double + %ld single blocks, hidden %ld), "
      "%ld image + %ld text tokens, compute %s, %d timed steps per mode (medians)\n",
      target.str().c_str(), o.config.c_str(), long(config.depth), long(config.depth_single_blocks),
      long(config.hidden_size), long(o.img_tokens), long(o.txt_tokens),
      o.compute == torch::kFloat ? "f32" : "bf16", o.steps);
  // The meter the measured peaks come from: the counting allocator, or the caching allocator's
  // events on CUDA (measure only: no cap, so an underestimate shows as a peak past the budget).
  MemoryMeter cuda_meter;
  MemoryMeter* meter = nullptr;
  if (target.is_cuda()) {
    MeterCudaDevice(target.device.index(), &cuda_meter, 0, 0);
    meter = &cuda_meter;
  } else {
    meter = &CpuMemoryMeter::Install().meter();
  }

  auto start = Clock::now();
  FluxTransformer bf16(config, bench::HostWeights(config));
  FluxTransformer fp8(config, bf16.weights());
  ConvertBlocksToFp8(Fp8EligibleBlocks(fp8.mutable_weights()));
  const int64_t pinned = PinHostTier(bf16.mutable_weights().MutableBlocks(), target) +
                         PinHostTier(fp8.mutable_weights().MutableBlocks(), target);
  std::printf("weights: %.2f GB bf16, %.2f GB with fp8 storage; %.2f GB pinned; made in %.0f s\n",
              GB(bf16.weights().nbytes()), GB(fp8.weights().nbytes()), GB(pinned), Seconds(start));
  const double bandwidth = MeasureBandwidth(target);
  std::printf("copy bandwidth (host to %s): %.1f GB/s\n", target.str().c_str(), bandwidth / 1e9);

  FluxActivationShape shape;
  shape.img_tokens = o.img_tokens;
  shape.txt_tokens = o.txt_tokens;
  shape.compute = o.compute;
  shape.device = target.device.type();
  const int64_t activations = FluxForwardActivationBytes(config, shape);
  auto make = [&](const std::string& name, const FluxTransformer& model, int64_t budget) {
    Mode mode;
    mode.name = name;
    mode.model = &model;
    mode.budget = budget;
    std::vector<bool> per_step(model.weights().VecAndModulationOrder().size(), false);
    per_step.resize(model.weights().ForwardOrder().size(), true);
    const std::vector<PlannedBlock> blocks =
        DescribeBlocks(model.weights().ForwardOrder(), per_step, o.compute, target.device);
    const StreamingOptions options{1, o.compute};
    const int64_t weights = budget > 0 ? budget - activations : std::numeric_limits<int64_t>::max();
    mode.plan = PlanResidency(blocks, weights, options);  // throws below the minimum
    mode.predicted_peak = mode.plan.weight_bytes() + activations;
    return mode;
  };
  std::vector<Mode> modes;
  modes.push_back(make("bf16 resident", bf16, 0));
  std::vector<int64_t> budgets = o.budgets;
  if (budgets.empty()) {
    for (double share : {0.75, 0.5, 0.35}) {
      budgets.push_back(static_cast<int64_t>(share * (bf16.weights().nbytes() + activations)));
    }
  }
  for (const int64_t budget : budgets) {
    for (const FluxTransformer* model : {&bf16, &fp8}) {
      const std::string name = std::string(model == &bf16 ? "bf16 " : "fp8 ") + FormatBytes(budget);
      try {
        modes.push_back(make(name, *model, budget));
      } catch (const std::exception& e) {
        std::printf("%-16s skipped: %s\n", name.c_str(), e.what());
      }
    }
  }

  const FluxInputs inputs = OnDevice(bench::Inputs(config, o.img_tokens, o.txt_tokens), target);
  MeasureStep(modes.front(), inputs, target, o.compute, nullptr);  // untimed warm-up
  modes.front().step_seconds.clear();
  modes.front().stall_seconds.clear();
  for (int step = 0; step < o.steps; ++step) {
    for (std::size_t i = 0; i < modes.size(); ++i) {
      MeasureStep(modes[(step + i) % modes.size()], inputs, target, o.compute, meter);
    }
  }
  const double compute_seconds = Median(modes.front().step_seconds);
  std::printf("\n%-16s %9s %8s %11s %8s %7s %10s %10s %8s %6s\n", "mode", "budget GB", "resident",
              "streamed GB", "s/step", "stall", "pred. GB", "meas. GB", "model s", "ratio");
  for (const Mode& mode : modes) {
    const int64_t streamed = mode.plan.streamed_bytes_per_step();
    const double model_seconds = std::max(compute_seconds, streamed / bandwidth);
    const double seconds = Median(mode.step_seconds);
    std::printf("%-16s %9.2f %4d/%-3zu %11.2f %8.3f %7.3f %10.2f %10.2f %8.3f %6.2f%s\n",
                mode.name.c_str(), GB(mode.budget), mode.plan.resident_count(),
                mode.plan.blocks.size(), GB(streamed), seconds, Median(mode.stall_seconds),
                GB(mode.predicted_peak), GB(mode.measured_peak), model_seconds,
                seconds / model_seconds,
                mode.budget > 0 && mode.measured_peak > mode.budget ? "  PEAK PAST BUDGET" : "");
  }
  if (target.is_cuda()) MeterCudaDevice(target.device.index(), nullptr, 0, 0);
}

}  // namespace
}  // namespace streamdit::engine

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  try {
    streamdit::engine::Run(streamdit::engine::ParseOptions(argc, argv));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_device_streaming: %s\n", e.what());
    return 1;
  }
  return 0;
}
