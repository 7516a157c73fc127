#include "engine/pipeline/diffusers_folder.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>

#include "engine/checkpoint/checkpoint_error.h"

namespace streamdit::engine {
namespace fs = std::filesystem;
namespace {

using Json = nlohmann::json;

bool IsFile(const fs::path& path) {
  std::error_code error;
  return fs::is_regular_file(path, error);
}

[[noreturn]] void Invalid(const std::string& file, const std::string& field,
                          const std::string& detail) {
  throw CheckpointError(CheckpointError::Code::kInvalidEntry, file, field, detail);
}

// The file's JSON object; a file that cannot be read or parsed, or is not an object, is an error
// naming it (never an exception of the JSON library).
Json ReadJsonObject(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw CheckpointError(CheckpointError::Code::kIo, path, "", "cannot read the file");
  std::ostringstream text;
  text << in.rdbuf();
  Json json = Json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded() || !json.is_object()) {
    throw CheckpointError(CheckpointError::Code::kInvalidJson, path, "",
                          json.is_discarded() ? "not valid JSON" : "not a JSON object");
  }
  return json;
}

// Typed optional fields: absent (or JSON null, which diffusers writes for unset options) gives
// nullopt, another type is an error naming the field.
std::optional<bool> OptionalBool(const Json& json, const std::string& file,
                                 const std::string& field) {
  const auto it = json.find(field);
  if (it == json.end() || it->is_null()) return std::nullopt;
  if (!it->is_boolean()) Invalid(file, field, "expected true or false, got " + it->dump());
  return it->get<bool>();
}

std::optional<double> OptionalNumber(const Json& json, const std::string& file,
                                     const std::string& field) {
  const auto it = json.find(field);
  if (it == json.end() || it->is_null()) return std::nullopt;
  if (!it->is_number() || !std::isfinite(it->get<double>())) {
    Invalid(file, field, "expected a finite number, got " + it->dump());
  }
  return it->get<double>();
}

std::optional<int64_t> OptionalPositiveInt(const Json& json, const std::string& file,
                                           const std::string& field) {
  const auto it = json.find(field);
  if (it == json.end() || it->is_null()) return std::nullopt;
  if (!it->is_number_integer() || it->get<int64_t>() < 1) {
    Invalid(file, field, "expected a positive integer, got " + it->dump());
  }
  return it->get<int64_t>();
}

std::optional<std::string> OptionalString(const Json& json, const std::string& file,
                                          const std::string& field) {
  const auto it = json.find(field);
  if (it == json.end() || it->is_null()) return std::nullopt;
  if (!it->is_string()) Invalid(file, field, "expected a string, got " + it->dump());
  return it->get<std::string>();
}

void RequireClass(const Json& json, const std::string& file, const std::string& expected) {
  const std::optional<std::string> name = OptionalString(json, file, "_class_name");
  if (name && *name != expected) {
    throw CheckpointError(CheckpointError::Code::kUnrecognizedLayout, file, "_class_name",
                          "is '" + *name + "', expected '" + expected + "'");
  }
}

void ReadScheduler(const std::string& file, ModelFolderSettings& settings) {
  const Json json = ReadJsonObject(file);
  RequireClass(json, file, "FlowMatchEulerDiscreteScheduler");
  // Options that change the schedule in ways the engine does not compute: each must be unset or
  // at diffusers' default.
  for (const char* field : {"use_karras_sigmas", "use_exponential_sigmas", "use_beta_sigmas",
                            "invert_sigmas", "stochastic_sampling"}) {
    if (OptionalBool(json, file, field).value_or(false)) {
      Invalid(file, field, "is true; only FLUX's plain flow-matching Euler schedule is supported");
    }
  }
  if (const std::optional<double> terminal = OptionalNumber(json, file, "shift_terminal");
      terminal && *terminal != 0) {
    Invalid(file, "shift_terminal", "is set; stretching the schedule is not supported");
  }
  const std::string shift_type =
      OptionalString(json, file, "time_shift_type").value_or("exponential");
  if (shift_type != "exponential") {
    Invalid(file, "time_shift_type",
            "is '" + shift_type + "'; only \"exponential\" (FLUX's time shift) is supported");
  }
  // FluxPipeline hands the transformer timestep / 1000 with timestep = sigma x this.
  if (const std::optional<double> train = OptionalNumber(json, file, "num_train_timesteps");
      train && *train != 1000) {
    Invalid(
        file, "num_train_timesteps",
        "is " + json["num_train_timesteps"].dump() + "; FluxPipeline's timestep / 1000 needs 1000");
  }
  const bool dynamic = OptionalBool(json, file, "use_dynamic_shifting").value_or(false);
  if (!dynamic) {
    // Without dynamic shifting the scheduler applies the static shift·σ/(1+(shift−1)·σ): the
    // identity only at shift 1 (FLUX.1-schnell's setting).
    const double shift = OptionalNumber(json, file, "shift").value_or(1.0);
    if (shift != 1.0) {
      Invalid(file, "shift",
              "is " + json["shift"].dump() +
                  " without use_dynamic_shifting; only shift 1 (no shift) or dynamic shifting "
                  "is supported");
    }
  }
  settings.shift = dynamic;
  // FluxPipeline reads these for mu whether or not the scheduler uses it (calculate_shift).
  settings.base_shift = OptionalNumber(json, file, "base_shift").value_or(0.5);
  settings.max_shift = OptionalNumber(json, file, "max_shift").value_or(1.15);
  settings.base_image_seq_len = OptionalPositiveInt(json, file, "base_image_seq_len").value_or(256);
  settings.max_image_seq_len = OptionalPositiveInt(json, file, "max_image_seq_len").value_or(4096);
  if (dynamic && *settings.max_image_seq_len <= *settings.base_image_seq_len) {
    Invalid(file, "max_image_seq_len", "must be greater than base_image_seq_len");
  }
}

void ReadTransformer(const std::string& file, ModelFolderSettings& settings) {
  const Json json = ReadJsonObject(file);
  RequireClass(json, file, "FluxTransformer2DModel");
  // FluxTransformer2DModel's default when the field is absent.
  std::vector<int64_t> axes = {16, 56, 56};
  const auto it = json.find("axes_dims_rope");
  if (it != json.end()) {
    if (!it->is_array() || it->empty()) {
      Invalid(file, "axes_dims_rope", "expected an array of positive even integers");
    }
    axes.clear();
    for (const Json& value : *it) {
      if (!value.is_number_integer() || value.get<int64_t>() < 2 || value.get<int64_t>() % 2 != 0) {
        Invalid(file, "axes_dims_rope", "expected positive even integers, got " + it->dump());
      }
      axes.push_back(value.get<int64_t>());
    }
  }
  settings.rope_axes = axes;
}

void ReadVae(const std::string& file, ModelFolderSettings& settings) {
  const Json json = ReadJsonObject(file);
  RequireClass(json, file, "AutoencoderKL");
  // FluxPipeline decodes latents / scaling_factor + shift_factor: both must be stated (diffusers'
  // defaults, 0.18215 and None, are SD's and would fail in FluxPipeline).
  for (const char* field : {"scaling_factor", "shift_factor"}) {
    if (!OptionalNumber(json, file, field)) {
      Invalid(file, field, "missing: FLUX latents need the VAE's scaling_factor and shift_factor");
    }
  }
  settings.vae_scaling_factor = OptionalNumber(json, file, "scaling_factor");
  if (*settings.vae_scaling_factor == 0) Invalid(file, "scaling_factor", "must not be 0");
  settings.vae_shift_factor = OptionalNumber(json, file, "shift_factor");
  settings.vae_norm_groups = OptionalPositiveInt(json, file, "norm_num_groups");
}

}  // namespace

