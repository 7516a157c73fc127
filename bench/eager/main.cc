// bench_eager: streamdit's FLUX transformer against the same forward pass in eager PyTorch
// (bench/eager/flux_eager.py, run by .venv's torch: the same libtorch and BLAS), side by
// side in one run. FLUX.1 widths (hidden 3072, 24 heads) with 2 double + 2 single blocks, random
// bf16 weights, f32 compute, 512 text tokens, one forward pass per measurement.
//
// streamdit runs three ways: resident (the weights converted to f32 once, before timing, as a
// served model's resident copy), direct (bf16 converted at each use) and streamed (the minimum
// weight budget, prefetch depth 1), each through the default float32 kernel
// (engine/tensor/linear_kernel.h: oneDNN where libtorch has it), and resident once more through
// the BLAS kernel eager PyTorch uses ("res.blas"), which says how much of the ratio is the kernel.
// PyTorch gets the weights converted to f32 once at load. The five run interleaved (each round
// starts at the next one), so that machine noise hits them alike; the table reports medians, each
// side's user and system CPU time per forward, and the ratio streamdit / PyTorch (below 1:
// streamdit is faster). Both sides compute the same function: every output is compared with
// streamdit's direct output (max |difference| / max |output|).
//
//   build/bench/bench_eager [--tokens 256,1024,4096] [--threads 1,2] [--rounds 3]
//                           [--script bench/eager/flux_eager.py] [--scratch /tmp]
#include <ATen/Parallel.h>
#include <dlfcn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench/support/flux_bench.h"
#include "engine/checkpoint/safetensors.h"
#include "engine/memory/cpu_memory_meter.h"
#include "engine/streaming/residency_plan.h"
#include "engine/streaming/streaming_weight_provider.h"
#include "engine/tensor/linear_kernel.h"
#include "tests/support/build_paths.h"

namespace streamdit::engine {
namespace {

using bench::Clock;
using bench::Median;
using bench::Seconds;

struct Options {
  std::vector<int64_t> tokens = {256, 1024, 4096};
  std::vector<int64_t> threads = {1, 2};
  int rounds = 3;
  std::string script = std::string(build_paths::SourceDir()) + "/bench/eager/flux_eager.py";
  std::string scratch = "/tmp";
};

Options ParseOptions(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) throw std::invalid_argument(flag + " needs a value");
    const std::string value = argv[++i];
    if (flag == "--tokens") {
      o.tokens = bench::ParsePositiveList(flag, value);
    } else if (flag == "--threads") {
      o.threads = bench::ParsePositiveList(flag, value);
    } else if (flag == "--rounds") {
      o.rounds = std::max(1, std::atoi(value.c_str()));
    } else if (flag == "--script") {
      o.script = value;
    } else if (flag == "--scratch") {
      o.scratch = value;
    } else {
      throw std::invalid_argument("unknown flag " + flag);
    }
  }
  return o;
}

// Both libtorch's pool and OpenBLAS's (which at::set_num_threads does not reach in every build).
void SetThreads(int threads) {
  at::set_num_threads(threads);
  using SetBlasThreads = void (*)(int);
  if (auto set =
          reinterpret_cast<SetBlasThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) {
    set(threads);
  }
}

struct Sample {
  double wall = 0, user = 0, sys = 0, diff = 0;
};

double CpuSeconds(const timeval& t) { return t.tv_sec + t.tv_usec / 1e6; }

// The eager PyTorch side: flux_eager.py in a child process, one forward per "run" line.
class EagerProcess {
 public:
  EagerProcess(const Options& o, const std::string& weights, const std::string& inputs,
               int threads) {
    int to_child[2], from_child[2];
    if (pipe(to_child) != 0 || pipe(from_child) != 0) throw std::runtime_error("pipe failed");
    pid_ = fork();
    if (pid_ == 0) {
      dup2(to_child[0], 0);
      dup2(from_child[1], 1);
      close(to_child[1]);
      close(from_child[0]);
      const std::string n = std::to_string(threads);
      setenv("OMP_NUM_THREADS", n.c_str(), 1);
      setenv("OPENBLAS_NUM_THREADS", n.c_str(), 1);
      execl(build_paths::Python(), build_paths::Python(), o.script.c_str(), "--weights",
            weights.c_str(), "--inputs", inputs.c_str(), "--threads", n.c_str(),
            static_cast<char*>(nullptr));
      std::perror("exec python3");
      _exit(127);
    }
    close(to_child[0]);
    close(from_child[1]);
    in_ = fdopen(to_child[1], "w");
    out_ = fdopen(from_child[0], "r");
    if (!ReadLine().value("ready", false)) throw std::runtime_error("flux_eager.py did not start");
  }
  ~EagerProcess() {
    std::fputs("quit\n", in_);
    std::fclose(in_);
    std::fclose(out_);
    waitpid(pid_, nullptr, 0);
  }
  Sample Run() {
    std::fputs("run\n", in_);
    std::fflush(in_);
    const nlohmann::json reply = ReadLine();
    if (reply.contains("error")) throw std::runtime_error(reply["error"].get<std::string>());
    return {reply["wall"], reply["user"], reply["sys"], reply["max_rel_diff"]};
  }

