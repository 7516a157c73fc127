// bench_streaming: what streaming the transformer weights costs on this machine. For each token
// count it prints the time per denoising step with every block resident, at the minimum weight
// budget with prefetch (depth 1: the next block copies while the current one computes) and
// without it (depth 0: every copy stalls), and at the minimum budget with fp8 host storage; then
// the bytes streamed per step at the minimum budget with modulation precompute (only the token
// blocks stream each step) and without it (the modulation blocks too), in bf16 and fp8 storage,
// from the plans. It also prints each mode's weight budget, the time spent waiting for copies
// (stall), and the device peak measured by the counting allocator.
//
// The modes run interleaved (one step of each mode, then again, each round starting at the next
// mode), after one untimed warm-up step per token count, so that noise from other work on the
// machine and one-time costs hit them alike; the tables report medians. Each measurement builds its
// provider afresh and runs the once-per-request modulation pass before the timed step, as a request
// does, so that no mode's background copies run during another mode's step.
//
//   build/bench/bench_streaming [--tokens 256,1024,4608] [--steps 2] [--config full|small]
//                               [--threads N] [--dtype f32|bf16] [--sweep N]
// --sweep N also times N budgets from the minimum to all-resident at the first token count.
#include <ATen/Parallel.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench/support/flux_bench.h"
#include "engine/flux/flux_transformer.h"
#include "engine/memory/cpu_memory_meter.h"
#include "engine/memory/scoped_peak.h"
#include "engine/streaming/host_storage.h"
#include "engine/streaming/host_tensor.h"
#include "engine/streaming/residency_plan.h"
#include "engine/streaming/streaming_weight_provider.h"

namespace streamdit::engine {
namespace {

using bench::Clock;
using bench::FullConfig;
using bench::HostWeights;
using bench::Inputs;
using bench::Median;
using bench::Seconds;

double GB(int64_t bytes) { return bytes / 1e9; }

struct Options {
  std::vector<int64_t> tokens = {256, 1024, 4608};
  int steps = 2;
  std::string config = "full";
  int threads = 0;  // 0: libtorch's default
  int sweep = 0;    // budgets from the minimum to all-resident timed at the first token count
  torch::ScalarType compute = torch::kFloat;
};

Options ParseOptions(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) throw std::invalid_argument(flag + " needs a value");
    const std::string value = argv[++i];
    if (flag == "--tokens") {
      options.tokens = bench::ParsePositiveList(flag, value);
    } else if (flag == "--steps") {
      options.steps = std::max(1, std::atoi(value.c_str()));
    } else if (flag == "--config") {
      if (value != "full" && value != "small") throw std::invalid_argument("--config full|small");
      options.config = value;
    } else if (flag == "--threads") {
      options.threads = std::atoi(value.c_str());
    } else if (flag == "--sweep") {
      options.sweep = std::atoi(value.c_str());
      if (options.sweep == 1 || options.sweep < 0) throw std::invalid_argument("--sweep 0 or >= 2");
    } else if (flag == "--dtype") {
      if (value != "f32" && value != "bf16") throw std::invalid_argument("--dtype f32|bf16");
      options.compute = value == "f32" ? torch::kFloat : torch::kBFloat16;
    } else {
      throw std::invalid_argument("unknown flag " + flag);
    }
  }
  return options;
}

// One way of holding the weights: which model (bf16 or fp8 host storage), the plan, the options.
struct Mode {
  std::string name;
  const FluxTransformer* model = nullptr;
  StreamingOptions options;
  ResidencyPlan plan;
  int64_t budget = 0;  // weight bytes the plan was made for
  std::vector<double> step_seconds, stall_seconds, modulation_seconds;
  std::vector<int64_t> peak_bytes;
};

