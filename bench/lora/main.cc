// bench_lora: what run-time LoRA costs on the FLUX transformer at FLUX.1 widths (hidden 3072,
// 24 heads, 2 double + 2 single blocks: every block the size of the real model's), random bf16
// weights.
//
// The LoRAs are converted to the compute dtype once, before the timed passes, as a job converts
// them once for all its steps.
// Part 1, resident compute-dtype weights: one forward pass (vec, modulation, one step) with 0, 1
// and 4 LoRAs of rank 16 and of rank 64 on every linear layer of the double and single blocks
// (sd-scripts' default targets: attention, MLPs and modulation), as ratios to no LoRA.
// Part 2, weights streamed at the minimum budget (prefetch 1), as a card that cannot hold the
// model runs: a mixed batch of 4 images with 4 different rank-16 LoRAs in one pass against the
// same 4 images run one by one, each with its LoRA. The batch streams the weights once for all 4.
//
// Modes run interleaved (one pass of each, then again, each round starting at the next mode)
// after an untimed warm-up pass; the tables report medians and ratios from the same run.
//
//   build/bench/bench_lora [--tokens 256] [--txt 512] [--rounds 2] [--threads N] [--dtype f32|bf16]
#include <ATen/Parallel.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench/support/flux_bench.h"
#include "engine/flux/flux_transformer.h"
#include "engine/lora/lora_adapter.h"
#include "engine/lora/lora_job_adapters.h"
#include "engine/memory/cpu_memory_meter.h"
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

struct Options {
  int64_t tokens = 256;
  int64_t txt = 512;
  int rounds = 2;
  int threads = 0;
  torch::ScalarType compute = torch::kFloat;
};

Options ParseOptions(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) throw std::invalid_argument(flag + " needs a value");
    const std::string value = argv[++i];
    if (flag == "--tokens") {
      options.tokens = std::max<int64_t>(1, std::atoll(value.c_str()));
    } else if (flag == "--txt") {
      options.txt = std::max<int64_t>(1, std::atoll(value.c_str()));
    } else if (flag == "--rounds") {
      options.rounds = std::max(1, std::atoi(value.c_str()));
    } else if (flag == "--threads") {
      options.threads = std::atoi(value.c_str());
    } else if (flag == "--dtype") {
      if (value != "f32" && value != "bf16") throw std::invalid_argument("--dtype f32|bf16");
      options.compute = value == "f32" ? torch::kFloat : torch::kBFloat16;
    } else {
      throw std::invalid_argument("unknown flag " + flag);
    }
  }
  return options;
}

// A LoRA of `rank` on every linear of the double and single blocks (and their modulation), as
// sd-scripts trains by default; random values, scale alpha / rank = 1.
std::shared_ptr<const LoraAdapter> RandomLora(const FluxTransformer& model, int64_t rank,
                                              uint64_t seed, const std::string& name) {
  torch::manual_seed(seed);
  std::vector<LoraModule> modules;
  const FluxWeights& w = model.weights();
  std::vector<const WeightBlock*> blocks;
  for (const auto* list :
       {&w.double_blocks, &w.double_modulation, &w.single_blocks, &w.single_modulation}) {
    for (const WeightBlock& block : *list) blocks.push_back(&block);
  }
  for (const WeightBlock* block : blocks) {
    for (const auto& [tensor, stored] : block->tensors) {
      const std::string suffix = ".weight";
      if (stored.dim() != 2 || tensor.size() < suffix.size() ||
          tensor.compare(tensor.size() - suffix.size(), suffix.size(), suffix) != 0) {
        continue;
      }
      LoraModule module;
      module.block = block->name;
      module.module = tensor.substr(0, tensor.size() - suffix.size());
      module.key = block->name + "." + module.module;
      module.down = (torch::randn({rank, stored.size(1)}) * 0.01).to(torch::kBFloat16);
      module.up = (torch::randn({stored.size(0), rank}) * 0.01).to(torch::kBFloat16);
      modules.push_back(std::move(module));
    }
  }
  return std::make_shared<LoraAdapter>(name, "<random>", LoraFormat::kKohya, Checkpoint(),
                                       std::move(modules));
}

