// Between the public protobuf messages and the runtime's types. Proto-level checks live here (the
// runtime validates the rest): the prompt must be valid UTF-8 (a raw client can send any bytes);
// unset guidance and LoRA strength take their defaults (0 is a value like any other), the
// priority enum maps onto the scheduler's classes, the runtime resolves the LoRA names.
#pragma once

#include <chrono>
#include <optional>

#include "absl/status/statusor.h"
#include "server/runtime/generation_service.h"
#include "streamdit/v1/image_generation.pb.h"

namespace streamdit::server {

// INVALID_ARGUMENT for a number the enum does not define (proto3 enums are open).
absl::StatusOr<scheduler::Priority> PriorityFromProto(int priority);

absl::StatusOr<GenerationJob> JobFromProto(
    const v1::GenerateImageRequest& request,
    std::optional<std::chrono::steady_clock::time_point> deadline);

void ResponseFromResult(const JobResult& result, v1::GenerateImageResponse* response);
void StatusToProto(const ServiceStatus& status, v1::GetServerStatusResponse* proto);
void ModelsToProto(const ModelRegistry& models, v1::ListModelsResponse* proto);

}  // namespace streamdit::server
