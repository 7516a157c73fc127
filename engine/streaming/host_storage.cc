#include "engine/streaming/host_storage.h"

#include "engine/status/status_error.h"

namespace streamdit::engine {
namespace {

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool IsFp8(DType dtype) { return dtype == DType::kF8E4M3 || dtype == DType::kF8E5M2; }

bool IsFloating(DType dtype) {
  return dtype == DType::kF64 || dtype == DType::kF32 || dtype == DType::kF16 ||
         dtype == DType::kBF16;
}

}  // namespace

WeightStorage ParseWeightStorage(const std::string& value) {
  if (value == "fp8") return WeightStorage::kFp8;
  if (value == "bf16" || value == "as-stored") return WeightStorage::kAsStored;
  throw InvalidArgument("unknown weight storage '" + value + "' (expected fp8, bf16 or as-stored)");
}

const char* WeightStorageName(WeightStorage storage) {
  switch (storage) {
    case WeightStorage::kFp8:
      return "fp8";
    case WeightStorage::kAsStored:
      return "as-stored";
  }
  throw Internal("unknown WeightStorage");
}

bool StoredAsFp8(const std::string& name, const StoredTensor& tensor) {
  return tensor.defined() && tensor.dim() == 2 && EndsWith(name, ".weight") &&
         (IsFloating(tensor.dtype) || IsFp8(tensor.dtype)) && !IsEmbeddingTable(name);
}

int64_t ConvertBlocksToFp8(const std::vector<WeightBlock*>& blocks) {
  int64_t saved = 0;
  for (WeightBlock* block : blocks) {
    for (auto& [name, tensor] : block->tensors) {
      if (!StoredAsFp8(name, tensor) || IsFp8(tensor.dtype)) continue;
      StoredTensor fp8 = ToStorage(tensor.data, DType::kF8E4M3);
      saved += tensor.nbytes() - fp8.nbytes();
      // The previous copy (host tensor or file mapping view) is released here, tensor by tensor,
      // so the host tier never holds both versions of more than one tensor.
      tensor = std::move(fp8);
    }
  }
  return saved;
}

}  // namespace streamdit::engine
