#include "server/http/openai_images.h"

#include <limits>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "engine/lora/lora_adapter.h"
#include "engine/pipeline/flux_pipeline.h"

namespace streamdit::server {
namespace {

using nlohmann::json;

absl::Status FieldError(const std::string& field, const std::string& what) {
  return absl::InvalidArgumentError(field + " " + what);
}

// The field's value, absent when missing or null.
const json* Field(const json& body, const char* name) {
  const auto it = body.find(name);
  if (it == body.end() || it->is_null()) return nullptr;
  return &*it;
}

absl::StatusOr<std::string> StringField(const json& value, const std::string& name) {
  if (!value.is_string()) return FieldError(name, "must be a string");
  return value.get<std::string>();
}

// A JSON integer in [min, max] (a float with a fraction or out of range is refused).
absl::StatusOr<int64_t> IntegerField(const json& value, const std::string& name, int64_t min,
                                     int64_t max) {
  if (value.is_number_unsigned()) {
    const uint64_t v = value.get<uint64_t>();
    if (v > static_cast<uint64_t>(max) || static_cast<int64_t>(v) < min) {
      return FieldError(name, absl::StrCat("must be in [", min, ", ", max, "], got ", v));
    }
    return static_cast<int64_t>(v);
  }
  if (!value.is_number_integer()) return FieldError(name, "must be an integer");
  const int64_t v = value.get<int64_t>();
  if (v < min || v > max) {
    return FieldError(name, absl::StrCat("must be in [", min, ", ", max, "], got ", v));
  }
  return v;
}

absl::StatusOr<double> NumberField(const json& value, const std::string& name) {
  if (!value.is_number()) return FieldError(name, "must be a number");
  return value.get<double>();
}

// "WxH" (e.g. "1024x768") or "auto" (the model's default).
absl::Status ParseSize(const std::string& size, GenerationJob& job) {
  if (size == "auto") return absl::OkStatus();
  const std::vector<std::string> parts = absl::StrSplit(size, 'x');
  int width = 0;
  int height = 0;
  if (parts.size() != 2 || parts[0].empty() || parts[1].empty() ||
      !absl::SimpleAtoi(parts[0], &width) || !absl::SimpleAtoi(parts[1], &height) || width <= 0 ||
      height <= 0 || parts[0].find_first_not_of("0123456789") != std::string::npos ||
      parts[1].find_first_not_of("0123456789") != std::string::npos) {
    return FieldError(
        "size", "must be \"WIDTHxHEIGHT\" (e.g. \"1024x1024\") or \"auto\", got \"" + size + "\"");
  }
  job.request.width = width;
  job.request.height = height;
  return absl::OkStatus();
}

absl::Status ParseLoras(const json& value, GenerationJob& job) {
  if (!value.is_array()) return FieldError("loras", "must be an array of {\"name\", \"strength\"}");
  for (std::size_t i = 0; i < value.size(); ++i) {
    const std::string at = absl::StrCat("loras[", i, "]");
    const json& item = value[i];
    if (!item.is_object()) return FieldError(at, "must be an object {\"name\", \"strength\"}");
    const json* name = Field(item, "name");
    if (!name) return FieldError(at + ".name", "is required");
    absl::StatusOr<std::string> name_text = StringField(*name, at + ".name");
    if (!name_text.ok()) return name_text.status();
    LoraRequest lora{*std::move(name_text), 1.0};  // strength left out: 1.0 (0 is askable)
    if (const json* strength = Field(item, "strength")) {
      absl::StatusOr<double> number = NumberField(*strength, at + ".strength");
      if (!number.ok()) return number.status();
      lora.strength = *number;
    }
    job.loras.push_back(std::move(lora));
  }
  return absl::OkStatus();
}

absl::StatusOr<scheduler::Priority> ParsePriority(const json& value) {
  if (value.is_string()) {
    const std::string text = value.get<std::string>();
    if (text == "low") return scheduler::Priority::kLow;
    if (text == "normal") return scheduler::Priority::kNormal;
    if (text == "high") return scheduler::Priority::kHigh;
  }
  return FieldError("priority", "must be \"low\", \"normal\" or \"high\"");
}

json LoraJson(const LoraListing& listing) {
  json lora = {{"name", listing.name}};
  if (!listing.adapter) {
    lora["error"] = listing.error;
    return lora;
  }
  lora["format"] = engine::LoraFormatName(listing.adapter->format());
  lora["rank"] = listing.adapter->max_rank();
  lora["targets"] = listing.adapter->TargetSummary();
  lora["bytes"] = listing.device_bytes;
  lora["layers"] = listing.adapter->modules().size();
  return lora;
}

}  // namespace

absl::StatusOr<ImagesRequest> ParseImagesRequest(
    std::string_view body, std::optional<std::chrono::steady_clock::time_point> deadline) {
  // The parser refuses ill-formed UTF-8 in strings, so every text below is valid UTF-8.
  const json parsed = json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) {
    return absl::InvalidArgumentError(
        "body must be a JSON object (valid JSON, UTF-8): it does not parse");
  }
  if (!parsed.is_object()) return absl::InvalidArgumentError("body must be a JSON object");
  ImagesRequest out;
  GenerationJob& job = out.job;
  job.deadline = deadline;