std::vector<PlannedBlock> Describe(const FluxTransformer& model, torch::ScalarType compute) {
  const FluxWeights& w = model.weights();
  // Vec and modulation blocks are used once per request (modulation precompute), the rest per step.
  std::vector<bool> per_step(w.VecAndModulationOrder().size(), false);
  per_step.resize(w.ForwardOrder().size(), true);
  return DescribeBlocks(w.ForwardOrder(), per_step, compute, torch::kCPU);
}

Mode MakeMode(const std::string& name, const FluxTransformer& model, int prefetch_depth,
              bool minimum, torch::ScalarType compute) {
  Mode mode;
  mode.name = name;
  mode.model = &model;
  mode.options.prefetch_depth = prefetch_depth;
  mode.options.compute_dtype = compute;
  const std::vector<PlannedBlock> blocks = Describe(model, compute);
  mode.budget =
      minimum ? MinimumWeightBytes(blocks, mode.options) : std::numeric_limits<int64_t>::max();
  mode.plan = PlanResidency(blocks, mode.budget, mode.options);
  if (!minimum) mode.budget = mode.plan.weight_bytes();
  return mode;
}

// A plan with prefetch at an explicit weight budget.
Mode MakeModeAtBudget(const FluxTransformer& model, int64_t budget, torch::ScalarType compute) {
  Mode mode;
  mode.model = &model;
  mode.options.prefetch_depth = 1;
  mode.options.compute_dtype = compute;
  mode.budget = budget;
  mode.plan = PlanResidency(Describe(model, compute), budget, mode.options);
  mode.name = std::to_string(budget);
  return mode;
}

// One request's worth of work for one step: the modulation pass (once per request), then the
// timed step.
void MeasureStep(Mode& mode, const FluxInputs& inputs, torch::ScalarType compute) {
  const FluxTransformer& model = *mode.model;
  ScopedPeak peak;  // before the provider: its resident copies and ring count too
  StreamingWeightProvider provider(mode.plan, mode.options, ExecutionTarget::Cpu());
  // The modulation blocks, then straight on into the step's blocks; one pass, so that no copy
  // for a next step runs after the timed one.
  provider.SetOrder(model.weights().ForwardOrder(), /*passes=*/1);
  auto start = Clock::now();
  const torch::Tensor vec =
      model.ComputeVec(inputs.timesteps, inputs.y, inputs.guidance, provider, compute);
  const FluxModulation modulation = model.ComputeModulation(vec, provider);
  mode.modulation_seconds.push_back(Seconds(start));

  const double stall_before = provider.stall_seconds();
  start = Clock::now();
  const torch::Tensor out = model.ForwardWithModulation(inputs, modulation, provider, compute);
  mode.step_seconds.push_back(Seconds(start));
  mode.stall_seconds.push_back(provider.stall_seconds() - stall_before);
  mode.peak_bytes.push_back(peak.peak_above_start_bytes());
  if (!out.isfinite().all().item<bool>())
    throw std::runtime_error(mode.name + ": non-finite output");
}

// Bytes of the blocks that fp8 storage converts, as the model holds them now.
int64_t ConvertedBytes(FluxTransformer& model) {
  int64_t bytes = 0;
  for (const WeightBlock* block : Fp8EligibleBlocks(model.mutable_weights())) {
    bytes += block->nbytes();
  }
  return bytes;
}

