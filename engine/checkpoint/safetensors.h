// safetensors files: a read-only memory-mapped reader whose header is fully validated before any
// tensor byte is touched, and a writer. Tensor data is never copied by the reader: callers get
// pointers into the mapping (see engine/tensor/ for zero-copy torch views).
//
// Format: u64 little-endian header length N, N bytes of JSON {name: {dtype, shape,
// data_offsets: [begin, end]}, "__metadata__": {string: string}}, then the data section; offsets
// are relative to the start of the data section.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "engine/checkpoint/dtype.h"

namespace streamdit::engine {

struct TensorInfo {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // byte offset in the data section
  uint64_t end = 0;    // one past the last byte

  int64_t numel() const;
  uint64_t nbytes() const { return end - begin; }
};

class SafetensorsFile {
 public:
  static constexpr uint64_t kMaxHeaderBytes = 100ull * 1000 * 1000;

  // Maps and validates the file; throws CheckpointError naming the file and tensor on any defect.
  // Reads only the header: opening a 24 GB file touches no tensor data.
  static std::unique_ptr<SafetensorsFile> Open(const std::string& path);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }
  // Tensors in header order.
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  // nullptr when absent.
  const TensorInfo* Find(std::string_view name) const;
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // Pointer to the first byte of the tensor inside the read-only mapping.
  const uint8_t* Data(const TensorInfo& info) const;
  uint64_t file_size() const { return file_size_; }

 private:
  SafetensorsFile() = default;

  std::string path_;
  std::vector<TensorInfo> tensors_;
  std::unordered_map<std::string, std::size_t> index_;
  std::map<std::string, std::string> metadata_;
  const uint8_t* mapping_ = nullptr;
  uint64_t file_size_ = 0;
  uint64_t data_offset_ = 0;  // 8 + header length
};

// Builds a safetensors file in memory order of Add calls. Data is copied at Add time.
class SafetensorsWriter {
 public:
  void SetMetadata(const std::string& key, const std::string& value);
  // Throws StatusError INVALID_ARGUMENT when nbytes != numel(shape) * DTypeSize(dtype) or the name
  // is already present.
  void Add(const std::string& name, DType dtype, const std::vector<int64_t>& shape,
           const void* data, std::size_t nbytes);
  // Writes atomically (temporary file + rename). Throws CheckpointError(kIo) on failure.
  void Write(const std::string& path) const;

  // Writes a file whose header describes the given tensors but whose data section is a hole
  // (a sparse file): full-size layouts can be tested without the bytes.
  static void WriteSparse(const std::string& path, const std::vector<TensorInfo>& tensors,
                          const std::map<std::string, std::string>& metadata);

 private:
  struct Entry {
    std::string name;
    DType dtype;
    std::vector<int64_t> shape;
    std::vector<uint8_t> bytes;
  };
  std::vector<Entry> entries_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace streamdit::engine