// Every block materialized once in the compute dtype: the resident path.
class ResidentProvider : public WeightProvider {
 public:
  ResidentProvider(const FluxWeights& weights, torch::ScalarType compute) {
    for (const WeightBlock* block : weights.AllBlocks()) {
      std::unordered_map<std::string, torch::Tensor> tensors;
      for (const auto& [name, stored] : block->tensors) {
        tensors.emplace(name, Materialize(stored, compute, torch::kCPU));
      }
      blocks_.emplace(block, BlockTensors(std::move(tensors)));
    }
  }
  BlockTensors Acquire(const WeightBlock& block) override { return blocks_.at(&block); }

 private:
  std::map<const WeightBlock*, BlockTensors> blocks_;
};

// A non-owning view of a provider, so that AdaptedWeightProvider can wrap a shared one.
class Borrowed : public WeightProvider {
 public:
  explicit Borrowed(WeightProvider& base) : base_(base) {}
  BlockTensors Acquire(const WeightBlock& block) override { return base_.Acquire(block); }
  void Release(const WeightBlock& block) override { base_.Release(block); }
  void SetOrder(const std::vector<const WeightBlock*>& order, int64_t passes) override {
    base_.SetOrder(order, passes);
  }

 private:
  WeightProvider& base_;
};

struct Mode {
  std::string name;
  std::function<void()> pass;
  std::vector<double> seconds;
};

void RunInterleaved(std::vector<Mode>& modes, int rounds) {
  modes.front().pass();  // untimed warm-up
  for (int round = 0; round < rounds; ++round) {
    for (std::size_t i = 0; i < modes.size(); ++i) {
      Mode& mode = modes[(round + i) % modes.size()];
      const auto start = Clock::now();
      mode.pass();
      mode.seconds.push_back(Seconds(start));
    }
  }
}