void CheckDiffusersModelIndex(const std::string& path) {
  const Json json = ReadJsonObject(path);
  const std::optional<std::string> name = OptionalString(json, path, "_class_name");
  if (!name) Invalid(path, "_class_name", "missing: the pipeline class is not stated");
  if (*name != "FluxPipeline") {
    throw CheckpointError(CheckpointError::Code::kUnrecognizedLayout, path, "_class_name",
                          "is '" + *name +
                              "'; this engine runs FLUX.1 text-to-image folders "
                              "(FluxPipeline)");
  }
  // Each component the engine loads is [library, class] of FLUX.1's class.
  const std::pair<const char*, const char*> components[] = {
      {"transformer", "FluxTransformer2DModel"},
      {"vae", "AutoencoderKL"},
      {"text_encoder", "CLIPTextModel"},
      {"text_encoder_2", "T5EncoderModel"},
      {"scheduler", "FlowMatchEulerDiscreteScheduler"}};
  for (const auto& [component, expected] : components) {
    const auto it = json.find(component);
    if (it == json.end()) continue;  // the folder itself decides (a missing file is reported)
    if (!it->is_array() || it->size() != 2 || !(*it)[1].is_string()) {
      Invalid(path, component, "expected [library, class], got " + it->dump());
    }
    if ((*it)[1].get<std::string>() != expected) {
      throw CheckpointError(CheckpointError::Code::kUnrecognizedLayout, path, component,
                            "is " + (*it)[1].get<std::string>() + ", expected " + expected);
    }
  }
}

