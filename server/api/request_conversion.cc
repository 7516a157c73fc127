#include "server/api/request_conversion.h"

#include <string>

#include "engine/pipeline/model_paths.h"
#include "server/api/wire_messages.h"

namespace streamdit::server {

absl::StatusOr<scheduler::Priority> PriorityFromProto(int priority) {
  switch (priority) {
    case v1::PRIORITY_UNSPECIFIED:
    case v1::PRIORITY_NORMAL:
      return scheduler::Priority::kNormal;
    case v1::PRIORITY_LOW:
      return scheduler::Priority::kLow;
    case v1::PRIORITY_HIGH:
      return scheduler::Priority::kHigh;
    default:
      // proto3 enums are open: a newer or careless client can send any number.
      return absl::InvalidArgumentError(
          "priority must be PRIORITY_LOW (1), PRIORITY_NORMAL (2) or PRIORITY_HIGH (3), got " +
          std::to_string(priority));
  }
}

absl::StatusOr<GenerationJob> JobFromProto(
    const v1::GenerateImageRequest& request,
    std::optional<std::chrono::steady_clock::time_point> deadline) {
  if (!IsValidUtf8(request.prompt())) {
    return absl::InvalidArgumentError("prompt must be valid UTF-8");
  }
  GenerationJob job;
  job.model = request.model();
  job.request.prompt = request.prompt();
  if (request.width() != 0)
    job.request.width = static_cast<int>(std::min(request.width(), 1u << 30));
  if (request.height() != 0) {
    job.request.height = static_cast<int>(std::min(request.height(), 1u << 30));
  }
  if (request.steps() != 0)
    job.request.steps = static_cast<int>(std::min(request.steps(), 1u << 30));
  if (request.has_guidance()) job.request.guidance = request.guidance();
  job.request.seed = request.seed();
  job.request.batch_size =
      request.batch_size() == 0 ? 1 : static_cast<int>(std::min(request.batch_size(), 1u << 30));
  absl::StatusOr<scheduler::Priority> priority = PriorityFromProto(request.priority());
  if (!priority.ok()) return priority.status();
  job.priority = *priority;
  job.deadline = deadline;
  for (const v1::LoraAdapter& lora : request.loras()) {
    job.loras.push_back({lora.name(), lora.has_strength() ? double{lora.strength()} : 1.0});
  }
  return job;
}

void ResponseFromResult(const JobResult& result, v1::GenerateImageResponse* response) {
  const JobOutput& output = result.output;
  for (std::size_t i = 0; i < output.png.size(); ++i) {
    v1::Image* image = response->add_images();
    image->set_png(output.png[i]);
    image->set_seed(i < output.seeds.size() ? output.seeds[i] : 0);
    image->set_width(static_cast<uint32_t>(output.width));
    image->set_height(static_cast<uint32_t>(output.height));
  }
  v1::GenerationStats* stats = response->mutable_stats();
  stats->set_queue_seconds(result.queue_seconds);
  stats->set_encode_seconds(output.encode_seconds);
  stats->set_denoise_seconds(output.denoise_seconds);
  stats->set_decode_seconds(output.decode_seconds);
  stats->set_memory_peak_bytes(static_cast<uint64_t>(result.peak_bytes));
  stats->set_memory_predicted_bytes(static_cast<uint64_t>(result.predicted_bytes));
  stats->set_memory_budget_bytes(static_cast<uint64_t>(result.budget_bytes));
  stats->set_device(result.device);
  stats->set_batch_images(static_cast<uint32_t>(result.batch_images));
}

void StatusToProto(const ServiceStatus& status, v1::GetServerStatusResponse* proto) {
  proto->set_draining(status.draining);
  proto->set_queue_depth(static_cast<uint32_t>(status.queue_depth));
  for (int depth : status.queue_depth_by_priority) {
    proto->add_queue_depth_by_priority(static_cast<uint32_t>(depth));
  }
  for (const DeviceStatusView& device : status.devices) {
    v1::DeviceStatus* out = proto->add_devices();
    out->set_name(device.name);
    out->set_budget_bytes(static_cast<uint64_t>(device.budget_bytes));
    out->set_reserved_bytes(static_cast<uint64_t>(device.reserved_bytes));
    out->set_resident_bytes(static_cast<uint64_t>(device.resident_bytes));
    out->set_peak_bytes(static_cast<uint64_t>(device.peak_bytes));
    out->set_used_bytes(static_cast<uint64_t>(device.used_bytes));
    for (const std::string& model : device.resident_models) out->add_resident_models(model);
    for (const ResidentWeightsView& weights : device.resident_weights) {
      v1::ResidentWeights* resident = out->add_resident_weights();
      resident->set_model(weights.model);
      resident->set_bytes(static_cast<uint64_t>(weights.bytes));
    }
    for (const CachedLoraView& lora : device.cached_loras) {
      v1::CachedLora* cached = out->add_cached_loras();
      cached->set_name(lora.name);
      cached->set_model(lora.model);
      cached->set_bytes(static_cast<uint64_t>(lora.bytes));
    }
    out->set_adapter_bytes(static_cast<uint64_t>(device.adapter_bytes));
    out->set_running_launches(static_cast<uint32_t>(device.running_launches));
    out->set_healthy(device.healthy);
  }
}

void ModelsToProto(const ModelRegistry& models, v1::ListModelsResponse* proto) {
  for (const auto& model : models.models()) {
    v1::ModelInfo* info = proto->add_models();
    const engine::FluxPipeline& pipeline = *model->pipeline;
    info->set_name(model->name);
    info->set_family(std::string("flux-") + engine::FluxFamilyName(pipeline.family()));
    info->set_default_width(static_cast<uint32_t>(pipeline.defaults().width));
    info->set_default_height(static_cast<uint32_t>(pipeline.defaults().height));
    info->set_default_steps(static_cast<uint32_t>(pipeline.defaults().num_steps));
    info->set_default_guidance(static_cast<float>(pipeline.defaults().guidance));
    info->set_weight_bytes(static_cast<uint64_t>(model->weight_bytes));
    info->set_min_budget_bytes(static_cast<uint64_t>(model->min_budget_bytes));
    info->set_resident_format(engine::ResidentFormatName(pipeline.config().resident_format));
    info->set_decode_bytes(static_cast<uint64_t>(model->decode_bytes));
    for (const LoraListing& listing : models.loras().List(model->name)) {
      v1::LoraInfo* lora = info->add_loras();
      lora->set_name(listing.name);
      if (!listing.adapter) {
        lora->set_error(listing.error);
        continue;
      }
      lora->set_format(engine::LoraFormatName(listing.adapter->format()));
      lora->set_rank(static_cast<uint32_t>(listing.adapter->max_rank()));
      for (const std::string& target : listing.adapter->TargetSummary()) lora->add_targets(target);
      lora->set_bytes(static_cast<uint64_t>(listing.device_bytes));
      lora->set_layers(static_cast<uint32_t>(listing.adapter->modules().size()));
    }
  }
}

}  // namespace streamdit::server
