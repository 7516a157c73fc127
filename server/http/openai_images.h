// OpenAI's images API as JSON, converted to and from the runtime's types: the request body of
// POST /v1/images/generations, its reply, and GET /v1/models. Protocol-level checks live here
// (JSON syntax and UTF-8, each field's type, `size` and `response_format`); everything about the
// values (limits, models, LoRAs) is the runtime's, the same checks the gRPC side gets.
//
// Request fields: OpenAI's `model`, `prompt` (required), `n`, `size` ("WxH" or "auto"),
// `response_format` ("b64_json"; "url" is refused: images are not stored), `output_format`
// ("png", "jpeg", "webp"), `output_compression` (0-100, JPEG and WebP quality, default 100),
// `user` (logged, never trusted), `stream`; and, as vLLM-Omni and SGLang take them,
// `seed`, `num_inference_steps`, `guidance_scale`, `loras` [{"name", "strength"}] and
// `priority` ("low" | "normal" | "high"). Other fields OpenAI defines (quality, style,
// background, moderation, ...) are accepted and ignored, as are unknown ones, so that clients
// written for other servers keep working. null is the same as leaving a field out.
#pragma once

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "server/http/image_formats.h"
#include "server/runtime/generation_service.h"
#include "server/runtime/model_registry.h"

namespace streamdit::server {

struct ImagesRequest {
  GenerationJob job;
  bool stream = false;
  ImageFormat output_format = ImageFormat::kPng;
  int output_compression = 100;  // JPEG/WebP quality
  std::string user;              // as the client gave it, for the log
};

// INVALID_ARGUMENT naming the field (its message starts with it) for a malformed body or field.
absl::StatusOr<ImagesRequest> ParseImagesRequest(
    std::string_view body, std::optional<std::chrono::steady_clock::time_point> deadline);

// The job's images in the requested format (the PNGs themselves for PNG); INTERNAL if a codec
// fails.
absl::StatusOr<std::vector<std::string>> EncodeImages(const JobResult& result,
                                                      const ImagesRequest& request);

// {"created", "data": [{"b64_json", "seed"}], "output_format", "size", "streamdit": {seeds,
// device, queue/encode/denoise/decode seconds, memory peak/predicted/budget bytes, batch
// images}}; `images` are EncodeImages' for `format`.
nlohmann::json ImagesResponseJson(const JobResult& result, const std::vector<std::string>& images,
                                  ImageFormat format, int64_t created_unix_seconds);

// The `streamdit` object of a reply alone (also the stream's completed event).
nlohmann::json GenerationStatsJson(const JobResult& result);

// {"object": "list", "data": [{"id", "object": "model", "created", "owned_by", "streamdit":
// {family, defaults, weight_bytes, min_budget_bytes, loras: [...]}}]}.
nlohmann::json ModelsListJson(const ModelRegistry& models);

}  // namespace streamdit::server
