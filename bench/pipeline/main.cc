// bench_pipeline: `generate --local` on the demo model, phase by phase, and the VAE decode's
// memory peak tiled vs untiled. Prints, in one run:
//   - encode / denoise (per step) / decode / PNG / total seconds at 512x512 and 1024x1024,
//     4 steps, with the demo config's T5 length (128), first with cold caches, then with the
//     prompt cached (encode skipped);
//   - the CPU memory peak above the start (CpuMemoryMeter: every libtorch CPU allocation counted)
//     and the time of an untiled and a tiled VAE decode at 1024x1024 and 2048x2048;
//   - a batch of 3 requests (different prompts, seeds and guidance; GenerateBatch) against the
//     same 3 requests run one by one, measured side by side in interleaved rounds (the order
//     alternates), prompts cached: median seconds per image of the denoising phase and of the
//     whole job for each, and the ratio batch / single (below 1: the batch is cheaper per image),
//     all weights resident, then each job at its minimum budget (every per-step block streamed:
//     the batch copies the weights once per step for all its images).
//
//   build/bench/bench_pipeline [--model-dir DIR] [--threads N] [--sizes 512,1024]
//                              [--vae-sizes 1024,2048] [--skip-vae]
//                              [--batch-size 256] [--batch-rounds 5] [--skip-batch]
// The demo model is written to DIR (default: build/demo-model under the working folder) if missing.
#include <ATen/Parallel.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include "engine/demo/demo_model.h"
#include "engine/memory/cpu_memory_meter.h"
#include "engine/memory/scoped_peak.h"
#include "engine/pipeline/flux_pipeline.h"
#include "engine/sampling/noise.h"
#include "engine/vae/vae_decoder.h"