  const json* prompt = Field(parsed, "prompt");
  if (!prompt) return FieldError("prompt", "is required");
  absl::StatusOr<std::string> prompt_text = StringField(*prompt, "prompt");
  if (!prompt_text.ok()) return prompt_text.status();
  job.request.prompt = *std::move(prompt_text);

  if (const json* model = Field(parsed, "model")) {
    absl::StatusOr<std::string> name = StringField(*model, "model");
    if (!name.ok()) return name.status();
    job.model = *std::move(name);
  }
  if (const json* n = Field(parsed, "n")) {
    absl::StatusOr<int64_t> images = IntegerField(*n, "n", 1, 1 << 20);
    if (!images.ok()) return images.status();
    job.request.batch_size = static_cast<int>(*images);
  }
  if (const json* size = Field(parsed, "size")) {
    absl::StatusOr<std::string> text = StringField(*size, "size");
    if (!text.ok()) return text.status();
    if (absl::Status status = ParseSize(*text, job); !status.ok()) return status;
  }
  if (const json* format = Field(parsed, "response_format")) {
    absl::StatusOr<std::string> text = StringField(*format, "response_format");
    if (!text.ok()) return text.status();
    if (*text == "url") {
      return FieldError("response_format",
                        "\"url\" is not supported: this server stores no images; use \"b64_json\"");
    }
    if (*text != "b64_json") {
      return FieldError("response_format", "must be \"b64_json\", got \"" + *text + "\"");
    }
  }
  if (const json* format = Field(parsed, "output_format")) {
    absl::StatusOr<std::string> text = StringField(*format, "output_format");
    if (!text.ok()) return text.status();
    absl::StatusOr<ImageFormat> format_value = ParseImageFormat(*text);
    if (!format_value.ok()) return format_value.status();
    out.output_format = *format_value;
  }
  if (const json* compression = Field(parsed, "output_compression")) {
    absl::StatusOr<int64_t> value = IntegerField(*compression, "output_compression", 0, 100);
    if (!value.ok()) return value.status();
    out.output_compression = static_cast<int>(*value);
  }
  if (const json* user = Field(parsed, "user")) {
    absl::StatusOr<std::string> text = StringField(*user, "user");
    if (!text.ok()) return text.status();
    out.user = *std::move(text);
  }
  if (const json* stream = Field(parsed, "stream")) {
    if (!stream->is_boolean()) return FieldError("stream", "must be true or false");
    out.stream = stream->get<bool>();
  }
  if (const json* seed = Field(parsed, "seed")) {
    absl::StatusOr<int64_t> value =
        IntegerField(*seed, "seed", 0, std::numeric_limits<int64_t>::max());
    if (!value.ok()) return value.status();
    job.request.seed = static_cast<uint64_t>(*value);
  }
  if (const json* steps = Field(parsed, "num_inference_steps")) {
    absl::StatusOr<int64_t> value = IntegerField(*steps, "num_inference_steps", 1, 1 << 20);
    if (!value.ok()) return value.status();
    job.request.steps = static_cast<int>(*value);
  }
  if (const json* guidance = Field(parsed, "guidance_scale")) {
    absl::StatusOr<double> value = NumberField(*guidance, "guidance_scale");
    if (!value.ok()) return value.status();
    job.request.guidance = *value;
  }
  if (const json* loras = Field(parsed, "loras")) {
    if (absl::Status status = ParseLoras(*loras, job); !status.ok()) return status;
  }
  if (const json* priority = Field(parsed, "priority")) {
    absl::StatusOr<scheduler::Priority> value = ParsePriority(*priority);
    if (!value.ok()) return value.status();
    job.priority = *value;
  }
  return out;
}

