#include "engine/lora/lora_loader.h"

#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "engine/checkpoint/checkpoint_error.h"
#include "engine/checkpoint/shape_string.h"
#include "engine/tensor/stored_tensor.h"

namespace streamdit::engine {
namespace {

using Code = CheckpointError::Code;

// The tensors of one module, by role.
struct Pair {
  std::string down_key, up_key, bias_key, alpha_key;
};

struct Suffixes {
  std::string down, up;
};

const Suffixes kKohyaSuffixes{".lora_down.weight", ".lora_up.weight"};
const Suffixes kPeftSuffixes{".lora_A.weight", ".lora_B.weight"};

LoraFormat DetectFormat(const Checkpoint& file, const std::string& path) {
  std::optional<LoraFormat> format;
  std::string first_key;
  for (const std::string& key : file.Names()) {
    std::optional<LoraFormat> of;
    if (key.find(".lora_down.") != std::string::npos ||
        key.find(".lora_up.") != std::string::npos) {
      of = LoraFormat::kKohya;
    } else if (key.find(".lora_A.") != std::string::npos ||
               key.find(".lora_B.") != std::string::npos) {
      of = absl::StartsWith(key, "transformer.") || absl::StartsWith(key, "text_encoder.") ||
                   absl::StartsWith(key, "text_encoder_2.")
               ? LoraFormat::kDiffusers
               : LoraFormat::kBfl;
    }
    if (!of) continue;
    if (format && *format != *of) {
      throw CheckpointError(Code::kUnrecognizedLayout, path, key,
                            std::string("mixes LoRA formats: '") + first_key + "' is " +
                                LoraFormatName(*format) + ", this key is " + LoraFormatName(*of));
    }
    if (!format) first_key = key;
    format = of;
  }
  if (!format) {
    throw CheckpointError(Code::kUnrecognizedLayout, path, file.size() ? file.Names().front() : "",
                          "not a LoRA file of a known format (kohya lora_down/lora_up, "
                          "diffusers/PEFT or BFL lora_A/lora_B)");
  }
  return *format;
}

// Splits every key into its module name and role; a key of no role is an error.
std::map<std::string, Pair> GroupKeys(const Checkpoint& file, LoraFormat format,
                                      const std::string& path) {
  const Suffixes& suffixes = format == LoraFormat::kKohya ? kKohyaSuffixes : kPeftSuffixes;
  const std::string bias_suffix = format == LoraFormat::kKohya ? "" : ".lora_B.bias";
  std::map<std::string, Pair> modules;
  for (const std::string& key : file.Names()) {
    auto stem = [&](const std::string& suffix) {
      return key.substr(0, key.size() - suffix.size());
    };
    if (absl::EndsWith(key, suffixes.down)) {
      modules[stem(suffixes.down)].down_key = key;
    } else if (absl::EndsWith(key, suffixes.up)) {
      modules[stem(suffixes.up)].up_key = key;
    } else if (!bias_suffix.empty() && absl::EndsWith(key, bias_suffix)) {
      modules[stem(bias_suffix)].bias_key = key;
    } else if (absl::EndsWith(key, ".alpha") && format != LoraFormat::kBfl) {
      modules[stem(".alpha")].alpha_key = key;
    } else {
      throw CheckpointError(Code::kUnrecognizedLayout, path, key,
                            std::string("is not part of a ") + LoraFormatName(format) +
                                " LoRA pair (LoHa, LoKr and DoRA tensors are not supported)");
    }
  }
  return modules;
}

torch::Tensor FloatTensor(const Checkpoint& file, const std::string& key, const std::string& path,
                          int64_t dims) {
  const TensorRef ref = file.Require(key);
  const DType dtype = ref.info->dtype;
  if (dtype != DType::kF32 && dtype != DType::kF16 && dtype != DType::kBF16 &&
      dtype != DType::kF64) {
    throw CheckpointError(Code::kInvalidEntry, path, key,
                          "has dtype " + std::string(DTypeName(dtype)) +
                              "; LoRA tensors must be F32, F16, BF16 or F64");
  }
  if (static_cast<int64_t>(ref.info->shape.size()) != dims) {
    throw CheckpointError(Code::kBadShape, path, key,
                          "has shape " + ShapeString(ref.info->shape) + ", expected " +
                              std::to_string(dims) + " dimensions");
  }
  torch::Tensor tensor = ViewTensor(ref);
  if (!torch::isfinite(tensor.to(torch::kFloat)).all().item<bool>()) {
    throw CheckpointError(Code::kInvalidEntry, path, key, "contains NaN or infinite values");
  }
  return tensor;
}

// The diffusers adapter config's lora_alpha for a component ("transformer.lora_alpha"), if any.
std::optional<double> MetadataAlpha(const Checkpoint& file, const std::string& component,
                                    const std::string& path) {
  auto found = file.metadata().find("lora_adapter_metadata");
  if (found == file.metadata().end()) return std::nullopt;
  nlohmann::json config = nlohmann::json::parse(found->second, nullptr, /*allow_exceptions=*/false);
  if (!config.is_object()) {
    throw CheckpointError(Code::kInvalidJson, path, "",
                          "its lora_adapter_metadata is not a JSON object");
  }
  for (const std::string& key : {component + ".lora_alpha", std::string("lora_alpha")}) {
    auto alpha = config.find(key);
    if (alpha != config.end() && alpha->is_number()) return alpha->get<double>();
  }
  return std::nullopt;
}

std::string ComponentOfDiffusersName(const std::string& name) {
  const std::size_t dot = name.find('.');
  return name.substr(0, dot);
}

}  // namespace

std::shared_ptr<const LoraAdapter> LoadLoraAdapter(const std::string& path, const std::string& name,
                                                   const LoraTargets& targets) {
  Checkpoint file = Checkpoint::Open(path);
  const LoraFormat format = DetectFormat(file, path);
  std::vector<LoraModule> modules;
  for (const auto& [stem, pair] : GroupKeys(file, format, path)) {
    // The key a message names when the pair as a whole is at fault: its first present tensor.
    std::string any_key;
    for (const std::string* key : {&pair.down_key, &pair.up_key, &pair.bias_key, &pair.alpha_key}) {
      if (any_key.empty()) any_key = *key;
    }
    const LoraTarget* target = format == LoraFormat::kKohya       ? targets.Kohya(stem)
                               : format == LoraFormat::kDiffusers ? targets.Diffusers(stem)
                                                                  : targets.Bfl(stem);
    if (!target) {
      throw CheckpointError(Code::kUnrecognizedLayout, path, any_key,
                            "'" + stem + "' names no linear layer of this model");
    }
    if (pair.down_key.empty() || pair.up_key.empty()) {
      throw CheckpointError(
          Code::kMissingTensor, path, any_key,
          "'" + stem + "' lacks its " +
              (pair.down_key.empty() ? "down (lora_down / lora_A)" : "up (lora_up / lora_B)") +
              " half");
    }
    LoraModule module;
    module.component = target->component;
    module.block = target->block;
    module.module = target->module;
    module.key = stem;
    module.row_offset = target->row_offset;
    module.down = FloatTensor(file, pair.down_key, path, 2);
    module.up = FloatTensor(file, pair.up_key, path, 2);
    const int64_t rank = module.down.size(0);
    if (rank < 1) throw CheckpointError(Code::kBadShape, path, pair.down_key, "has rank 0");
    if (module.down.size(1) != target->in_features) {
      throw CheckpointError(Code::kBadShape, path, pair.down_key,
                            "has shape " + ShapeString(module.down.sizes().vec()) +
                                ", but the layer takes " + std::to_string(target->in_features) +
                                " inputs: expected [" + std::to_string(rank) + ", " +
                                std::to_string(target->in_features) + "]");
    }
    if (module.up.size(1) != rank) {
      throw CheckpointError(Code::kBadShape, path, pair.up_key,
                            "has rank " + std::to_string(module.up.size(1)) + " but " +
                                pair.down_key + " has rank " + std::to_string(rank));
    }
    if (module.up.size(0) != target->rows) {
      throw CheckpointError(Code::kBadShape, path, pair.up_key,
                            "has shape " + ShapeString(module.up.sizes().vec()) +
                                ", but the layer has " + std::to_string(target->rows) +
                                " outputs: expected [" + std::to_string(target->rows) + ", " +
                                std::to_string(rank) + "]");
    }
    if (!pair.bias_key.empty()) {
      module.up_bias = FloatTensor(file, pair.bias_key, path, 1);
      if (module.up_bias.size(0) != target->rows) {
        throw CheckpointError(Code::kBadShape, path, pair.bias_key,
                              "has shape " + ShapeString(module.up_bias.sizes().vec()) +
                                  ", expected [" + std::to_string(target->rows) + "]");
      }
    }
    std::optional<double> alpha;
    if (!pair.alpha_key.empty()) {
      const TensorRef ref = file.Require(pair.alpha_key);
      if (ref.info->numel() != 1 || !IsFloatingPoint(ref.info->dtype)) {
        throw CheckpointError(Code::kBadShape, path, pair.alpha_key,
                              "must be one floating-point number, got " +
                                  std::string(DTypeName(ref.info->dtype)) + " " +
                                  ShapeString(ref.info->shape));
      }
      alpha = ViewTensor(ref).to(torch::kDouble).item<double>();
      if (!std::isfinite(*alpha)) {
        throw CheckpointError(Code::kInvalidEntry, path, pair.alpha_key, "is not finite");
      }
    } else if (format == LoraFormat::kDiffusers) {
      alpha = MetadataAlpha(file, ComponentOfDiffusersName(stem), path);
    }
    if (format != LoraFormat::kBfl && alpha && *alpha != 0) module.scale = *alpha / double(rank);
    if (target->swap_halves) {  // diffusers' [scale; shift] -> BFL's [shift; scale]
      auto swap = [](const torch::Tensor& t) {
        auto halves = t.chunk(2, 0);
        return torch::cat({halves[1], halves[0]}, 0);
      };
      module.up = swap(module.up);
      if (module.up_bias.defined()) module.up_bias = swap(module.up_bias);
    }
    modules.push_back(std::move(module));
  }
  if (modules.empty()) {
    throw CheckpointError(Code::kUnrecognizedLayout, path, "", "holds no LoRA pair");
  }
  return std::make_shared<LoraAdapter>(name, path, format, std::move(file), std::move(modules));
}

}  // namespace streamdit::engine