 private:
  nlohmann::json ReadLine() {
    std::string line;
    for (int c = std::fgetc(out_); c != EOF && c != '\n'; c = std::fgetc(out_)) line += char(c);
    if (line.empty()) throw std::runtime_error("flux_eager.py ended (see its error above)");
    return nlohmann::json::parse(line);
  }
  pid_t pid_ = -1;
  FILE* in_ = nullptr;
  FILE* out_ = nullptr;
};

// Every block converted to f32 once: the resident copy a served model keeps.
class ResidentProvider : public WeightProvider {
 public:
  explicit ResidentProvider(const FluxWeights& weights) {
    DirectWeightProvider direct(torch::kFloat, torch::kCPU);
    for (const WeightBlock* block : weights.ForwardOrder()) blocks_[block] = direct.Acquire(*block);
  }
  BlockTensors Acquire(const WeightBlock& block) override { return blocks_.at(&block); }

 private:
  std::map<const WeightBlock*, BlockTensors> blocks_;
};

double RelativeDifference(const torch::Tensor& out, const torch::Tensor& expected) {
  return ((out - expected).abs().max() / expected.abs().max()).item<double>();
}

void AddF32(SafetensorsWriter& writer, const std::string& name, const torch::Tensor& t) {
  const torch::Tensor c = t.to(torch::kFloat).contiguous();
  writer.Add(name, DType::kF32, c.sizes().vec(), c.data_ptr(), c.numel() * sizeof(float));
}