void Run(const Options& options) {
  const FluxConfig config = options.config == "full" ? FullConfig() : bench::DemoScaleConfig();
  const int64_t txt_tokens = options.config == "full" ? 512 : 64;
  const torch::ScalarType compute = options.compute;
  const char* compute_name = compute == torch::kFloat ? "f32" : "bf16";

  std::printf(
      "bench_streaming: config %s (hidden %ld, %ld heads, mlp %ld, %ld double + %ld single "
      "blocks), random bf16 weights in the host tier\n",
      options.config.c_str(), long(config.hidden_size), long(config.num_heads),
      long(config.mlp_hidden), long(config.depth), long(config.depth_single_blocks));
  std::printf("compute %s, %d threads, %d step(s) per mode, modes interleaved, medians\n",
              compute_name, at::get_num_threads(), options.steps);

  auto start = Clock::now();
  CpuMemoryMeter::Install();  // before any measured allocation
  FluxTransformer bf16(config, HostWeights(config));
  // The same tensors, then the eligible ones replaced by fp8 copies (the bf16 model keeps its own).
  FluxTransformer fp8(config, bf16.weights());
  const int64_t saved = ConvertBlocksToFp8(Fp8EligibleBlocks(fp8.mutable_weights()));
  std::printf("weights: %.3f GB bf16, %.3f GB with fp8 storage (%.3f GB saved); made in %.1f s\n",
              GB(bf16.weights().nbytes()), GB(fp8.weights().nbytes()), GB(saved), Seconds(start));

  std::vector<Mode> modes;
  modes.push_back(MakeMode("resident", bf16, 1, /*minimum=*/false, compute));
  modes.push_back(MakeMode("min+prefetch", bf16, 1, /*minimum=*/true, compute));
  modes.push_back(MakeMode("min no-prefetch", bf16, 0, /*minimum=*/true, compute));
  modes.push_back(MakeMode("fp8 min+prefetch", fp8, 1, /*minimum=*/true, compute));
  std::printf("weight budgets (resident + ring + conversion):\n");
  for (const Mode& mode : modes) {
    std::printf("  %-17s %8.3f GB  (%d of %zu blocks resident, %d slots of %.3f GB)\n",
                mode.name.c_str(), GB(mode.budget), mode.plan.resident_count(),
                mode.plan.blocks.size(), mode.plan.num_slots, GB(mode.plan.slot_bytes));
  }

  std::printf("\ntime per step (s, median), its ratio to resident, stall (s) waiting for copies\n");
  std::printf("%7s %5s | %9s | %9s %6s %6s | %9s %6s %6s | %9s %6s %6s\n", "img", "txt", "resident",
              "min+pf", "ratio", "stall", "min-nopf", "ratio", "stall", "fp8+pf", "ratio", "stall");
  // Printed after the time table: measured peak and modulation pass time per mode.
  std::vector<std::string> peak_rows;
  for (int64_t tokens : options.tokens) {
    const FluxInputs inputs = Inputs(config, tokens, txt_tokens);
    // One untimed step first: the first step at a new token count pays one-time costs (kernel
    // selection for new shapes, first touch of fresh memory) that would land on whichever mode
    // ran first.
    MeasureStep(modes[1], inputs, compute);
    for (Mode& mode : modes) {
      mode.step_seconds.clear();
      mode.stall_seconds.clear();
      mode.modulation_seconds.clear();
      mode.peak_bytes.clear();
    }
    // Each round starts at the next mode, so that no mode always runs first (after the previous
    // token count or round) or last.
    for (int step = 0; step < options.steps; ++step) {
      for (std::size_t i = 0; i < modes.size(); ++i) {
        MeasureStep(modes[(step + i) % modes.size()], inputs, compute);
      }
    }
    const double resident = Median(modes[0].step_seconds);
    std::printf("%7ld %5ld | %9.3f", long(tokens), long(txt_tokens), resident);
    for (std::size_t i = 1; i < modes.size(); ++i) {
      const double s = Median(modes[i].step_seconds);
      std::printf(" | %9.3f %6.2f %6.3f", s, s / resident, Median(modes[i].stall_seconds));
    }
    std::printf("\n");
    std::fflush(stdout);
    char row[256];
    int used = std::snprintf(row, sizeof row, "%7ld", long(tokens));
    for (const Mode& mode : modes) {
      used += std::snprintf(row + used, sizeof row - used, " | %8.3f %7.3f",
                            GB(*std::max_element(mode.peak_bytes.begin(), mode.peak_bytes.end())),
                            Median(mode.modulation_seconds));
    }
    peak_rows.push_back(row);
  }
  std::printf(
      "\nmeasured device peak (GB: weights + activations, the largest over the steps) and the "
      "once-per-request modulation pass (s)\n");
  std::printf("%7s", "img");
  for (const char* name : {"resident", "min+pf", "min-nopf", "fp8+pf"}) {
    std::printf(" | %8s %7s", name, "mod s");
  }
  std::printf("\n");
  for (const std::string& row : peak_rows) std::printf("%s\n", row.c_str());

  // Bytes from the plans at the minimum budget (with prefetch). Without precompute every step
  // streams the modulation blocks as well (Forward computes vec and modulation each step).
  std::printf("\nbytes streamed per step at the minimum budget (prefetch depth 1):\n");
  std::printf("%-8s %16s %16s %16s\n", "storage", "precompute GB", "no precompute GB",
              "per request GB");
  const ResidencyPlan& bf16_plan = modes[1].plan;
  const ResidencyPlan& fp8_plan = modes[3].plan;
  for (const auto& [name, plan] :
       {std::make_pair("bf16", &bf16_plan), std::make_pair("fp8", &fp8_plan)}) {
    std::printf("%-8s %16.3f %16.3f %16.3f\n", name, GB(plan->streamed_bytes_per_step()),
                GB(plan->streamed_bytes_per_step() + plan->streamed_bytes_per_request()),
                GB(plan->streamed_bytes_per_request()));
  }
  const double with = bf16_plan.streamed_bytes_per_step();
  const double without = with + bf16_plan.streamed_bytes_per_request();
  std::printf("modulation precompute: %.1f%% fewer bytes per step (bf16)\n",
              100.0 * (1 - with / without));
  std::printf(
      "fp8 storage: %.1f%% of the bf16 bytes per step; the converted blocks take %.1f%% of "
      "their bf16 bytes\n",
      100.0 * fp8_plan.streamed_bytes_per_step() / with,
      100.0 * ConvertedBytes(fp8) / ConvertedBytes(bf16));

  if (options.sweep < 2) return;
  // A larger budget must never be slower: time per step at evenly spaced weight budgets from the
  // minimum to all-resident, interleaved like the modes above.
  const int64_t low = modes[1].budget, high = modes[0].budget;
  std::vector<Mode> sweep;
  for (int i = 0; i < options.sweep; ++i) {
    sweep.push_back(MakeModeAtBudget(bf16, low + (high - low) * i / (options.sweep - 1), compute));
  }
  const FluxInputs inputs = Inputs(config, options.tokens.front(), txt_tokens);
  MeasureStep(sweep.front(), inputs, compute);  // untimed warm-up
  sweep.front().step_seconds.clear();
  for (int step = 0; step < options.steps; ++step) {
    for (std::size_t i = 0; i < sweep.size(); ++i) {
      MeasureStep(sweep[(step + i) % sweep.size()], inputs, compute);
    }
  }
  std::printf(
      "\nbudget sweep at %ld image tokens (prefetch depth 1): time per step (s, median), ratio "
      "to the minimum budget's\n",
      long(options.tokens.front()));
  std::printf("%12s %9s %14s %9s %6s %7s\n", "budget GB", "resident", "streamed GB", "s/step",
              "ratio", "stall");
  const double minimum = Median(sweep.front().step_seconds);
  for (const Mode& mode : sweep) {
    const double s = Median(mode.step_seconds);
    std::printf("%12.3f %4d/%-4zu %14.3f %9.3f %6.2f %7.3f\n", GB(mode.budget),
                mode.plan.resident_count(), mode.plan.blocks.size(),
                GB(mode.plan.streamed_bytes_per_step()), s, s / minimum,
                Median(mode.stall_seconds));
  }
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
    std::fprintf(stderr, "bench_streaming: %s\n", e.what());
    return 1;
  }
  return 0;
}
