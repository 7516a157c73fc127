// A model component's weights spread over one or more safetensors files (diffusers shards), or in
// one GGUF file (city96's quantized FLUX), seen through an optional key prefix (all-in-one files
// nest components under "model.diffusion_model.", "text_encoders.clip_l.transformer.", ...).
// Cheap to copy: the mapped files are shared.
//
// A GGUF file is recognised by its ".gguf" name. Its tensors are described to callers like
// safetensors ones (TensorRef::info: the logical row-major shape, i.e. GGUF's dims reversed, and
// the element dtype for F32/F16/BF16), so shape checks and layouts work unchanged; a
// block-quantized tensor (Q8_0, Q4_K, ...) has info->dtype U8 and its block type in
// TensorRef::gguf (engine/tensor/stored_tensor.h views it as a block-quantized StoredTensor).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/checkpoint/gguf_file.h"
#include "engine/checkpoint/safetensors.h"

namespace streamdit::engine {

struct TensorRef {
  const SafetensorsFile* file = nullptr;  // null for a tensor of a GGUF file
  // The tensor as safetensors would describe it (synthesized for GGUF: see above).
  const TensorInfo* info = nullptr;
  // GGUF only: the file and its tensor info (block type, ggml dims); null for safetensors.
  const GgufFile* gguf_file = nullptr;
  const GgufTensorInfo* gguf = nullptr;
  // Keeps the mapped file alive while anything views its bytes (set by Checkpoint::Find; views
  // made from a TensorRef without it are valid only while their Checkpoint is).
  std::shared_ptr<const void> owner;
  // Scaled fp8 (ComfyUI's flux1-dev-fp8-scaled, t5xxl_fp8_e4m3fn_scaled): the weight's value is
  // its fp8 code times the "<stem>.scale_weight" tensor beside it; 1 for every other tensor.
  float scale = 1.0f;

  // The first stored byte inside the read-only mapping (info->nbytes() bytes).
  const uint8_t* data() const;
  // The file the tensor is in, for error messages.
  const std::string& path() const;
};

class Checkpoint {
 public:
  // Opens every file (shards of one model). A name present in two shards is kDuplicateName. A
  // ".gguf" file must be the only one given (kInvalidEntry naming it otherwise). Every
  // "<stem>.scale_weight" is read into TensorRef::scale of "<stem>.weight", which must be fp8
  // (kInvalidEntry otherwise, kMissingTensor when absent); the scale must hold one finite nonzero
  // F32/F16/BF16 value (kBadShape, kInvalidEntry). The "scaled_fp8" marker tensor is not needed
  // for that: a scale beside a weight means the same with or without it.
  static Checkpoint Open(const std::vector<std::string>& paths);
  static Checkpoint Open(const std::string& path) { return Open(std::vector<std::string>{path}); }

  // The tensors whose names start with `prefix`, with the prefix removed.
  Checkpoint WithPrefix(std::string_view prefix) const;
  // The tensors under the names `rename` gives them; a name it maps to "" is left out. For files
  // that name a model's tensors their own way (llama.cpp's T5 GGUF names). Two names mapped to
  // one are kDuplicateName, naming both.
  Checkpoint Renamed(const std::function<std::string(const std::string&)>& rename) const;
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

  // __metadata__ of the first file; for GGUF, its string-valued keys (the others: gguf()).
  const std::map<std::string, std::string>& metadata() const;
  // The GGUF file when the checkpoint is one, else nullptr (for its metadata).
  const GgufFile* gguf() const;
  // The file path(s), for error messages.
  std::string description() const;

 private:
  struct Files;  // the mapped files and the TensorInfos synthesized for GGUF tensors
  std::shared_ptr<const Files> files_;
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
