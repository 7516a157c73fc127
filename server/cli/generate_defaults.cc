#include "server/cli/generate_defaults.h"

#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <system_error>

#include "engine/status/status_error.h"

namespace streamdit::server::cli {
namespace {

GenerateDefaults FromYaml(const YAML::Node& root) {
  GenerateDefaults defaults;
  if (root["compute_dtype"]) defaults.dtype = root["compute_dtype"].as<std::string>();
  const YAML::Node models = root["models"];
  if (!models || !models.IsSequence() || models.size() == 0) return defaults;
  const YAML::Node model = models[0];
  if (model["name"]) defaults.model_name = model["name"].as<std::string>();
  if (model["family"]) defaults.family = model["family"].as<std::string>();
  if (model["dir"]) defaults.model_dir = model["dir"].as<std::string>();
  if (const YAML::Node paths = model["paths"]; paths && paths.IsMap()) {
    for (const auto& entry : paths) {
      defaults.paths[entry.first.as<std::string>()] = entry.second.as<std::string>();
    }
  }
  if (const YAML::Node values = model["defaults"]; values && values.IsMap()) {
    if (values["steps"]) defaults.steps = values["steps"].as<int>();
    if (values["width"]) defaults.width = values["width"].as<int>();
    if (values["height"]) defaults.height = values["height"].as<int>();
    if (values["t5_max_length"]) defaults.t5_max_length = values["t5_max_length"].as<int>();
  }
  return defaults;
}

}  // namespace

GenerateDefaults ReadGenerateDefaults(const std::string& path, bool must_exist) {
  std::error_code error;
  if (!std::filesystem::is_regular_file(path, error)) {
    if (!must_exist) return {};
    throw engine::NotFound("cannot read configuration " + path + ": no such file");
  }
  try {
    return FromYaml(YAML::LoadFile(path));
  } catch (const YAML::Exception& yaml_error) {
    throw engine::InvalidArgument("cannot read configuration " + path + ": " + yaml_error.what());
  }
}

}  // namespace streamdit::server::cli
