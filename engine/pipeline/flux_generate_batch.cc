#include <algorithm>
#include <optional>
#include <utility>

#include "engine/device/compute_stream.h"
#include "engine/image/png_writer.h"
#include "engine/image/rgb8.h"
#include "engine/lora/lora_job_adapters.h"
#include "engine/memory/cpu_memory_meter.h"
#include "engine/memory/cuda_device_meter.h"
#include "engine/memory/job_ceiling.h"
#include "engine/pipeline/flux_pipeline.h"
#include "engine/pipeline/flux_pipeline_impl.h"
#include "engine/pipeline/png_parameters.h"
#include "engine/sampling/cancelled.h"
#include "engine/status/status_error.h"

namespace streamdit::engine {

using namespace pipeline_internal;  // NOLINT: this file implements the pipeline

int64_t JobMemoryReport::measured_peak() const {
  return *std::max_element(measured_peak_bytes.begin(), measured_peak_bytes.end());
}

GenerationResult FluxPipeline::Generate(const GenerationRequest& request,
                                        const ExecutionTarget& target,
                                        const GenerationCallbacks& callbacks,
                                        const JobMemoryOptions& memory) const {
  BatchResult batch = GenerateBatch({request}, target, callbacks, memory);
  return std::move(batch.results.front());
}

BatchResult FluxPipeline::GenerateBatch(const std::vector<GenerationRequest>& requests,
                                        const ExecutionTarget& target,
                                        const GenerationCallbacks& callbacks,
                                        const JobMemoryOptions& memory) const {
  const Impl& impl = *impl_;
  const Clock::time_point start = Clock::now();
  BatchResult batch;
  const std::vector<ResolvedRequest> jobs =
      ResolveGenerationBatch(requests, impl.defaults, impl.limits);
  const ResolvedRequest& shape = jobs.front();  // width, height and steps of every request
  const torch::ScalarType compute = impl.config.compute_dtype;
  const FluxConfig& flux = impl.transformer->config();
  torch::NoGradGuard no_grad;
  // Every kernel of the job goes to this worker's compute stream on the target's device.
  const ScopedComputeStream compute_stream(target);
  if (memory.prefetch_depth < 0) {
    throw InvalidArgument("prefetch_depth must be >= 0, got " +
                          std::to_string(memory.prefetch_depth));
  }

  int completed_steps = 0;
  auto check_cancelled = [&] {
    if (callbacks.cancelled && callbacks.cancelled()) throw Cancelled(completed_steps);
  };
  auto finish_phase = [&](PipelinePhase phase, double seconds) {
    if (callbacks.on_phase) callbacks.on_phase(phase, seconds);
  };

  // The distinct prompts, in order of first use; each looked up in the cache once.
  std::vector<BatchPrompt> prompts;
  std::vector<std::size_t> prompt_of;  // per request
  int cached_prompts = 0;
  for (const ResolvedRequest& job : jobs) {
    const std::string key = PromptEmbeddingCache::Key(job.prompt, impl.t5_max_length, compute,
                                                      TextAdapterKey(job.loras));
    auto found = std::find_if(prompts.begin(), prompts.end(),
                              [&](const BatchPrompt& p) { return p.key == key; });
    if (found == prompts.end()) {
      BatchPrompt prompt{key, job.prompt, impl.cache->Find(key), false, &job.loras};
      prompt.cached = prompt.embedding != nullptr;
      cached_prompts += prompt.cached ? 1 : 0;
      prompts.push_back(std::move(prompt));
      found = prompts.end() - 1;
    }
    prompt_of.push_back(static_cast<std::size_t>(found - prompts.begin()));
  }
  batch.timings.prompt_cache_hit = cached_prompts == static_cast<int>(prompts.size());
  // Planned before any work, so that a budget below the minimum fails with nothing done.
  JobWeights weights{target, nullptr, nullptr, {}};
  weights.loras = memory.device_loras;
  std::vector<const LoraAdapter*> loras_on_device;
  for (const auto& lora : memory.device_loras) {
    if (lora) loras_on_device.push_back(&lora->adapter());
  }
  if (memory.resident_weights) {
    // The weights are on the device already: the job's bytes are its activations alone.
    weights.resident = memory.resident_weights.get();
    batch.memory.plan = PlanMemory(jobs, target.device, std::nullopt, memory.prefetch_depth,
                                   cached_prompts, loras_on_device);
    batch.memory.predicted_peak_bytes = batch.memory.plan->predicted_working_peak_bytes();
    if (memory.budget_bytes && batch.memory.predicted_peak_bytes > *memory.budget_bytes) {
      throw ResourceExhausted("the job needs " + FormatBytes(batch.memory.predicted_peak_bytes) +
                              " beside the resident weights; its budget is " +
                              FormatBytes(*memory.budget_bytes));
    }
  } else if (memory.budget_bytes) {
    batch.memory.plan = PlanMemory(jobs, target.device, memory.budget_bytes, memory.prefetch_depth,
                                   cached_prompts, loras_on_device);
    batch.memory.predicted_peak_bytes = batch.memory.plan->predicted_peak_bytes();
    weights.plan = &*batch.memory.plan;
  }
  // The job's bytes are measured above what the device held when it started. A budget is a hard
  // ceiling (job_ceiling.h), so it needs the meter that counts what the ceiling checks.
  // On the CPU that is the counting allocator, which can also refuse an allocation past the job's
  // own ceiling. On a CUDA device it is the meter the caching allocator's events feed
  // (cuda_device_meter.h), where the ceiling is the device's: the allocator may reserve no more
  // than the device's budget, of which the scheduler gave this launch its share.
  const bool on_cpu = target.device.is_cpu();
  if (on_cpu && memory.budget_bytes) CpuMemoryMeter::Install();
  MemoryMeter* meter = nullptr;
  if (on_cpu && CpuMemoryMeter::IsInstalled()) meter = &CpuMemoryMeter::Install().meter();
  if (target.is_cuda()) meter = CudaDeviceMeter(target.device.index());
  const int64_t job_start_bytes = meter ? meter->current_bytes() : 0;
  std::optional<ScopedJobCeiling> ceiling;
  if (on_cpu && meter && memory.budget_bytes) ceiling.emplace(*memory.budget_bytes);
  // An allocation refused by the ceiling (or the device's meter) ends the job with
  // RESOURCE_EXHAUSTED naming the phase, the budget, the prediction and what was in use.
  PipelinePhase phase = PipelinePhase::kEncode;
  auto out_of_memory = [&](const c10::OutOfMemoryError& error) {
    std::string message =
        std::string("out of memory in the ") + PipelinePhaseName(phase) + " phase";
    if (memory.budget_bytes) {
      message += ": the job's budget of " + FormatBytes(*memory.budget_bytes) + " was hit";
      if (batch.memory.predicted_peak_bytes > 0) {
        message += " (predicted peak " + FormatBytes(batch.memory.predicted_peak_bytes) + ")";
      }
    }
    return ResourceExhausted(message + "; " + error.what_without_backtrace());
  };
  try {
    std::optional<MemoryMeter::Window> window;
    auto open_window = [&] {
      if (meter) window.emplace(meter->OpenWindow());
    };
    auto close_window = [&](PipelinePhase phase) {
      if (!window) return;
      batch.memory.measured = true;
      batch.memory.measured_peak_bytes[static_cast<int>(phase)] =
          std::max<int64_t>(0, window->peak_bytes() - job_start_bytes);
      window.reset();
    };

    // Encode: each distinct prompt once, one after the other.
    check_cancelled();
    Clock::time_point phase_start = Clock::now();
    phase = PipelinePhase::kEncode;
    open_window();
    for (BatchPrompt& prompt : prompts) {
      if (prompt.embedding) continue;
      prompt.embedding = impl.Encode(prompt.text, *prompt.loras, weights, batch.memory);
      impl.cache->Insert(prompt.key, prompt.embedding);
    }
    close_window(PipelinePhase::kEncode);
    for (const BatchPrompt& prompt : prompts) {
      for (const std::string& warning : prompt.embedding->warnings) {
        if (callbacks.on_warning) callbacks.on_warning(warning);
      }
    }
    batch.timings.encode_seconds = SecondsSince(phase_start);
    finish_phase(PipelinePhase::kEncode, batch.timings.encode_seconds);

    BatchSamples samples;
    samples.one_prompt = prompts.size() == 1;
    for (std::size_t r = 0; r < jobs.size(); ++r) {
      for (uint64_t seed : jobs[r].image_seeds) {
        samples.seeds.push_back(seed);
        samples.guidance.push_back(jobs[r].guidance);
        samples.embeddings.push_back(prompts[prompt_of[r]].embedding.get());
        samples.loras.push_back(&jobs[r].loras);
      }
    }

    // Denoise: every image of every request in one pass per step.
    check_cancelled();
    phase_start = Clock::now();
    phase = PipelinePhase::kDenoise;
    open_window();
    const torch::Tensor latents = impl.Denoise(shape, samples, weights, batch.memory, callbacks,
                                               completed_steps, batch.timings)
                                      .to(torch::kCPU);
    close_window(PipelinePhase::kDenoise);
    batch.timings.denoise_seconds = SecondsSince(phase_start);
    finish_phase(PipelinePhase::kDenoise, batch.timings.denoise_seconds);

    // Decode, then PNG (counted with the decode phase: it reads the decoded images).
    check_cancelled();
    phase_start = Clock::now();
    phase = PipelinePhase::kDecode;
    open_window();
    const torch::Tensor images =
        impl.Decode(shape, latents.to(target.device), weights, batch.memory);
    batch.timings.decode_seconds = SecondsSince(phase_start);
    finish_phase(PipelinePhase::kDecode, batch.timings.decode_seconds);

    phase_start = Clock::now();
    int64_t first_image = 0;
    for (std::size_t r = 0; r < jobs.size(); ++r) {
      GenerationResult result;
      result.request = jobs[r];
      const ResolvedRequest& job = result.request;
      result.latents = latents.slice(0, first_image, first_image + job.batch_size);
      result.images = images.slice(0, first_image, first_image + job.batch_size);
      first_image += job.batch_size;
      for (int i = 0; i < job.batch_size; ++i) {
        const std::string parameters =
            FormatGenerationParameters(job, impl.config.model_name, flux.guidance_embed, i);
        if (i == 0) result.parameters = parameters;
        const std::vector<uint8_t> rgb = ImageToRgb8(result.images[i]);
        result.png.push_back(
            EncodePng(rgb.data(), job.width, job.height, {{kPngParametersKeyword, parameters}}));
      }
      result.warnings = prompts[prompt_of[r]].embedding->warnings;
      batch.results.push_back(std::move(result));
    }
    close_window(PipelinePhase::kDecode);
    batch.timings.png_seconds = SecondsSince(phase_start);
  } catch (const c10::OutOfMemoryError& error) {
    throw out_of_memory(error);
  }
  batch.timings.total_seconds = SecondsSince(start);
  for (std::size_t r = 0; r < jobs.size(); ++r) {
    GenerationResult& result = batch.results[r];
    result.timings = batch.timings;
    result.timings.prompt_cache_hit = prompts[prompt_of[r]].cached;
    result.memory = batch.memory;
  }
  return batch;
}

}  // namespace streamdit::engine