void Run(const Options& o) {
  const FluxConfig config = FullConfig();
  CpuMemoryMeter::Install();
  const FluxTransformer model(config, HostWeights(config));
  const torch::ScalarType compute = o.compute;
  std::printf(
      "bench_lora: hidden %ld, %ld double + %ld single blocks, bf16 weights, compute %s, %d "
      "threads, %ld image + %ld text tokens, %d rounds interleaved, medians\n",
      long(config.hidden_size), long(config.depth), long(config.depth_single_blocks),
      compute == torch::kFloat ? "f32" : "bf16", at::get_num_threads(), long(o.tokens), long(o.txt),
      o.rounds);

  std::map<std::string, std::shared_ptr<const LoraAdapter>> loras;
  for (int64_t rank : {16, 64}) {
    for (int i = 0; i < 4; ++i) {
      const std::string name = "r" + std::to_string(rank) + "-" + std::to_string(i);
      loras[name] = RandomLora(model, rank, 100 + rank + i, name);
    }
  }

  // Part 1: resident weights, 0 / 1 / 4 LoRAs on one image.
  ResidentProvider resident(model.weights(), compute);
  const FluxInputs one = Inputs(config, o.tokens, o.txt);
  // A job converts its LoRAs once (BuildComponentAdapters) and then runs every step with them: the
  // timed pass is one step's forward with the adapters ready, as in the pipeline.
  auto prepare = [&](const std::vector<std::vector<LoraUse>>& per_sample) {
    std::vector<const std::vector<LoraUse>*> samples;
    for (const auto& uses : per_sample) samples.push_back(&uses);
    return BuildComponentAdapters(PipelineComponent::kTransformer, samples, compute, torch::kCPU);
  };
  auto forward = [&](WeightProvider& base, const FluxInputs& inputs,
                     const std::shared_ptr<const ComponentAdapters>& adapters) {
    const std::unique_ptr<WeightProvider> provider =
        WithAdapters(std::make_unique<Borrowed>(base), adapters);
    torch::NoGradGuard no_grad;
    const torch::Tensor out = model.Forward(inputs, *provider, compute);
    if (!out.isfinite().all().item<bool>()) throw std::runtime_error("non-finite output");
  };
  std::vector<Mode> modes;
  auto uses = [&](int rank, int count) {
    std::vector<LoraUse> list;
    for (int i = 0; i < count; ++i) {
      list.push_back({loras.at("r" + std::to_string(rank) + "-" + std::to_string(i)), 1.0});
    }
    return list;
  };
  for (const auto& [name, rank, count] :
       {std::make_tuple("no LoRA", 16, 0), std::make_tuple("1 x r16", 16, 1),
        std::make_tuple("4 x r16", 16, 4), std::make_tuple("1 x r64", 64, 1),
        std::make_tuple("4 x r64", 64, 4)}) {
    const auto adapters = prepare({uses(rank, count)});
    modes.push_back({name, [&, adapters] { forward(resident, one, adapters); }, {}});
  }
  RunInterleaved(modes, o.rounds);
  std::printf("\nresident weights: one forward pass (s, median) and its ratio to no LoRA\n");
  const double base = Median(modes.front().seconds);
  for (const Mode& mode : modes) {
    const double s = Median(mode.seconds);
    std::printf("  %-8s %9.3f s  %6.3f\n", mode.name.c_str(), s, s / base);
  }

  // Part 2: streamed at the minimum budget; a mixed batch of 4 against 4 single runs.
  StreamingOptions streaming;
  streaming.prefetch_depth = 1;
  streaming.compute_dtype = compute;
  const FluxWeights& w = model.weights();
  std::vector<bool> per_step(w.VecAndModulationOrder().size(), false);
  per_step.resize(w.ForwardOrder().size(), true);
  const std::vector<PlannedBlock> blocks =
      DescribeBlocks(w.ForwardOrder(), per_step, compute, torch::kCPU);
  const ResidencyPlan plan =
      PlanResidency(blocks, MinimumWeightBytes(blocks, streaming), streaming);
  auto streamed = [&](const FluxInputs& inputs,
                      const std::shared_ptr<const ComponentAdapters>& adapters) {
    StreamingWeightProvider provider(plan, streaming, ExecutionTarget::Cpu());
    provider.SetOrder(w.ForwardOrder(), 1);
    forward(provider, inputs, adapters);
  };
  const FluxInputs four = Inputs(config, o.tokens, o.txt, /*batch=*/4);
  std::vector<std::vector<LoraUse>> mixed;
  for (int i = 0; i < 4; ++i) mixed.push_back({{loras.at("r16-" + std::to_string(i)), 1.0}});
  const auto mixed_adapters = prepare(mixed);
  std::vector<std::shared_ptr<const ComponentAdapters>> single_adapters;
  for (int i = 0; i < 4; ++i) single_adapters.push_back(prepare({mixed[i]}));
  std::vector<Mode> batch_modes;
  batch_modes.push_back({"mixed batch of 4", [&] { streamed(four, mixed_adapters); }, {}});
  batch_modes.push_back({"4 single runs",
                         [&] {
                           for (int i = 0; i < 4; ++i) streamed(one, single_adapters[i]);
                         },
                         {}});
  RunInterleaved(batch_modes, o.rounds);
  const double batched = Median(batch_modes[0].seconds);
  const double singles = Median(batch_modes[1].seconds);
  std::printf(
      "\nweights streamed at the minimum budget (%.3f GB, prefetch 1), 4 images with 4 different "
      "rank-16 LoRAs:\n",
      MinimumWeightBytes(blocks, streaming) / 1e9);
  std::printf("  %-18s %9.3f s\n  %-18s %9.3f s\n  batch / singles %6.3f\n", "mixed batch of 4",
              batched, "4 single runs", singles, batched / singles);
}

}  // namespace
}  // namespace streamdit::engine

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  try {
    const streamdit::engine::Options options = streamdit::engine::ParseOptions(argc, argv);
    if (options.threads > 0) at::set_num_threads(options.threads);
    streamdit::engine::Run(options);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_lora: %s\n", e.what());
    return 1;
  }
  return 0;
}