json GenerationStatsJson(const JobResult& result) {
  const JobOutput& output = result.output;
  return {{"model", result.model},
          {"seeds", output.seeds},
          {"device", result.device},
          {"queue_seconds", result.queue_seconds},
          {"encode_seconds", output.encode_seconds},
          {"denoise_seconds", output.denoise_seconds},
          {"decode_seconds", output.decode_seconds},
          {"memory_peak_bytes", result.peak_bytes},
          {"memory_predicted_bytes", result.predicted_bytes},
          {"memory_budget_bytes", result.budget_bytes},
          {"batch_images", result.batch_images}};
}

absl::StatusOr<std::vector<std::string>> EncodeImages(const JobResult& result,
                                                      const ImagesRequest& request) {
  std::vector<std::string> images;
  for (const std::string& png : result.output.png) {
    absl::StatusOr<std::string> image =
        EncodeImage(png, request.output_format, request.output_compression);
    if (!image.ok()) return image.status();
    images.push_back(*std::move(image));
  }
  return images;
}

json ImagesResponseJson(const JobResult& result, const std::vector<std::string>& images,
                        ImageFormat format, int64_t created_unix_seconds) {
  const JobOutput& output = result.output;
  json data = json::array();
  for (std::size_t i = 0; i < images.size(); ++i) {
    data.push_back({{"b64_json", absl::Base64Escape(images[i])},
                    {"seed", i < output.seeds.size() ? output.seeds[i] : 0}});
  }
  return {{"created", created_unix_seconds},
          {"data", std::move(data)},
          {"output_format", ImageFormatName(format)},
          {"size", absl::StrCat(output.width, "x", output.height)},
          {"streamdit", GenerationStatsJson(result)}};
}

json ModelsListJson(const ModelRegistry& models) {
  json data = json::array();
  for (const auto& model : models.models()) {
    const engine::FluxPipeline& pipeline = *model->pipeline;
    json loras = json::array();
    for (const LoraListing& listing : models.loras().List(model->name)) {
      loras.push_back(LoraJson(listing));
    }
    json details = {
        {"family", std::string("flux-") + engine::FluxFamilyName(pipeline.family())},
        {"default_size", absl::StrCat(pipeline.defaults().width, "x", pipeline.defaults().height)},
        {"default_steps", pipeline.defaults().num_steps},
        {"default_guidance", pipeline.defaults().guidance},
        {"weight_bytes", model->weight_bytes},
        {"min_budget_bytes", model->min_budget_bytes},
        {"resident_format", engine::ResidentFormatName(pipeline.config().resident_format)},
        {"decode_bytes", model->decode_bytes},
        {"loras", std::move(loras)}};
    data.push_back({{"id", model->name},
                    {"object", "model"},
                    {"created", 0},
                    {"owned_by", "streamdit"},
                    {"streamdit", std::move(details)}});
  }
  return {{"object", "list"}, {"data", std::move(data)}};
}

}  // namespace streamdit::server