namespace streamdit::engine {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

std::vector<int> ParseSizes(const char* text) {
  std::vector<int> sizes;
  std::stringstream stream(text);
  for (std::string item; std::getline(stream, item, ',');) sizes.push_back(std::stoi(item));
  return sizes;
}

void PrintRun(const char* label, int size, const GenerationResult& result) {
  const PhaseTimings& t = result.timings;
  double step_mean = 0;
  for (double s : t.step_seconds) step_mean += s / t.step_seconds.size();
  std::printf(
      "%-14s %4dx%-4d  encode %6.3f  denoise %6.3f (%.3f/step)  decode %6.3f  png %5.3f"
      "  total %6.3f s\n",
      label, size, size, t.encode_seconds, t.denoise_seconds, step_mean, t.decode_seconds,
      t.png_seconds, t.total_seconds);
}

double MiB(int64_t bytes) { return static_cast<double>(bytes) / (1 << 20); }

double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const std::size_t n = values.size();
  return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

// The least budget a batch of requests runs in (everything streamed).
JobMemoryOptions MinimumBudget(const FluxPipeline& pipeline,
                               const std::vector<GenerationRequest>& requests) {
  const std::vector<ResolvedRequest> jobs =
      ResolveGenerationBatch(requests, pipeline.defaults(), pipeline.limits());
  JobMemoryOptions memory;
  memory.budget_bytes = pipeline.PlanMemory(jobs, torch::kCPU, std::nullopt).minimum_budget_bytes();
  return memory;
}

// Batch of 3 vs the 3 requests alone, interleaved; per-image medians over `rounds`. `streamed`:
// each job runs at its own minimum budget.
void CompareBatchWithSingles(const FluxPipeline& pipeline, int size, int rounds, bool streamed) {
  std::vector<GenerationRequest> requests(3);
  const char* prompts[] = {"a red fox in the snow", "a blue whale under the ice",
                           "a lighthouse on a cliff at dusk"};
  const double guidance[] = {3.5, 1.5, 6.0};
  for (int r = 0; r < 3; ++r) {
    requests[r].prompt = prompts[r];
    requests[r].seed = 100 + 17 * r;
    requests[r].guidance = guidance[r];
    requests[r].width = requests[r].height = size;
    requests[r].steps = 4;
  }
  const JobMemoryOptions batch_memory =
      streamed ? MinimumBudget(pipeline, requests) : JobMemoryOptions{};
  pipeline.GenerateBatch(
      requests, ExecutionTarget::Cpu());  // warm-up: caches the prompts, touches every weight
  std::vector<double> batch_denoise, batch_total, single_denoise, single_total;
  auto run_batch = [&] {
    const BatchResult batch =
        pipeline.GenerateBatch(requests, ExecutionTarget::Cpu(), {}, batch_memory);
    batch_denoise.push_back(batch.timings.denoise_seconds / 3);
    batch_total.push_back(batch.timings.total_seconds / 3);
  };
  auto run_singles = [&] {
    double denoise = 0, total = 0;
    for (const GenerationRequest& request : requests) {
      const JobMemoryOptions memory =
          streamed ? MinimumBudget(pipeline, {request}) : JobMemoryOptions{};
      const GenerationResult result =
          pipeline.Generate(request, ExecutionTarget::Cpu(), {}, memory);
      denoise += result.timings.denoise_seconds;
      total += result.timings.total_seconds;
    }
    single_denoise.push_back(denoise / 3);
    single_total.push_back(total / 3);
  };
  for (int round = 0; round < rounds; ++round) {
    if (round % 2 == 0) {
      run_batch();
      run_singles();
    } else {
      run_singles();
      run_batch();
    }
  }
  const double bd = Median(batch_denoise), bt = Median(batch_total);
  const double sd = Median(single_denoise), st = Median(single_total);
  const char* mode = streamed ? "streamed" : "resident";
  std::printf(
      "%s batch of 3  %4dx%-4d  per image: denoise %6.3f  total %6.3f s   (%d rounds, medians)\n"
      "%s 3 singles   %4dx%-4d  per image: denoise %6.3f  total %6.3f s\n"
      "%s batch/single            ratio: denoise %6.3f  total %6.3f\n",
      mode, size, size, bd, bt, rounds, mode, size, size, sd, st, mode, bd / sd, bt / st);
}

int Main(int argc, char** argv) {
  std::string model_dir = "build/demo-model";
  std::vector<int> sizes = {512, 1024};
  std::vector<int> vae_sizes = {1024, 2048};
  bool skip_vae = false;
  bool skip_batch = false;
  int batch_size = 256;
  int batch_rounds = 5;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--model-dir") && i + 1 < argc) {
      model_dir = argv[++i];
    } else if (!std::strcmp(argv[i], "--threads") && i + 1 < argc) {
      at::set_num_threads(std::stoi(argv[++i]));
    } else if (!std::strcmp(argv[i], "--sizes") && i + 1 < argc) {
      sizes = ParseSizes(argv[++i]);
    } else if (!std::strcmp(argv[i], "--vae-sizes") && i + 1 < argc) {
      vae_sizes = ParseSizes(argv[++i]);
    } else if (!std::strcmp(argv[i], "--skip-vae")) {
      skip_vae = true;
    } else if (!std::strcmp(argv[i], "--skip-batch")) {
      skip_batch = true;
    } else if (!std::strcmp(argv[i], "--batch-size") && i + 1 < argc) {
      batch_size = std::stoi(argv[++i]);
    } else if (!std::strcmp(argv[i], "--batch-rounds") && i + 1 < argc) {
      batch_rounds = std::stoi(argv[++i]);
    } else {
      std::fprintf(stderr, "unknown argument %s\n", argv[i]);
      return 2;
    }
  }
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // progress lines appear as they are measured
  // Installed before any tensor exists so that every allocation is counted.
  CpuMemoryMeter& meter = CpuMemoryMeter::Install();
  if (!DemoModelExists(model_dir)) {
    const auto start = Clock::now();
    WriteDemoModel(model_dir);
    std::printf("demo model written to %s in %.2f s\n", model_dir.c_str(), Seconds(start));
  }
  PipelineConfig config;
  config.paths = FindModelFiles(model_dir);
  config.model_name = "flux1-demo";
  config.t5_max_length = 128;  // as config/default.yaml
  const FluxPipeline pipeline = FluxPipeline::Load(config);
  std::printf("threads %d, compute f32, T5 length %lld, 4 steps\n", at::get_num_threads(),
              static_cast<long long>(pipeline.t5_max_length()));

  for (int size : sizes) {
    GenerationRequest request;
    request.prompt = "a lighthouse on a cliff at dusk, size " + std::to_string(size);
    request.width = request.height = size;
    request.steps = 4;
    request.seed = 42;
    ScopedPeak peak(meter.meter());
    PrintRun("cold prompt", size, pipeline.Generate(request, ExecutionTarget::Cpu()));
    const int64_t cold_peak = peak.peak_above_start_bytes();
    request.seed = 43;
    PrintRun("cached prompt", size, pipeline.Generate(request, ExecutionTarget::Cpu()));
    std::printf(
        "%-14s %4dx%-4d  peak above start %.1f MiB (whole job, untiled decode <= 64 "
        "latent px)\n",
        "memory", size, size, MiB(cold_peak));
  }

  if (!skip_vae) {
    const VaeDecoder& vae = pipeline.vae();
    DirectWeightProvider provider(torch::kFloat, torch::kCPU);
    for (int size : vae_sizes) {
      const torch::Tensor latent =
          FluxNoise(1, size, size, 7).to(torch::kFloat).mul(0.5);  // [1, 16, size/8, size/8]
      for (bool tiled : {false, true}) {
        ScopedPeak peak(meter.meter());
        const auto start = Clock::now();
        torch::Tensor image = tiled ? vae.DecodeTiled(latent, provider, torch::kFloat)
                                    : vae.Decode(latent, provider, torch::kFloat);
        const double seconds = Seconds(start);
        const int64_t output = image.numel() * 4;
        image = torch::Tensor();
        std::printf(
            "vae %-8s %4dx%-4d  peak above start %8.1f MiB (output alone %6.1f MiB)  "
            "%6.2f s\n",
            tiled ? "tiled" : "untiled", size, size, MiB(peak.peak_above_start_bytes()),
            MiB(output), seconds);
      }
    }
  }
  if (!skip_batch) {
    for (bool streamed : {false, true}) {
      CompareBatchWithSingles(pipeline, batch_size, batch_rounds, streamed);
    }
  }
  return 0;
}

}  // namespace
}  // namespace streamdit::engine

int main(int argc, char** argv) { return streamdit::engine::Main(argc, argv); }
