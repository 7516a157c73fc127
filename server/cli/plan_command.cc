#include "server/cli/plan_command.h"

#include <algorithm>
#include <iomanip>
#include <memory>
#include <optional>
#include <sstream>

#include "engine/lora/lora_job_adapters.h"
#include "engine/memory/bandwidth_probe.h"
#include "engine/pipeline/job_memory_plan.h"
#include "engine/pipeline/planning_models.h"
#include "engine/pipeline/resident_weights.h"
#include "engine/pipeline/step_time_model.h"
#include "engine/sampling/flux_defaults.h"
#include "engine/status/status_error.h"
#include "server/cli/flag_values.h"
#include "server/cli/lora_files.h"

namespace streamdit::server::cli {
namespace {

struct PlanOptions {
  std::string model_dir;
  int64_t budget = 0;
  int width = 1024;
  int height = 1024;
  std::optional<int> steps;
  int batch = 1;
  std::string storage = "as-stored";
  torch::ScalarType dtype = torch::kBFloat16;
  std::optional<int64_t> t5_tokens;
  int prefetch = 1;
  std::optional<double> bandwidth_gbps;
  std::optional<double> tflops;
  std::vector<std::string> loras;  // FILE[:SCALE]
  std::string resident_format = "stored";
};

std::string Gb(double bytes) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(2) << bytes / 1e9 << " GB";
  return out.str();
}

void RunPlan(const PlanOptions& o, std::ostream& out) {
  using engine::FormatBytes;
  const engine::WeightStorage storage = engine::ParseWeightStorage(o.storage);
  const engine::PlanningModels loaded = engine::LoadPlanningModels(o.model_dir, storage);
  const engine::FluxConfig& config = loaded.transformer->config();
  const engine::FluxSamplingDefaults defaults =
      config.guidance_embed ? engine::FluxDevDefaults() : engine::FluxSchnellDefaults();

  engine::JobMemoryShape shape;
  shape.width = o.width;
  shape.height = o.height;
  shape.steps = o.steps.value_or(defaults.num_steps);
  shape.batch = o.batch;
  shape.t5_tokens = o.t5_tokens.value_or(defaults.t5_max_length);
  if (loaded.clip) shape.clip_tokens = loaded.clip->config().max_positions;
  shape.compute = o.dtype;
  // LoRAs: their tensors in the compute dtype, held through their components' phases.
  const std::vector<engine::LoraUse> loras = LoadLoraFiles(o.loras, loaded.models());
  const std::vector<const std::vector<engine::LoraUse>*> samples(
      static_cast<std::size_t>(shape.batch), &loras);
  for (engine::PipelineComponent component :
       {engine::PipelineComponent::kT5, engine::PipelineComponent::kClip,
        engine::PipelineComponent::kTransformer}) {
    shape.adapter_bytes[static_cast<std::size_t>(component)] =
        engine::ComponentAdapterBytes(component, samples, shape.compute, shape.device);
    shape.adapter_rank =
        std::max(shape.adapter_rank, engine::ComponentAdapterRank(component, samples));
  }
  engine::StreamingOptions options;
  options.prefetch_depth = o.prefetch;
  options.compute_dtype = o.dtype;

  const double bandwidth =
      o.bandwidth_gbps ? *o.bandwidth_gbps * 1e9 : engine::MeasureCopyBandwidth();
  const double rate = o.tflops ? *o.tflops * 1e12 : engine::MeasureComputeRate();
  // Throws (naming the minimum) when the budget is below the job's minimum: nothing is printed.
  const engine::JobMemoryPlan plan =
      engine::PlanJobMemory(loaded.models(), shape, o.budget, options);

  const int64_t img_tokens = int64_t{(shape.height + 15) / 16} * ((shape.width + 15) / 16);
  out << "model: " << loaded.description << "\n"
      << "  hidden " << config.hidden_size << ", " << config.depth << " double + "
      << config.depth_single_blocks << " single blocks, storage "
      << engine::WeightStorageName(storage) << ", compute " << DtypeName(o.dtype) << "\n"
      << "job: " << shape.width << "x" << shape.height << " (" << img_tokens << " image + "
      << shape.t5_tokens << " text tokens), batch " << shape.batch << ", " << shape.steps
      << " steps, budget " << FormatBytes(o.budget) << ", prefetch depth " << options.prefetch_depth
      << "\n";
  for (const engine::LoraUse& use : loras) {
    const engine::LoraAdapter& lora = *use.adapter;
    out << "lora " << lora.name() << " (" << engine::LoraFormatName(lora.format()) << ", rank "
        << lora.max_rank() << ", " << lora.modules().size() << " layers, strength " << use.strength
        << "):";
    for (engine::PipelineComponent component :
         {engine::PipelineComponent::kT5, engine::PipelineComponent::kClip,
          engine::PipelineComponent::kTransformer}) {
      if (!lora.targets(component)) continue;
      out << " " << engine::PipelineComponentName(component) << " "
          << FormatBytes(lora.DeviceBytes(component, shape.compute, shape.device));
    }
    out << "\n";
  }
  for (const engine::ComponentMemoryPlan& c : plan.components) {
    const engine::ResidencyPlan& r = c.residency;
    int64_t total = 0;
    for (const engine::PlannedBlock& b : r.blocks) total += b.storage_bytes;
    out << engine::PipelineComponentName(c.component) << ": " << r.resident_count() << "/"
        << r.blocks.size() << " blocks resident (" << FormatBytes(r.resident_bytes) << " of "
        << FormatBytes(total) << ", " << std::fixed << std::setprecision(1)
        << (total ? 100.0 * double(r.resident_bytes) / double(total) : 100.0) << "%), ring "
        << r.num_slots << " x " << FormatBytes(r.slot_bytes) << "; streamed per "
        << (c.component == engine::PipelineComponent::kTransformer ? "step " : "pass ")
        << Gb(double(r.streamed_bytes_per_step())) << ", once per job "
        << Gb(double(r.streamed_bytes_per_request())) << "; predicted peak "
        << FormatBytes(c.predicted_peak_bytes()) << "\n";
  }
  out << "predicted peak per phase:";
  for (engine::PipelinePhase phase :
       {engine::PipelinePhase::kEncode, engine::PipelinePhase::kDenoise,
        engine::PipelinePhase::kDecode}) {
    const int64_t peak = plan.predicted_peak_bytes(phase);
    out << " " << engine::PipelinePhaseName(phase) << " " << (peak ? FormatBytes(peak) : "-");
  }
  out << "\nminimum budget for this job: " << FormatBytes(plan.minimum_budget_bytes())
      << "; everything resident from " << FormatBytes(plan.resident_budget_bytes()) << "\n";
  // What the server's kLoad launch puts on the device for kShared jobs to read, in both formats.
  const engine::JobModels models = loaded.models();
  const engine::ResidentFormat chosen = engine::ParseResidentFormat(o.resident_format);
  for (engine::ResidentFormat format :
       {engine::ResidentFormat::kStored, engine::ResidentFormat::kCompute}) {
    out << "resident copy (" << engine::ResidentFormatName(format)
        << (format == chosen ? ", chosen" : "") << "): "
        << FormatBytes(
               engine::ResidentWeights::BytesOf(models, shape.compute, shape.device, format))
        << ", decoded at once "
        << FormatBytes(
               engine::ResidentWeights::DecodeBytesOf(models, shape.compute, shape.device, format))
        << "\n";
  }

  const engine::ResidencyPlan& denoise =
      plan.component(engine::PipelineComponent::kTransformer).residency;
  const engine::StepTimePrediction time = engine::PredictStepTime(
      engine::DenoiseStepFlops(*loaded.transformer, shape.batch, img_tokens, shape.t5_tokens), rate,
      denoise.streamed_bytes_per_step(), bandwidth, options.prefetch_depth);
  out << std::setprecision(3) << "time per step (predicted at " << bandwidth / 1e9 << " GB/s, "
      << rate / 1e12 << " TFLOP/s): compute " << time.compute_seconds << " s, transfer "
      << time.transfer_seconds << " s -> " << time.step_seconds << " s"
      << (options.prefetch_depth > 0 ? " with prefetch" : " without prefetch") << "\n";
}

}  // namespace

