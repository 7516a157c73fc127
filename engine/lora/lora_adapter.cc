#include "engine/lora/lora_adapter.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <set>
#include <utility>

#include "absl/strings/match.h"
#include "engine/memory/allocation_bytes.h"

namespace streamdit::engine {
namespace {

uint64_t NextSerial() {
  static std::atomic<uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

bool IsTextEncoder(PipelineComponent component) {
  return component == PipelineComponent::kT5 || component == PipelineComponent::kClip;
}

// FNV-1a, 64 bits: a content hash for cache keys (not for security).
void Mix(uint64_t& hash, const void* data, std::size_t size) {
  const auto* bytes = static_cast<const unsigned char*>(data);
  for (std::size_t i = 0; i < size; ++i) {
    hash ^= bytes[i];
    hash *= 1099511628211ull;
  }
}

void MixTensor(uint64_t& hash, const torch::Tensor& tensor) {
  if (!tensor.defined()) return;
  const torch::Tensor bytes = tensor.contiguous();
  Mix(hash, bytes.data_ptr(), static_cast<std::size_t>(bytes.numel() * bytes.element_size()));
}

}  // namespace

const char* LoraFormatName(LoraFormat format) {
  switch (format) {
    case LoraFormat::kKohya:
      return "kohya";
    case LoraFormat::kDiffusers:
      return "diffusers";
    case LoraFormat::kBfl:
      return "bfl";
  }
  return "?";
}

LoraAdapter::LoraAdapter(std::string name, std::string path, LoraFormat format, Checkpoint file,
                         std::vector<LoraModule> modules)
    : name_(std::move(name)),
      serial_(NextSerial()),
      path_(std::move(path)),
      format_(format),
      file_(std::move(file)),
      modules_(std::move(modules)) {
  uint64_t hash = 14695981039346656037ull;
  bool any = false;
  for (const LoraModule& module : modules_) {
    if (!IsTextEncoder(module.component)) continue;
    any = true;
    Mix(hash, module.block.data(), module.block.size());
    Mix(hash, module.module.data(), module.module.size());
    Mix(hash, &module.row_offset, sizeof(module.row_offset));
    Mix(hash, &module.scale, sizeof(module.scale));
    MixTensor(hash, module.down);
    MixTensor(hash, module.up);
    MixTensor(hash, module.up_bias);
  }
  if (any) {
    char text[17];
    std::snprintf(text, sizeof(text), "%016llx", static_cast<unsigned long long>(hash));
    text_fingerprint_ = text;
  }
}

int64_t LoraAdapter::max_rank() const {
  int64_t rank = 0;
  for (const LoraModule& module : modules_) rank = std::max(rank, module.rank());
  return rank;
}

bool LoraAdapter::targets(PipelineComponent component) const {
  return std::any_of(modules_.begin(), modules_.end(),
                     [&](const LoraModule& module) { return module.component == component; });
}

int64_t LoraAdapter::DeviceBytes(PipelineComponent component, torch::ScalarType compute,
                                 torch::Device device) const {
  int64_t bytes = 0;
  for (const LoraModule& module : modules_) {
    if (module.component != component) continue;
    for (const torch::Tensor* tensor : {&module.down, &module.up, &module.up_bias}) {
      if (tensor->defined()) bytes += AllocationBytes(tensor->numel(), compute, device);
    }
  }
  return bytes;
}

int64_t LoraAdapter::stored_bytes() const {
  int64_t bytes = 0;
  for (const LoraModule& module : modules_) {
    for (const torch::Tensor* tensor : {&module.down, &module.up, &module.up_bias}) {
      if (tensor->defined()) bytes += tensor->numel() * tensor->element_size();
    }
  }
  return bytes;
}

std::vector<std::string> LoraAdapter::TargetSummary() const {
  std::set<std::string> kinds;
  for (const LoraModule& module : modules_) {
    switch (module.component) {
      case PipelineComponent::kT5:
        kinds.insert("t5");
        break;
      case PipelineComponent::kClip:
        kinds.insert("clip");
        break;
      default: {
        std::string kind = module.block.substr(0, module.block.find('.'));
        if (absl::EndsWith(module.block, ".modulation")) kind += ".modulation";
        kinds.insert(kind);
      }
    }
  }
  return {kinds.begin(), kinds.end()};
}

}  // namespace streamdit::engine
