// Between the public protobuf messages and the runtime's types. Proto-level checks live here (the
// runtime validates the rest): the prompt must be valid UTF-8 (a raw client can send any bytes);
// a LoRA's strength 0 means 1.0 (the field's default), the runtime resolves the LoRA names.
#pragma once

#include <chrono>
#include <optional>

#include "absl/status/statusor.h"
#include "server/runtime/generation_service.h"
#include "streamdit/v1/image_generation.pb.h"

namespace streamdit::server {

absl::StatusOr<GenerationJob> JobFromProto(
    const v1::GenerateImageRequest& request,
    std::optional<std::chrono::steady_clock::time_point> deadline);

void ResponseFromResult(const JobResult& result, v1::GenerateImageResponse* response);
void StatusToProto(const ServiceStatus& status, v1::ServerStatus* proto);
void ModelsToProto(const ModelRegistry& models, v1::ListModelsResponse* proto);

}  // namespace streamdit::server