void AddPlanCommand(CLI::App& app, CommandTable& table) {
  auto options = std::make_shared<PlanOptions>();
  PlanOptions& o = *options;
  CLI::App* command = app.add_subcommand(
      "plan",
      "Residency plan, predicted peak and step time of a job under a memory budget. Reads only\n"
      "the files' headers. --bandwidth and --tflops default to what this machine measures (host\n"
      "memcpy, f32 matmul); give your GPU's (e.g. --bandwidth 25 --tflops 400 for PCIe 4 and an\n"
      "H100 in bf16).");
  command
      ->add_option("--model-dir", o.model_dir,
                   "A model folder (every phase is planned) or a transformer .safetensors\n"
                   "file alone (the denoising phase only)")
      ->type_name("DIR|FILE");
  // The old spelling, kept for scripts; hidden from --help.
  command->add_option("--model", o.model_dir)->group("");
  AddByteSizeOption(*command, "--budget", &o.budget, "24GiB, 16G, 500MB, or bytes")->required();
  command->add_option("--width", o.width, "Pixels")->capture_default_str()->check(AtLeast(16));
  command->add_option("--height", o.height, "Pixels")->capture_default_str()->check(AtLeast(16));
  command->add_option("--steps", o.steps, "Default: the family's")->check(AtLeast(1));
  command->add_option("--batch", o.batch, "Images per job")
      ->capture_default_str()
      ->check(AtLeast(1));
  command
      ->add_option("--storage", o.storage,
                   "Host weight storage: fp8 holds the transformer's matmul weights as fp8\n"
                   "e4m3 (half the bytes to move)")
      ->type_name("fp8|bf16")
      ->capture_default_str();
  AddDtypeOption(*command, "--dtype", &o.dtype, "Compute dtype")->default_str("bf16");
  command
      ->add_option("--resident-format", o.resident_format,
                   "How a resident copy holds weights stored in another format than the\n"
                   "compute dtype: as stored (decoded at each use) or decoded at load")
      ->type_name("stored|compute")
      ->check(CLI::IsMember({"stored", "compute"}))
      ->capture_default_str();
  command->add_option("--prefetch", o.prefetch, "Streaming prefetch depth")
      ->capture_default_str()
      ->check(AtLeast(0));
  command->add_option("--t5-tokens", o.t5_tokens, "T5 sequence length (default: the family's)")
      ->check(AtLeast(1));
  command
      ->add_option("--lora", o.loras,
                   "A LoRA file and its strength, repeatable: its bytes join the plan")
      ->type_name("FILE[:SCALE]")
      ->check(LoraValue());
  command->add_option("--bandwidth", o.bandwidth_gbps, "Transfer bandwidth in GB/s")
      ->type_name("GB/s")
      ->check(Positive());
  command->add_option("--tflops", o.tflops, "Compute rate in TFLOP/s")
      ->type_name("T")
      ->check(Positive());
  table.Add("plan", command, [options](std::ostream& out, std::ostream&) {
    if (options->model_dir.empty()) throw engine::InvalidArgument("--model-dir is required");
    RunPlan(*options, out);
  });
}

}  // namespace streamdit::server::cli
