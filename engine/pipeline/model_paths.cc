#include "engine/pipeline/model_paths.h"

#include <algorithm>
#include <filesystem>

#include "engine/checkpoint/checkpoint_error.h"
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

// The first candidate group that exists: each group is the files of one naming convention.
std::vector<std::string> FindWeights(const fs::path& directory, const std::string& component,
                                     const std::vector<std::vector<std::string>>& candidates,
                                     const std::string& looked_for) {
  for (const auto& group : candidates) {
    if (!group.empty()) return group;
  }
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
  ModelPaths paths;
  // flux1-dev.safetensors / flux1-schnell.safetensors / flux1-demo.safetensors, else city96's
  // flux1-dev-Q4_K_S.gguf etc. (stored in their blocks), else diffusers.
  paths.transformer =
      FindWeights(dir, "transformer",
                  {Matching(dir, "flux1-", ".safetensors"), Matching(dir, "flux1-", ".gguf"),
                   Matching(dir / "transformer", "diffusion_pytorch_model", ".safetensors")},
                  "flux1-*.safetensors or flux1-*.gguf");
  // flux1-dev and flux1-schnell side by side are two models: take the first by name.
  if (paths.transformer.front().find("/transformer/") == std::string::npos) {
    paths.transformer.resize(1);
  }
  paths.ae = FindWeights(dir, "autoencoder",
                         {Matching(dir, "ae.safetensors", ""),
                          Matching(dir / "vae", "diffusion_pytorch_model", ".safetensors")},
                         "ae.safetensors");
  // t5xxl_fp16.safetensors, else a GGUF encoder (city96's t5-v1_1-xxl-encoder-Q8_0.gguf, or
  // t5xxl_*.gguf), else diffusers.
  paths.t5 = FindWeights(
      dir, "T5 encoder",
      {Matching(dir, "t5xxl_", ".safetensors"), Matching(dir, "t5-v1_1-xxl-encoder", ".gguf"),
       Matching(dir, "t5xxl", ".gguf"), Matching(dir / "text_encoder_2", "model", ".safetensors")},
      "t5xxl_*.safetensors or t5-v1_1-xxl-encoder-*.gguf");
  // Several t5xxl_* precisions side by side (fp16 and fp8): one model, take the first by name.
  if (paths.t5.front().find("/text_encoder_2/") == std::string::npos) paths.t5.resize(1);
  paths.clip = FindWeights(dir, "CLIP encoder",
                           {Matching(dir, "clip_l.safetensors", ""),
                            Matching(dir / "text_encoder", "model", ".safetensors")},
                           "clip_l.safetensors");
  paths.t5_tokenizer = FindFile(dir, "T5 tokenizer", {"spiece.model", "tokenizer_2/spiece.model"});
  paths.clip_vocab = FindFile(dir, "CLIP vocabulary", {"vocab.json", "tokenizer/vocab.json"});
  paths.clip_merges = FindFile(dir, "CLIP merges", {"merges.txt", "tokenizer/merges.txt"});
  return paths;
}

}  // namespace streamdit::engine
