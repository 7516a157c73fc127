// The `streamdit` binary: one CLI for every tool. Subcommands dispatch to library functions so
// that tests exercise the same code paths as users.
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "engine/tools/demo_model_command.h"
#include "engine/tools/flux_forward_command.h"
#include "engine/tools/generate_command.h"
#include "engine/tools/plan_command.h"

namespace {

constexpr char kUsage[] =
    "usage: streamdit <command> [args]\n"
    "commands:\n"
    "  generate --local     text to PNG with the FLUX pipeline in this process\n"
    "  plan                 residency plan, predicted peak and step time for a memory budget\n"
    "  demo-model DIR       write the small demo model set into DIR\n"
    "  debug flux-forward   one FLUX transformer forward pass from a tensors file\n"
    "options:\n"
    "  --config FILE        configuration (default: config/default.yaml when present)\n";

constexpr char kDefaultConfig[] = "config/default.yaml";

// The generate command's defaults from the first model of the configuration file. A missing
// default file is not an error (flags can say everything); a missing --config file is.
streamdit::GenerateCommandDefaults ReadGenerateDefaults(const std::string& path,
                                                        bool explicit_path) {
  streamdit::engine::GenerateCommandDefaults defaults;
  std::error_code error;
  if (!explicit_path && !std::filesystem::is_regular_file(path, error)) return defaults;
  const YAML::Node root = YAML::LoadFile(path);
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

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  std::string config_path = kDefaultConfig;
  bool explicit_config = false;
  if (args.size() >= 2 && args[0] == "--config") {
    config_path = args[1];
    explicit_config = true;
    args.erase(args.begin(), args.begin() + 2);
  }
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    std::cout << kUsage;
    return args.empty() ? 2 : 0;
  }
  if (args[0] == "debug" && args.size() >= 2 && args[1] == "flux-forward") {
    return streamdit::engine::RunFluxForwardCommand({args.begin() + 2, args.end()}, std::cout, std::cerr);
  }
  if (args[0] == "plan") {
    return streamdit::engine::RunPlanCommand({args.begin() + 1, args.end()}, std::cout, std::cerr);
  }
  if (args[0] == "demo-model") {
    return streamdit::engine::RunDemoModelCommand({args.begin() + 1, args.end()}, std::cout, std::cerr);
  }
  if (args[0] == "generate") {
    streamdit::engine::GenerateCommandDefaults defaults;
    try {
      defaults = ReadGenerateDefaults(config_path, explicit_config);
    } catch (const std::exception& error) {
      std::cerr << "streamdit: cannot read configuration " << config_path << ": " << error.what()
                << "\n";
      return 2;
    }
    return streamdit::engine::RunGenerateCommand({args.begin() + 1, args.end()}, std::cout, std::cerr,
                                         defaults);
  }
  std::cerr << "streamdit: unknown command '" << args[0] << "'\n" << kUsage;
  return 2;
}
