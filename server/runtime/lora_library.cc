#include "server/runtime/lora_library.h"

#include <filesystem>
#include <system_error>
#include <utility>

#include "engine/lora/device_lora.h"
#include "engine/lora/lora_loader.h"
#include "engine/pipeline/flux_pipeline.h"
#include "engine/status/exception_status.h"

namespace streamdit::server {
namespace {

namespace fs = std::filesystem;

constexpr char kExtension[] = ".safetensors";

struct FileSeen {
  std::string path;
  uintmax_t size = 0;
  int64_t modified = 0;
};

}  // namespace

LoraLibrary::LoraLibrary(std::vector<std::string> directories, std::vector<Model> models)
    : directories_(std::move(directories)) {
  for (Model& model : models) {
    engine::LoraTargets targets = engine::LoraTargets::Of(model.pipeline->models());
    models_.push_back({std::move(model), std::move(targets)});
  }
}

LoraLibrary::Entry LoraLibrary::Read(const std::string& name, const std::string& path,
                                     uintmax_t size, int64_t modified) const {
  Entry entry;
  entry.path = path;
  entry.size = size;
  entry.modified = modified;
  for (const CheckedModel& checked : models_) {
    std::shared_ptr<const engine::LoraAdapter> adapter;
    const absl::Status status = engine::StatusOfCall(
        [&] { adapter = engine::LoadLoraAdapter(path, name, checked.targets); });
    if (status.ok()) {
      entry.loaded.emplace(checked.model.name, std::move(adapter));
    } else {
      entry.loaded.emplace(checked.model.name, status);
    }
  }
  return entry;
}

LoraScanReport LoraLibrary::Rescan() {
  std::lock_guard<std::mutex> scanning(scan_mu_);
  LoraScanReport report;
  // What the folders hold now; the first folder holding a name wins it.
  std::map<std::string, FileSeen> seen;
  for (const std::string& directory : directories_) {
    std::error_code error;
    fs::directory_iterator files(directory, error);
    if (error) {
      report.errors.push_back("LoRA folder " + directory + ": " + error.message());
      continue;
    }
    for (const fs::directory_entry& file : files) {
      const fs::path& path = file.path();
      if (path.extension() != kExtension || !file.is_regular_file(error)) continue;
      const std::string name = path.stem().string();
      FileSeen info{path.string(), file.file_size(error),
                    static_cast<int64_t>(file.last_write_time(error).time_since_epoch().count())};
      if (error) continue;  // vanished while scanning: the next scan sees what is there
      if (!seen.emplace(name, info).second) {
        report.errors.push_back(info.path + ": the LoRA name '" + name + "' is already taken by " +
                                seen.at(name).path);
      }
    }
  }

  // Read what is new or changed outside the lock: reading checks every tensor.
  std::map<std::string, Entry> previous;
  {
    std::lock_guard<std::mutex> lock(mu_);
    previous = entries_;
  }
  std::map<std::string, Entry> next;
  for (const auto& [name, file] : seen) {
    auto old = previous.find(name);
    if (old != previous.end() && old->second.path == file.path && old->second.size == file.size &&
        old->second.modified == file.modified) {
      next.emplace(name, old->second);
      continue;
    }
    (old == previous.end() ? report.added : report.reloaded) += 1;
    next.emplace(name, Read(name, file.path, file.size, file.modified));
  }
  for (const auto& [name, entry] : previous) {
    if (!next.count(name)) ++report.removed;
  }
  for (const auto& [name, entry] : next) {
    for (const auto& [model, loaded] : entry.loaded) {
      if (!loaded.ok()) {
        report.errors.push_back("LoRA '" + name + "' for model '" + model +
                                "': " + std::string(loaded.status().message()));
      }
    }
  }
  report.loras = static_cast<int>(next.size());
  std::lock_guard<std::mutex> lock(mu_);
  entries_ = std::move(next);
  for (auto it = by_key_.begin(); it != by_key_.end();) {
    it = it->second.expired() ? by_key_.erase(it) : std::next(it);
  }
  for (const auto& [name, entry] : entries_) {
    for (const auto& [model, loaded] : entry.loaded) {
      if (loaded.ok()) by_key_.emplace(KeyOf(**loaded), *loaded);
    }
  }
  return report;
}

absl::StatusOr<std::shared_ptr<const engine::LoraAdapter>> LoraLibrary::Find(
    const std::string& name, const std::string& model) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto entry = entries_.find(name);
  if (entry == entries_.end()) {
    return absl::NotFoundError("no LoRA named '" + name + "' (ListModels lists them)");
  }
  auto loaded = entry->second.loaded.find(model);
  if (loaded == entry->second.loaded.end()) {
    return absl::NotFoundError("model: unknown '" + model + "'");
  }
  if (!loaded->second.ok()) {
    return absl::FailedPreconditionError("LoRA '" + name + "' cannot be used with model '" + model +
                                         "': " + std::string(loaded->second.status().message()));
  }
  return *loaded->second;
}

std::vector<LoraListing> LoraLibrary::List(const std::string& model) const {
  const Model* found = nullptr;
  for (const CheckedModel& candidate : models_) {
    if (candidate.model.name == model) found = &candidate.model;
  }
  std::vector<LoraListing> listings;
  if (!found) return listings;
  const torch::ScalarType compute = found->pipeline->config().compute_dtype;
  const torch::Device device = found->planning_device;
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [name, entry] : entries_) {
    LoraListing listing;
    listing.name = name;
    auto loaded = entry.loaded.find(model);
    if (loaded == entry.loaded.end()) continue;
    if (!loaded->second.ok()) {
      listing.error = std::string(loaded->second.status().message());
    } else {
      listing.adapter = *loaded->second;
      listing.device_bytes = engine::DeviceLora::BytesOf(*listing.adapter, compute, device);
    }
    listings.push_back(std::move(listing));
  }
  return listings;
}

std::string LoraLibrary::KeyOf(const engine::LoraAdapter& adapter) {
  return adapter.name() + "#" + std::to_string(adapter.serial());
}

absl::StatusOr<std::shared_ptr<const engine::LoraAdapter>> LoraLibrary::FindByKey(
    const std::string& key) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto found = by_key_.find(key);
  std::shared_ptr<const engine::LoraAdapter> adapter =
      found == by_key_.end() ? nullptr : found->second.lock();
  if (!adapter) {
    return absl::NotFoundError("LoRA '" + key + "' is no longer loaded (a rescan replaced it)");
  }
  return adapter;
}

}  // namespace streamdit::server
