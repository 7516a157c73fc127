// The LoRA files of --lora FILE[:SCALE] flags (generate --local, plan), read and checked against
// the models they will run with: the name of each is its file name without the extension.
#pragma once

#include <string>
#include <vector>

#include "engine/pipeline/generation_request.h"
#include "engine/pipeline/job_memory_plan.h"

namespace streamdit::server::cli {

// Throws what ParseLoraFlag and engine::LoadLoraAdapter throw (INVALID_ARGUMENT naming --lora;
// NOT_FOUND / DATA_LOSS naming the file and the key).
std::vector<engine::LoraUse> LoadLoraFiles(const std::vector<std::string>& flags,
                                           const engine::JobModels& models);

}  // namespace streamdit::server::cli
