// The LoRAs a server offers: every *.safetensors file of the configured folders, named by its file
// name without the extension, read (memory-mapped, never copied) and checked against every
// served model once per scan. Requests name them (GenerationService resolves the names); the
// estimator counts their bytes; ListModels lists them per model with rank, targets and bytes, or
// with the error that keeps one from a model.
//
// Rescan (SIGHUP, the ReloadLoras RPC) re-reads what changed: new files are added, removed ones
// dropped, files whose size or modification time changed are read again. Jobs keep the adapters
// they resolved, so a rescan never disturbs a running job. Thread-safe.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/lora/lora_adapter.h"
#include "engine/lora/lora_targets.h"

namespace streamdit::engine {
class FluxPipeline;
}

namespace streamdit::server {

struct LoraScanReport {
  int loras = 0;  // files known after the scan
  int added = 0;
  int removed = 0;
  int reloaded = 0;
  std::vector<std::string> errors;  // unusable files and unreadable folders, one line each
};

// One LoRA as ListModels shows it for one model.
struct LoraListing {
  std::string name;
  std::shared_ptr<const engine::LoraAdapter> adapter;  // null when `error` is set
  // All components, in the model's compute dtype on its planning device.
  int64_t device_bytes = 0;
  std::string error;
};

class LoraLibrary {
 public:
  // A model LoRAs are checked against; the pipeline must outlive the library.
  struct Model {
    std::string name;
    const engine::FluxPipeline* pipeline = nullptr;
    // The device kind its jobs run on: it sizes an adapter's device bytes (LoadedModel).
    torch::Device planning_device = torch::kCPU;
  };
  LoraLibrary(std::vector<std::string> directories, std::vector<Model> models);

  LoraScanReport Rescan();

  // NOT_FOUND (naming the field) for a name no folder holds; FAILED_PRECONDITION with the
  // loader's error (file and key) for a file that cannot be used with `model`.
  absl::StatusOr<std::shared_ptr<const engine::LoraAdapter>> Find(const std::string& name,
                                                                  const std::string& model) const;
  std::vector<LoraListing> List(const std::string& model) const;
  // The key that names one adapter (one file's content, checked against one model) for the
  // scheduler and the devices' adapter caches: "<name>#<serial>". A rescan that re-reads a file
  // makes new adapters with new keys.
  static std::string KeyOf(const engine::LoraAdapter& adapter);
  // The adapter of a key, while anything (a library entry, a queued or running job) holds it;
  // NOT_FOUND once it is gone.
  absl::StatusOr<std::shared_ptr<const engine::LoraAdapter>> FindByKey(
      const std::string& key) const;
  const std::vector<std::string>& directories() const { return directories_; }

 private:
  struct Entry {
    std::string path;
    uintmax_t size = 0;
    int64_t modified = 0;
    // Per model: the adapter checked against it, or why it cannot be used.
    std::map<std::string, absl::StatusOr<std::shared_ptr<const engine::LoraAdapter>>> loaded;
  };
  Entry Read(const std::string& name, const std::string& path, uintmax_t size,
             int64_t modified) const;

  const std::vector<std::string> directories_;
  struct CheckedModel {
    Model model;
    engine::LoraTargets targets;  // the model's linear layers, found once, not per file read
  };
  std::vector<CheckedModel> models_;
  std::mutex scan_mu_;  // one rescan at a time (SIGHUP and ReloadLoras may coincide)
  mutable std::mutex mu_;
  std::map<std::string, Entry> entries_;  // by LoRA name
  // Every adapter a scan made, by KeyOf; expired ones are dropped at each scan.
  std::map<std::string, std::weak_ptr<const engine::LoraAdapter>> by_key_;
};

}  // namespace streamdit::server
