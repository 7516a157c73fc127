// GGUF files (llama.cpp's format, used for quantized FLUX checkpoints): a read-only memory-mapped
// reader whose header is fully validated before any tensor byte is touched. Like SafetensorsFile,
// tensor data is never copied by Open: callers get pointers into the mapping, or dequantized
// float32 copies (Dequantize).
//
// Format (little-endian, versions 2 and 3; version 1's 32-bit counts and big-endian files are
// rejected):
//   "GGUF" | u32 version | u64 tensor_count | u64 kv_count
//   kv_count x  { string key | u32 value_type | value }
//   tensor_count x { string name | u32 n_dims (<= 4) | u64 dims[n_dims] | u32 ggml_type |
//                    u64 offset }
//   padding to `general.alignment` (a u32 power of two; 32 when absent) | data section
// where a string is u64 length + bytes (no terminator) and an array value is u32 element_type +
// u64 count + elements (arrays of arrays nest). dims are in ggml order: dims[0] is the
// fastest-varying dimension (a row), so the row-major (numpy/torch) shape is dims reversed. A
// tensor's offset is relative to the data section and a multiple of the alignment.
//
// Every defect is a CheckpointError (DATA_LOSS; NOT_FOUND when the file cannot be opened) naming
// the file, the tensor where one is involved, and the field: a fixed-size field cut off by the end
// of the file is kTruncated; a length or count whose bytes cannot fit in the rest of the file is
// kHeaderLengthPastEnd (checked before anything is allocated, so a hostile count never allocates
// more than the file could hold); a bad magic, version, value type, n_dims, dimension, alignment
// or offset alignment is kInvalidEntry; an unsupported tensor type kUnknownDtype; a row that is not
// a multiple of the block size or a size that overflows kSizeMismatch; a tensor past the end of
// the file kSpanOutsideData; shared bytes kOverlappingSpans; a repeated key or tensor name
// kDuplicateName. Padding after the last tensor is not required.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "engine/checkpoint/gguf_types.h"
#include "engine/checkpoint/gguf_value.h"

namespace streamdit::engine {

struct GgufTensorInfo {
  std::string name;
  GgmlType type = GgmlType::kF32;
  std::vector<int64_t> dims;   // ggml order (ne): dims[0] is a row, the fastest-varying
  std::vector<int64_t> shape;  // row-major logical shape: dims reversed ([] for n_dims 0)
  uint64_t offset = 0;         // byte offset in the data section (a multiple of the alignment)
  uint64_t nbytes = 0;         // stored bytes: numel / block size * block bytes
  int64_t numel = 0;           // elements (1 for n_dims 0)
};

class GgufFile {
 public:
  static constexpr uint32_t kMaxDims = 4;            // GGML_MAX_DIMS
  static constexpr uint64_t kDefaultAlignment = 32;  // GGUF_DEFAULT_ALIGNMENT
  static constexpr int kMaxArrayNesting = 16;        // deeper metadata arrays are rejected

  // Maps and validates the file; throws CheckpointError as described above. Reads only the header:
  // opening a 12 GB file touches no tensor data.
  static std::unique_ptr<GgufFile> Open(const std::string& path);
  ~GgufFile();
  GgufFile(const GgufFile&) = delete;
  GgufFile& operator=(const GgufFile&) = delete;

  const std::string& path() const { return path_; }
  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t file_size() const { return file_size_; }
  // File offset of the data section (after the tensor infos, padded to the alignment).
  uint64_t data_offset() const { return data_offset_; }

  // --- metadata ---
  // Key/value pairs in file order. The values view the mapping (gguf_value.h).
  const std::vector<std::pair<std::string, GgufValue>>& metadata() const { return metadata_; }
  // nullptr when absent.
  const GgufValue* FindMetadata(std::string_view key) const;
  // Typed lookups. Each throws CheckpointError naming the file and the key: kMissingTensor when
  // the key is absent, kInvalidEntry when its value is of another kind (see GgufValue's
  // accessors: GetInt64 accepts every integer type whose value fits, GetDouble float32/float64).
  std::string GetString(std::string_view key) const;
  int64_t GetInt64(std::string_view key) const;
  uint64_t GetUint64(std::string_view key) const;
  double GetDouble(std::string_view key) const;
  bool GetBool(std::string_view key) const;
  std::vector<int64_t> GetInt64Array(std::string_view key) const;
  std::vector<double> GetDoubleArray(std::string_view key) const;
  std::vector<std::string> GetStringArray(std::string_view key) const;

  // --- tensors ---
  // Tensors in file order.
  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
  // nullptr when absent.
  const GgufTensorInfo* Find(std::string_view name) const;
  // Pointer to the tensor's first stored byte inside the read-only mapping (info.nbytes bytes).
  // `info` must be one of tensors() (INVALID_ARGUMENT otherwise).
  const uint8_t* Data(const GgufTensorInfo& info) const;
  // The tensor as float32 in its row-major logical shape (info.shape), dequantized bit-exactly as
  // gguf_dequantize.h describes. Throws CheckpointError(kMissingTensor) when absent.
  std::vector<float> Dequantize(std::string_view name) const;
  // The same into `out`, which must hold info.numel floats.
  void Dequantize(const GgufTensorInfo& info, float* out) const;

 private:
  class Parser;
  GgufFile() = default;

  std::string path_;
  uint32_t version_ = 0;
  uint64_t alignment_ = kDefaultAlignment;
  std::vector<std::pair<std::string, GgufValue>> metadata_;
  std::unordered_map<std::string_view, std::size_t> metadata_index_;  // views metadata_'s keys
  std::vector<GgufTensorInfo> tensors_;
  std::unordered_map<std::string_view, std::size_t> tensor_index_;  // views tensors_' names
  const uint8_t* mapping_ = nullptr;
  uint64_t file_size_ = 0;
  uint64_t data_offset_ = 0;
};

}  // namespace streamdit::engine