std::vector<std::string> DiffusersWeightFiles(const std::string& folder, const std::string& stem) {
  const fs::path dir(folder);
  const fs::path index = dir / (stem + ".safetensors.index.json");
  if (IsFile(index)) {
    const std::string file = index.string();
    const Json json = ReadJsonObject(file);
    const auto map = json.find("weight_map");
    if (map == json.end() || !map->is_object() || map->empty()) {
      Invalid(file, "weight_map", "expected a non-empty object {tensor: shard file}");
    }
    std::set<std::string> shards;
    for (const auto& [tensor, shard] : map->items()) {
      if (!shard.is_string()) Invalid(file, "weight_map." + tensor, "expected a file name");
      const std::string name = shard.get<std::string>();
      // A shard is a file beside the index, never a path elsewhere.
      if (name.empty() || name.find('/') != std::string::npos ||
          name.find('\\') != std::string::npos || name == "." || name == "..") {
        Invalid(file, "weight_map." + tensor, "'" + name + "' is not a file name");
      }
      shards.insert(name);
    }
    std::vector<std::string> files;
    for (const std::string& shard : shards) {
      const fs::path path = dir / shard;
      if (!IsFile(path)) {
        throw CheckpointError(CheckpointError::Code::kIo, path.string(), "",
                              "missing shard named by " + file);
      }
      files.push_back(path.string());
    }
    return files;
  }
  const fs::path single = dir / (stem + ".safetensors");
  if (IsFile(single)) return {single.string()};
  std::vector<std::string> found;
  std::error_code error;
  if (!fs::is_directory(dir, error)) return found;
  for (const auto& entry : fs::directory_iterator(dir, error)) {
    const std::string name = entry.path().filename().string();
    const std::string suffix = ".safetensors";
    if (name.rfind(stem, 0) == 0 && name.size() > stem.size() + suffix.size() &&
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0 &&
        IsFile(entry.path())) {
      found.push_back(entry.path().string());
    }
  }
  std::sort(found.begin(), found.end());
  return found;
}

ModelFolderSettings ReadDiffusersSettings(const std::string& directory) {
  const fs::path dir(directory);
  ModelFolderSettings settings;
  if (const fs::path file = dir / "scheduler" / "scheduler_config.json"; IsFile(file)) {
    ReadScheduler(file.string(), settings);
  }
  if (const fs::path file = dir / "transformer" / "config.json"; IsFile(file)) {
    ReadTransformer(file.string(), settings);
  }
  if (const fs::path file = dir / "vae" / "config.json"; IsFile(file)) {
    ReadVae(file.string(), settings);
  }
  return settings;
}

}  // namespace streamdit::engine
