#include "server/cli/lora_files.h"

#include <filesystem>

#include "engine/lora/lora_loader.h"
#include "server/cli/flag_values.h"

namespace streamdit::server::cli {

std::vector<engine::LoraUse> LoadLoraFiles(const std::vector<std::string>& flags,
                                           const engine::JobModels& models) {
  std::vector<engine::LoraUse> loras;
  if (flags.empty()) return loras;
  const engine::LoraTargets targets = engine::LoraTargets::Of(models);
  for (const std::string& text : flags) {
    const LoraFlag lora = ParseLoraFlag("--lora", text);
    const std::string name = std::filesystem::path(lora.name).stem().string();
    loras.push_back({engine::LoadLoraAdapter(lora.name, name, targets), lora.strength});
  }
  return loras;
}

}  // namespace streamdit::server::cli
