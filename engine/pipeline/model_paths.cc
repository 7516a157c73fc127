#include "engine/pipeline/model_paths.h"

#include <algorithm>
#include <filesystem>
#include <functional>

#include "engine/checkpoint/checkpoint_error.h"
#include "engine/pipeline/diffusers_folder.h"
#include "engine/status/status_error.h"

namespace streamdit::engine {
namespace fs = std::filesystem;
namespace {

bool IsFile(const fs::path& path) {
  std::error_code error;
  return fs::is_regular_file(path, error);
}

// Regular files in `directory` whose name starts with `prefix` and ends with `suffix`, sorted so
// that the choice does not depend on directory order.
std::vector<std::string> Matching(const fs::path& directory, const std::string& prefix,
                                  const std::string& suffix) {
  std::vector<std::string> found;
  std::error_code error;
  if (!fs::is_directory(directory, error)) return found;
  for (const auto& entry : fs::directory_iterator(directory, error)) {
    const std::string name = entry.path().filename().string();
    if (name.size() >= prefix.size() + suffix.size() && name.rfind(prefix, 0) == 0 &&
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0 &&
        IsFile(entry.path())) {
      found.push_back(entry.path().string());
    }
  }
  std::sort(found.begin(), found.end());
  return found;
}

[[noreturn]] void Missing(const fs::path& directory, const std::string& component,
                          const std::string& looked_for) {
  throw CheckpointError(CheckpointError::Code::kIo, (directory / looked_for).string(), "",
                        "missing " + component + " file (looked for " + looked_for + " in " +
                            directory.string() + ")");
}

// The first flat candidate group that exists, cut to its first file (one model per folder), else
// the diffusers folder's files.
std::vector<std::string> FindWeights(const fs::path& directory, const std::string& component,
                                     const std::vector<std::vector<std::string>>& flat,
                                     const std::function<std::vector<std::string>()>& diffusers,
                                     const std::string& looked_for) {
  for (const auto& group : flat) {
    if (!group.empty()) return {group.front()};
  }
  std::vector<std::string> files = diffusers();
  if (!files.empty()) return files;
  Missing(directory, component, looked_for);
}

std::string FindFile(const fs::path& directory, const std::string& component,
                     const std::vector<std::string>& relative_candidates) {
  for (const auto& relative : relative_candidates) {
    if (IsFile(directory / relative)) return (directory / relative).string();
  }
  Missing(directory, component, relative_candidates.front());
}

}  // namespace

const char* FluxFamilyName(FluxFamily family) {
  return family == FluxFamily::kDev ? "dev" : "schnell";
}

FluxFamily ParseFluxFamily(const std::string& name) {
  if (name == "dev") return FluxFamily::kDev;
  if (name == "schnell") return FluxFamily::kSchnell;
  throw InvalidArgument("family must be 'dev' or 'schnell', got '" + name + "'");
}

FluxSamplingDefaults FamilyDefaults(FluxFamily family) {
  return family == FluxFamily::kDev ? FluxDevDefaults() : FluxSchnellDefaults();
}

ModelPaths FindModelFiles(const std::string& directory) {
  const fs::path dir(directory);
  std::error_code error;
  if (!fs::is_directory(dir, error)) {
    throw CheckpointError(CheckpointError::Code::kIo, directory, "",
                          "model folder does not exist or is not a folder");
  }
  // A diffusers folder says what it is; one that is not FLUX.1 text-to-image stops here.
  const fs::path model_index = dir / "model_index.json";
  const bool diffusers_index = IsFile(model_index);
  if (diffusers_index) CheckDiffusersModelIndex(model_index.string());
  // Each component: the flat file first, else its diffusers folder (shards as its index names
  // them). The diffusers folder is read only when needed, so that a broken index beside flat
  // files that are used instead does not matter.
  auto diffusers = [&](const char* folder, const char* stem) {
    return [&dir, folder, stem] { return DiffusersWeightFiles((dir / folder).string(), stem); };
  };
  ModelPaths paths;
  // flux1-dev.safetensors / flux1-schnell.safetensors / flux1-demo.safetensors, else city96's
  // flux1-dev-Q4_K_S.gguf etc. (stored in their blocks), else diffusers. flux1-dev and
  // flux1-schnell side by side are two models: take the first by name.
  paths.transformer = FindWeights(
      dir, "transformer",
      {Matching(dir, "flux1-", ".safetensors"), Matching(dir, "flux1-", ".gguf")},
      diffusers("transformer", "diffusion_pytorch_model"), "flux1-*.safetensors or flux1-*.gguf");
  paths.ae = FindWeights(dir, "autoencoder", {Matching(dir, "ae.safetensors", "")},
                         diffusers("vae", "diffusion_pytorch_model"), "ae.safetensors");
  // Several t5xxl_* precisions side by side (fp16 and fp8): one model, take the first by name.
  // t5xxl_fp16.safetensors, else a GGUF encoder (city96's t5-v1_1-xxl-encoder-Q8_0.gguf, or
  // t5xxl_*.gguf), else diffusers.
  paths.t5 = FindWeights(
      dir, "T5 encoder",
      {Matching(dir, "t5xxl_", ".safetensors"), Matching(dir, "t5-v1_1-xxl-encoder", ".gguf"),
       Matching(dir, "t5xxl", ".gguf")},
      diffusers("text_encoder_2", "model"), "t5xxl_*.safetensors or t5-v1_1-xxl-encoder-*.gguf");
  paths.clip = FindWeights(dir, "CLIP encoder", {Matching(dir, "clip_l.safetensors", "")},
                           diffusers("text_encoder", "model"), "clip_l.safetensors");
  // transformers 5 saves tokenizers as tokenizer.json alone; the hub's FLUX.1 folders also hold
  // the original files, which are preferred.
  paths.t5_tokenizer =
      FindFile(dir, "T5 tokenizer",
               {"spiece.model", "tokenizer_2/spiece.model", "tokenizer_2/tokenizer.json"});
  if (!IsFile(dir / "vocab.json") && !IsFile(dir / "tokenizer" / "vocab.json") &&
      IsFile(dir / "tokenizer" / "tokenizer.json")) {
    paths.clip_vocab = (dir / "tokenizer" / "tokenizer.json").string();
  } else {
    paths.clip_vocab = FindFile(dir, "CLIP vocabulary", {"vocab.json", "tokenizer/vocab.json"});
    paths.clip_merges = FindFile(dir, "CLIP merges", {"merges.txt", "tokenizer/merges.txt"});
  }
  // The configuration files describe the diffusers components (and the model, when the folder
  // says it is a diffusers one).
  if (diffusers_index || paths.transformer.front().find("/transformer/") != std::string::npos) {
    paths.settings = ReadDiffusersSettings(directory);
  }
  return paths;
}

}  // namespace streamdit::engine
