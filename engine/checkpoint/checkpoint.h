// A model component's weights spread over one or more safetensors files (diffusers shards), seen
// through an optional key prefix (all-in-one files nest components under "model.diffusion_model.",
// "text_encoders.clip_l.transformer.", ...). Cheap to copy: the mapped files are shared.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/checkpoint/safetensors.h"

namespace streamdit::engine {

struct TensorRef {
  const SafetensorsFile* file = nullptr;
  const TensorInfo* info = nullptr;
  // Keeps the mapped file alive while anything views its bytes (set by Checkpoint::Find; views
  // made from a TensorRef without it are valid only while their Checkpoint is).
  std::shared_ptr<const void> owner;
};

class Checkpoint {
 public:
  // Opens every file (shards of one model). A name present in two shards is kDuplicateName.
  static Checkpoint Open(const std::vector<std::string>& paths);
  static Checkpoint Open(const std::string& path) { return Open(std::vector<std::string>{path}); }

  // The tensors whose names start with `prefix`, with the prefix removed.
  Checkpoint WithPrefix(std::string_view prefix) const;
  // The first of `prefixes` under which `probe` exists ("" is a valid candidate); nullopt if none.
  std::optional<std::string> DetectPrefix(const std::vector<std::string>& prefixes,
                                          std::string_view probe) const;

  std::optional<TensorRef> Find(std::string_view name) const;
  bool Has(std::string_view name) const { return Find(name).has_value(); }
  // Throws CheckpointError(kMissingTensor) naming the file(s) and the tensor.
  TensorRef Require(std::string_view name) const;
  // Require + shape check; throws CheckpointError(kBadShape) naming expected and actual shapes.
  TensorRef RequireShape(std::string_view name, const std::vector<int64_t>& shape) const;
  std::vector<std::string> Names() const;  // sorted
  std::size_t size() const { return entries_.size(); }

  // __metadata__ of the first file.
  const std::map<std::string, std::string>& metadata() const;
  // The file path(s), for error messages.
  std::string description() const;

 private:
  std::shared_ptr<const std::vector<std::unique_ptr<SafetensorsFile>>> files_;
  std::map<std::string, TensorRef, std::less<>> entries_;
};

// Well-known key prefixes of the all-in-one and ComfyUI-style files (flux-spec.md §1.5).
namespace key_prefix {
inline const std::vector<std::string> kTransformer = {"", "model.diffusion_model."};
inline const std::vector<std::string> kClip = {"", "text_encoders.clip_l.transformer."};
inline const std::vector<std::string> kT5 = {"", "text_encoders.t5xxl.transformer."};
inline const std::vector<std::string> kVae = {"", "vae.", "first_stage_model."};
}  // namespace key_prefix

}  // namespace streamdit::engine
