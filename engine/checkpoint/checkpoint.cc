#include "engine/checkpoint/checkpoint.h"

#include <utility>

#include "engine/checkpoint/checkpoint_error.h"
#include "engine/checkpoint/shape_string.h"
#include "engine/status/status_error.h"

namespace streamdit::engine {

namespace {

using Code = CheckpointError::Code;

}  // namespace

Checkpoint Checkpoint::Open(const std::vector<std::string>& paths) {
  if (paths.empty()) throw InvalidArgument("Checkpoint::Open: no files given");
  auto files = std::make_shared<std::vector<std::unique_ptr<SafetensorsFile>>>();
  files->reserve(paths.size());
  for (const std::string& path : paths) files->push_back(SafetensorsFile::Open(path));

  Checkpoint checkpoint;
  for (const auto& file : *files) {
    for (const TensorInfo& info : file->tensors()) {
      auto [it, inserted] =
          checkpoint.entries_.emplace(info.name, TensorRef{file.get(), &info, nullptr});
      if (!inserted) {
        throw CheckpointError(Code::kDuplicateName, file->path(), info.name,
                              "also present in shard " + it->second.file->path());
      }
    }
  }
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
        Code::kBadShape, ref.file->path(), std::string(name),
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
  if (!files_ || files_->empty()) return kEmpty;
  return files_->front()->metadata();
}

std::string Checkpoint::description() const {
  if (!files_ || files_->empty()) return "(no checkpoint files)";
  std::string text;
  for (const auto& file : *files_) {
    if (!text.empty()) text += ", ";
    text += file->path();
  }
  return text;
}

}  // namespace streamdit::engine
