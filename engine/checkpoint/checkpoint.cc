#include "engine/checkpoint/checkpoint.h"

#include <cmath>
#include <cstring>
#include <string_view>
#include <utility>

#include "engine/checkpoint/checkpoint_error.h"
#include "engine/checkpoint/dtype.h"
#include "engine/checkpoint/gguf_dequantize.h"
#include "engine/checkpoint/shape_string.h"
#include "engine/status/status_error.h"

namespace streamdit::engine {

struct Checkpoint::Files {
  std::vector<std::unique_ptr<SafetensorsFile>> safetensors;
  std::unique_ptr<GgufFile> gguf;
  // One per GGUF tensor, in file order; TensorRef::info points into it (never resized after).
  std::vector<TensorInfo> gguf_infos;
  // GGUF's string-valued metadata, as safetensors' __metadata__ would hold it.
  std::map<std::string, std::string> gguf_strings;
};

namespace {

using Code = CheckpointError::Code;

constexpr std::string_view kScaleSuffix = ".scale_weight";

bool EndsWith(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The one value of a "*.scale_weight" tensor (shape [] or [1] in the published files).
float ReadScale(const TensorRef& ref, const std::string& name) {
  const TensorInfo& info = *ref.info;
  int64_t numel = 1;
  for (int64_t s : info.shape) numel *= s;
  if (numel != 1) {
    throw CheckpointError(Code::kBadShape, ref.path(), name,
                          "a weight scale holds one value, found shape " + ShapeString(info.shape));
  }
  const uint8_t* data = ref.data();
  float value = 0;
  uint16_t bits = 0;
  switch (info.dtype) {
    case DType::kF32:
      std::memcpy(&value, data, sizeof(value));
      break;
    case DType::kF16:
      std::memcpy(&bits, data, sizeof(bits));
      value = HalfToFloat(bits);
      break;
    case DType::kBF16:
      std::memcpy(&bits, data, sizeof(bits));
      value = BFloat16ToFloat(bits);
      break;
    default:
      throw CheckpointError(
          Code::kInvalidEntry, ref.path(), name,
          "a weight scale must be F32, F16 or BF16, found " + std::string(DTypeName(info.dtype)));
  }
  // A zero scale zeroes the weight and an infinite or NaN one poisons every output: the file is
  // broken, and saying so here beats a black or white image later.
  if (!std::isfinite(value) || value == 0.0f) {
    throw CheckpointError(Code::kInvalidEntry, ref.path(), name,
                          "weight scale " + std::to_string(value) + " is not finite and nonzero");
  }
  return value;
}

// Attaches every "<stem>.scale_weight" to its "<stem>.weight" (TensorRef::scale).
void AttachFp8Scales(std::map<std::string, TensorRef, std::less<>>& entries) {
  for (const auto& [name, scale] : entries) {
    if (!EndsWith(name, kScaleSuffix)) continue;
    const std::string weight = name.substr(0, name.size() - kScaleSuffix.size()) + ".weight";
    auto it = entries.find(weight);
    if (it == entries.end()) {
      throw CheckpointError(Code::kMissingTensor, scale.path(), weight,
                            "the file scales it (" + name + ") but does not hold it");
    }
    const DType dtype = it->second.info->dtype;
    if (dtype != DType::kF8E4M3 && dtype != DType::kF8E5M2) {
      throw CheckpointError(Code::kInvalidEntry, scale.path(), name,
                            "scales " + weight + ", which is " + std::string(DTypeName(dtype)) +
                                ", not fp8: only fp8 weights carry a scale");
    }
    it->second.scale = ReadScale(scale, name);
  }
}

bool IsGgufPath(const std::string& path) {
  return path.size() >= 5 && path.compare(path.size() - 5, 5, ".gguf") == 0;
}

// How a GGUF tensor looks to code written for safetensors: the logical row-major shape, and the
// element dtype where elements are plain (block-quantized bytes are U8; their type is in
// TensorRef::gguf). begin/end span the stored bytes so that nbytes() is the stored size.
TensorInfo DescribeGguf(const GgufTensorInfo& gguf) {
  TensorInfo info;
  info.name = gguf.name;
  info.shape = gguf.shape;
  switch (gguf.type) {
    case GgmlType::kF32:
      info.dtype = DType::kF32;
      break;
    case GgmlType::kF16:
      info.dtype = DType::kF16;
      break;
    case GgmlType::kBF16:
      info.dtype = DType::kBF16;
      break;
    default:
      info.dtype = DType::kU8;
  }
  info.begin = gguf.offset;
  info.end = gguf.offset + gguf.nbytes;
  return info;
}

}  // namespace

const uint8_t* TensorRef::data() const {
  return gguf != nullptr ? gguf_file->Data(*gguf) : file->Data(*info);
}

const std::string& TensorRef::path() const {
  return gguf_file != nullptr ? gguf_file->path() : file->path();
}

Checkpoint Checkpoint::Open(const std::vector<std::string>& paths) {
  if (paths.empty()) throw InvalidArgument("Checkpoint::Open: no files given");
  auto files = std::make_shared<Files>();
  Checkpoint checkpoint;
  for (const std::string& path : paths) {
    if (!IsGgufPath(path)) continue;
    if (paths.size() != 1) {
      throw CheckpointError(
          Code::kInvalidEntry, path, "",
          "a GGUF checkpoint is one file; got " + std::to_string(paths.size()) + " files");
    }
    files->gguf = GgufFile::Open(path);
    files->gguf_infos.reserve(files->gguf->tensors().size());
    for (const GgufTensorInfo& gguf : files->gguf->tensors()) {
      files->gguf_infos.push_back(DescribeGguf(gguf));
      // Names are unique: the reader rejects a repeated one (kDuplicateName).
      checkpoint.entries_.emplace(
          gguf.name,
          TensorRef{nullptr, &files->gguf_infos.back(), files->gguf.get(), &gguf, {}, 1.0f});
    }
    for (const auto& [key, value] : files->gguf->metadata()) {
      if (std::optional<std::string_view> text = value.AsString()) {
        files->gguf_strings.emplace(key, std::string(*text));
      }
    }
    checkpoint.files_ = std::move(files);
    return checkpoint;
  }
  files->safetensors.reserve(paths.size());
  for (const std::string& path : paths) files->safetensors.push_back(SafetensorsFile::Open(path));
  for (const auto& file : files->safetensors) {
    for (const TensorInfo& info : file->tensors()) {
      auto [it, inserted] = checkpoint.entries_.emplace(
          info.name, TensorRef{file.get(), &info, nullptr, nullptr, nullptr, 1.0f});
      if (!inserted) {
        throw CheckpointError(Code::kDuplicateName, file->path(), info.name,
                              "also present in shard " + it->second.path());
      }
    }
  }
  AttachFp8Scales(checkpoint.entries_);
  checkpoint.files_ = std::move(files);
  return checkpoint;
}

Checkpoint Checkpoint::WithPrefix(std::string_view prefix) const {
  Checkpoint view;
  view.files_ = files_;
  // A key equal to the prefix itself names nothing under it and is left out.
  for (auto it = entries_.lower_bound(prefix); it != entries_.end(); ++it) {
    const std::string& name = it->first;
    if (name.compare(0, prefix.size(), prefix) != 0) break;  // sorted: past the prefix range
    if (name.size() == prefix.size()) continue;
    view.entries_.emplace(name.substr(prefix.size()), it->second);
  }
  return view;
}

Checkpoint Checkpoint::Renamed(const std::function<std::string(const std::string&)>& rename) const {
  Checkpoint view;
  view.files_ = files_;
  for (const auto& [name, ref] : entries_) {
    std::string renamed = rename(name);
    if (renamed.empty()) continue;
    auto [it, inserted] = view.entries_.emplace(std::move(renamed), ref);
    if (!inserted) {
      throw CheckpointError(Code::kDuplicateName, ref.path(), name,
                            "renamed to '" + it->first + "', the name of another tensor");
    }
  }
  return view;
}

std::optional<std::string> Checkpoint::DetectPrefix(const std::vector<std::string>& prefixes,
                                                    std::string_view probe) const {
  for (const std::string& prefix : prefixes) {
    if (Has(prefix + std::string(probe))) return prefix;
  }
  return std::nullopt;
}

std::optional<TensorRef> Checkpoint::Find(std::string_view name) const {
  auto it = entries_.find(name);
  if (it == entries_.end()) return std::nullopt;
  TensorRef ref = it->second;
  ref.owner = files_;
  return ref;
}

TensorRef Checkpoint::Require(std::string_view name) const {
  if (std::optional<TensorRef> ref = Find(name)) return *ref;
  throw CheckpointError(
      Code::kMissingTensor, description(), std::string(name),
      "required tensor not found among " + std::to_string(entries_.size()) + " tensors");
}

TensorRef Checkpoint::RequireShape(std::string_view name, const std::vector<int64_t>& shape) const {
  TensorRef ref = Require(name);
  if (ref.info->shape != shape) {
    throw CheckpointError(
        Code::kBadShape, ref.path(), std::string(name),
        "expected shape " + ShapeString(shape) + ", found " + ShapeString(ref.info->shape));
  }
  return ref;
}

std::vector<std::string> Checkpoint::Names() const {
  std::vector<std::string> names;
  names.reserve(entries_.size());
  for (const auto& entry : entries_) names.push_back(entry.first);
  return names;
}

const std::map<std::string, std::string>& Checkpoint::metadata() const {
  static const std::map<std::string, std::string> kEmpty;
  if (files_ && files_->gguf) return files_->gguf_strings;
  if (!files_ || files_->safetensors.empty()) return kEmpty;
  return files_->safetensors.front()->metadata();
}

const GgufFile* Checkpoint::gguf() const { return files_ ? files_->gguf.get() : nullptr; }

std::string Checkpoint::description() const {
  if (files_ && files_->gguf) return files_->gguf->path();
  if (!files_ || files_->safetensors.empty()) return "(no checkpoint files)";
  std::string text;
  for (const auto& file : files_->safetensors) {
    if (!text.empty()) text += ", ";
    text += file->path();
  }
  return text;
}

}  // namespace streamdit::engine