void Run(const Options& o) {
  const FluxConfig config = bench::FullConfig();
  const int64_t txt_tokens = 512;
  const std::string weights_path = o.scratch + "/bench_eager_weights.safetensors";
  const std::string inputs_path = o.scratch + "/bench_eager_inputs.safetensors";
  // As the service runs: every allocation counted, freed large blocks re-used (the host cache).
  CpuMemoryMeter::Install();
  auto start = Clock::now();
  // The bf16 weights, in the host tier for streamdit and in a file for PyTorch.
  FluxWeights host;
  {
    SafetensorsWriter writer;
    host = bench::HostWeights(config, [&](const std::string& name, const torch::Tensor& w) {
      writer.Add(name, DType::kBF16, w.sizes().vec(), w.data_ptr(), w.numel() * 2);
    });
    writer.Write(weights_path);
  }
  const FluxTransformer model(config, std::move(host));
  std::printf(
      "bench_eager: FLUX.1 widths, %ld double + %ld single blocks, %.2f GB of bf16 weights, "
      "f32 compute, %ld text tokens; made in %.1f s\n",
      long(config.depth), long(config.depth_single_blocks), model.weights().nbytes() / 1e9,
      long(txt_tokens), Seconds(start));
  const ResidentProvider resident(model.weights());

  StreamingOptions streaming;
  streaming.prefetch_depth = 1;
  streaming.compute_dtype = torch::kFloat;
  std::vector<bool> per_step(model.weights().VecAndModulationOrder().size(), false);
  per_step.resize(model.weights().ForwardOrder().size(), true);
  const std::vector<PlannedBlock> blocks =
      DescribeBlocks(model.weights().ForwardOrder(), per_step, torch::kFloat, torch::kCPU);
  const ResidencyPlan minimum =
      PlanResidency(blocks, MinimumWeightBytes(blocks, streaming), streaming);

  const CpuLinearKernel kernel = CurrentCpuLinearKernel();
  std::printf("float32 linear kernel: %s (res.blas: blas)\n",
              std::string(CpuLinearKernelName(kernel)).c_str());
  std::printf("\n%6s %3s | %-20s | %-20s %6s | %-20s %6s | %-20s %6s | %-20s %6s | %8s\n", "img",
              "thr", "pytorch s (usr/sys)", "resident s (usr/sys)", "ratio", "res.blas s (usr/sys)",
              "ratio", "direct s (usr/sys)", "ratio", "streamed s (usr/sys)", "ratio", "max diff");
  for (int64_t tokens : o.tokens) {
    const FluxInputs inputs = bench::Inputs(config, tokens, txt_tokens);
    SetThreads(static_cast<int>(o.threads.front()));
    torch::Tensor expected;
    {
      DirectWeightProvider direct(torch::kFloat, torch::kCPU);
      expected = model.Forward(inputs, direct, torch::kFloat);  // also the warm-up
      // A served model's ring slots come from the host cache after the first job: warm it, so the
      // first streamed measurement does not pay first-touch page faults the others do not.
      StreamingWeightProvider warm(minimum, streaming, ExecutionTarget::Cpu());
      warm.SetOrder(model.weights().ForwardOrder(), /*passes=*/1);
      model.Forward(inputs, warm, torch::kFloat);
      SafetensorsWriter writer;
      AddF32(writer, "img", inputs.img);
      AddF32(writer, "img_ids", inputs.img_ids);
      AddF32(writer, "txt", inputs.txt);
      AddF32(writer, "txt_ids", inputs.txt_ids);
      AddF32(writer, "timesteps", inputs.timesteps);
      AddF32(writer, "y", inputs.y);
      AddF32(writer, "guidance", inputs.guidance);
      AddF32(writer, "expected", expected);
      writer.Write(inputs_path);
    }
    for (int64_t threads : o.threads) {
      SetThreads(static_cast<int>(threads));
      EagerProcess eager(o, weights_path, inputs_path, static_cast<int>(threads));
      const std::vector<std::string> names = {"pytorch", "resident", "res.blas", "direct",
                                              "streamed"};
      std::map<std::string, std::vector<Sample>> samples;
      double worst = 0;
      auto measure = [&](const std::string& name) {
        if (name == "pytorch") {
          samples[name].push_back(eager.Run());
          worst = std::max(worst, samples[name].back().diff);
          return;
        }
        std::unique_ptr<WeightProvider> provider;
        if (name == "direct")
          provider = std::make_unique<DirectWeightProvider>(torch::kFloat, torch::kCPU);
        if (name == "streamed") {
          auto streamed =
              std::make_unique<StreamingWeightProvider>(minimum, streaming, ExecutionTarget::Cpu());
          streamed->SetOrder(model.weights().ForwardOrder(), /*passes=*/1);
          provider = std::move(streamed);
        }
        WeightProvider& used = provider ? *provider : const_cast<ResidentProvider&>(resident);
        SetCpuLinearKernel(name == "res.blas" ? CpuLinearKernel::kBlas : kernel);
        rusage before{}, after{};
        getrusage(RUSAGE_SELF, &before);
        const auto t0 = Clock::now();
        const torch::Tensor out = model.Forward(inputs, used, torch::kFloat);
        Sample s;
        s.wall = Seconds(t0);
        getrusage(RUSAGE_SELF, &after);
        SetCpuLinearKernel(kernel);
        s.user = CpuSeconds(after.ru_utime) - CpuSeconds(before.ru_utime);
        s.sys = CpuSeconds(after.ru_stime) - CpuSeconds(before.ru_stime);
        s.diff = RelativeDifference(out, expected);
        worst = std::max(worst, s.diff);
        samples[name].push_back(s);
      };
      for (int round = 0; round < o.rounds; ++round) {
        for (std::size_t i = 0; i < names.size(); ++i) measure(names[(round + i) % names.size()]);
      }
      auto median = [&](const std::string& name, double Sample::*field) {
        std::vector<double> values;
        for (const Sample& s : samples[name]) values.push_back(s.*field);
        return Median(values);
      };
      const double eager_wall = median("pytorch", &Sample::wall);
      std::printf("%6ld %3ld | %7.2f (%5.1f/%4.1f) |", long(tokens), long(threads), eager_wall,
                  median("pytorch", &Sample::user), median("pytorch", &Sample::sys));
      for (const char* name : {"resident", "res.blas", "direct", "streamed"}) {
        const double wall = median(name, &Sample::wall);
        std::printf(" %7.2f (%5.1f/%4.1f) %6.3f |", wall, median(name, &Sample::user),
                    median(name, &Sample::sys), wall / eager_wall);
      }
      std::printf(" %8.1e\n", worst);
      std::fflush(stdout);
    }
  }
  std::remove(weights_path.c_str());
  std::remove(inputs_path.c_str());
}

}  // namespace
}  // namespace streamdit::engine

int main(int argc, char** argv) {
  try {
    streamdit::engine::Run(streamdit::engine::ParseOptions(argc, argv));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_eager: %s\n", e.what());
    return 1;
  }
  return 0;
}
