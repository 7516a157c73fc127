#include "engine/checkpoint/gguf_file.h"

#include <algorithm>
#include <cstring>
#include <functional>
#include <limits>
#include <unordered_set>

#include "absl/functional/function_ref.h"
#include "engine/checkpoint/checkpoint_error.h"
#include "engine/checkpoint/gguf_dequantize.h"
#include "engine/checkpoint/read_only_mapping.h"
#include "engine/checkpoint/shape_string.h"
#include "engine/status/status_error.h"

namespace streamdit::engine {
namespace {

using Code = CheckpointError::Code;
// Describes the field being read, for the error message; called only when one is thrown, so that
// reading 150k tokenizer strings builds no strings.
using Describe = absl::FunctionRef<std::string()>;

constexpr char kMagic[4] = {'G', 'G', 'U', 'F'};
constexpr const char* kAlignmentKey = "general.alignment";
// The fewest bytes each repeated item can take, used to cap counts before anything is allocated:
// a key/value pair (empty key, type tag, a one-byte value), a tensor info (empty name, n_dims 0,
// type, offset), a string (its length), a nested array (element type and count).
constexpr uint64_t kMinKeyValueBytes = 8 + 4 + 1;
constexpr uint64_t kMinTensorInfoBytes = 8 + 4 + 4 + 8;
constexpr uint64_t kMinStringBytes = 8;
constexpr uint64_t kMinArrayBytes = 4 + 8;
// Vectors are reserved up to this many items at once and grow with what was actually read: a
// count within the file's bytes is no promise that the items are there.
constexpr uint64_t kMaxReserve = 4096;

// A key or tensor name as messages show it: control bytes escaped, very long names cut.
std::string Printable(std::string_view text) {
  constexpr std::size_t kMaxShown = 200;
  std::string out;
  for (std::size_t i = 0; i < text.size() && i < kMaxShown; ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c == 0x7F) {
      static const char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (text.size() > kMaxShown) out += "...(" + std::to_string(text.size()) + " bytes)";
  return out;
}

std::string MetadataField(std::string_view key, const std::string& what) {
  return "metadata '" + Printable(key) + "' " + what;
}

uint64_t LoadLittleEndian(const uint8_t* bytes, std::size_t size) {
  uint64_t value = 0;
  for (std::size_t i = size; i-- > 0;) value = (value << 8) | bytes[i];
  return value;
}

}  // namespace

// Reads the header front to back. Every read is bounds-checked against the mapping; `tensor_` names
// the tensor whose info is being read, so that errors carry it.
class GgufFile::Parser {
 public:
  Parser(GgufFile& file, const uint8_t* data, uint64_t size)
      : file_(file), data_(data), size_(size) {}

  void Parse() {
    ParseHeader();
    ParseMetadata();
    ParseAlignment();
    ParseTensorInfos();
    LayOutData();
  }

 private:
  uint64_t remaining() const { return size_ - position_; }

  [[noreturn]] void Fail(Code code, const std::string& detail) const {
    throw CheckpointError(code, file_.path_, tensor_, detail);
  }

  // The next `n` bytes; kTruncated when the file ends first.
  const uint8_t* Take(uint64_t n, Describe describe) {
    if (n > remaining()) {
      Fail(Code::kTruncated,
           describe() + " (" + std::to_string(n) + " bytes at offset " + std::to_string(position_) +
               ") is cut off by the end of the file (" + std::to_string(size_) + " bytes)");
    }
    const uint8_t* bytes = data_ + position_;
    position_ += n;
    return bytes;
  }
  uint32_t U32(Describe describe) {
    return static_cast<uint32_t>(LoadLittleEndian(Take(4, describe), 4));
  }
  uint64_t U64(Describe describe) { return LoadLittleEndian(Take(8, describe), 8); }

  // kHeaderLengthPastEnd unless `count` items of at least `min_bytes` each fit in the rest of the
  // file: the check that keeps a hostile count from reserving or looping beyond the file.
  void CheckCount(uint64_t count, uint64_t min_bytes, Describe describe) {
    if (count > remaining() / min_bytes) {
      Fail(Code::kHeaderLengthPastEnd, describe() + " " + std::to_string(count) +
                                           " runs past the end of the file: each needs at least " +
                                           std::to_string(min_bytes) + " bytes but only " +
                                           std::to_string(remaining()) + " of the file's " +
                                           std::to_string(size_) + " bytes remain");
    }
  }

  std::string_view String(Describe describe) {
    const uint64_t length = U64([&] { return describe() + " length"; });
    if (length > remaining()) {
      Fail(Code::kHeaderLengthPastEnd,
           describe() + " length " + std::to_string(length) + " at offset " +
               std::to_string(position_ - 8) + " runs past the end of the file (" +
               std::to_string(size_) + " bytes, " + std::to_string(remaining()) + " remain)");
    }
    return std::string_view(reinterpret_cast<const char*>(Take(length, describe)), length);
  }

  GgufValueType ValueType(uint32_t tag, Describe describe) const {
    if (!GgufValueTypeName(tag)) {
      Fail(Code::kInvalidEntry,
           describe() + " has unknown value type " + std::to_string(tag) + " (known: 0..12)");
    }
    return static_cast<GgufValueType>(tag);
  }

  void CheckBools(const uint8_t* bytes, uint64_t count, Describe describe) const {
    for (uint64_t i = 0; i < count; ++i) {
      if (bytes[i] > 1) {
        Fail(Code::kInvalidEntry, describe() + " holds bool byte " + std::to_string(bytes[i]) +
                                      " (element " + std::to_string(i) + "), not 0 or 1");
      }
    }
  }

  // A value of type `type` (tag already read). `depth` counts the arrays around it.
  GgufValue Value(GgufValueType type, int depth, Describe describe) {
    if (type == GgufValueType::kString) return GgufValue::String(String(describe));
    if (type == GgufValueType::kArray) return Array(depth + 1, describe);
    const uint8_t* bytes = Take(GgufValueTypeSize(type), describe);
    if (type == GgufValueType::kBool) CheckBools(bytes, 1, describe);
    return GgufValue::Scalar(type, bytes);
  }

  // An array body: u32 element type, u64 count, elements. `depth` is 1 for a top-level array.
  GgufValue Array(int depth, Describe describe) {
    if (depth > kMaxArrayNesting) {
      Fail(Code::kInvalidEntry, describe() + " nests arrays deeper than " +
                                    std::to_string(kMaxArrayNesting) + " levels");
    }
    const auto element_type = ValueType(U32([&] { return describe() + " element type"; }),
                                        [&] { return describe() + "'s elements"; });
    const uint64_t count = U64([&] { return describe() + " element count"; });
    const auto element = [&](uint64_t i) {
      return [&describe, i] { return describe() + " element " + std::to_string(i); };
    };
    const auto describe_count = [&] { return describe() + " element count"; };
    if (element_type == GgufValueType::kString) {
      CheckCount(count, kMinStringBytes, describe_count);
      std::vector<std::string_view> strings;
      strings.reserve(std::min(count, kMaxReserve));
      for (uint64_t i = 0; i < count; ++i) strings.push_back(String(element(i)));
      return GgufValue::StringArray(std::move(strings));
    }
    if (element_type == GgufValueType::kArray) {
      CheckCount(count, kMinArrayBytes, describe_count);
      std::vector<GgufValue> arrays;
      arrays.reserve(std::min(count, kMaxReserve));
      for (uint64_t i = 0; i < count; ++i) arrays.push_back(Array(depth + 1, element(i)));
      return GgufValue::NestedArray(std::move(arrays));
    }
    const uint64_t element_bytes = GgufValueTypeSize(element_type);
    CheckCount(count, element_bytes, describe_count);
    const uint8_t* bytes = Take(count * element_bytes, describe);  // cannot overflow: checked
    if (element_type == GgufValueType::kBool) CheckBools(bytes, count, describe);
    return GgufValue::FixedArray(element_type, bytes, count);
  }

  void ParseHeader() {
    const uint8_t* magic = Take(4, [] { return std::string("magic"); });
    if (std::memcmp(magic, kMagic, 4) != 0) {
      static const char kHex[] = "0123456789abcdef";
      std::string hex;
      for (int i = 0; i < 4; ++i) {
        hex += (i ? " " : "");
        hex += kHex[magic[i] >> 4];
        hex += kHex[magic[i] & 0xF];
      }
      Fail(Code::kInvalidEntry, "magic is bytes " + hex + ", not \"GGUF\": not a GGUF file");
    }
    const uint32_t version = U32([] { return std::string("version"); });
    if (version != 2 && version != 3) {
      std::string why = "unsupported GGUF version " + std::to_string(version);
      if (version == 1) {
        why += " (version 1's 32-bit counts are not read; versions 2 and 3 are)";
      } else if (version != 0 && (version & 0xFFFF) == 0) {
        why += " (a byte-swapped 2 or 3? big-endian GGUF files are not supported)";
      } else {
        why += " (this reader reads versions 2 and 3)";
      }
      Fail(Code::kInvalidEntry, why);
    }
    file_.version_ = version;
    tensor_count_ = U64([] { return std::string("tensor count"); });
    kv_count_ = U64([] { return std::string("metadata key/value count"); });
    // Both lists follow the header, so each must fit in what remains on its own.
    CheckCount(kv_count_, kMinKeyValueBytes,
               [] { return std::string("metadata key/value count"); });
    CheckCount(tensor_count_, kMinTensorInfoBytes, [] { return std::string("tensor count"); });
  }

  void ParseMetadata() {
    std::unordered_set<std::string_view> keys;
    file_.metadata_.reserve(std::min(kv_count_, kMaxReserve));
    for (uint64_t i = 0; i < kv_count_; ++i) {
      const std::string_view key =
          String([i] { return "metadata key #" + std::to_string(i) + " (0-based)"; });
      if (!keys.insert(key).second) {
        Fail(Code::kDuplicateName, MetadataField(key, "appears more than once"));
      }
      const auto describe = [key] { return MetadataField(key, "value"); };
      const auto type =
          ValueType(U32([key] { return MetadataField(key, "value type"); }), describe);
      file_.metadata_.emplace_back(std::string(key), Value(type, 0, describe));
    }
  }

  void ParseAlignment() {
    for (const auto& [key, value] : file_.metadata_) {
      if (key != kAlignmentKey) continue;
      if (value.type() != GgufValueType::kUint32) {
        Fail(Code::kInvalidEntry,
             MetadataField(key, "must be a uint32, not a " + value.TypeString()));
      }
      const uint64_t alignment = *value.AsUint64();
      if (alignment == 0 || (alignment & (alignment - 1)) != 0) {
        Fail(Code::kInvalidEntry,
             MetadataField(key, "is " + std::to_string(alignment) + ", not a power of two"));
      }
      file_.alignment_ = alignment;
    }
  }

  void ParseTensorInfos() {
    CheckCount(tensor_count_, kMinTensorInfoBytes, [] { return std::string("tensor count"); });
    std::unordered_set<std::string_view> names;
    file_.tensors_.reserve(std::min(tensor_count_, kMaxReserve));
    for (uint64_t i = 0; i < tensor_count_; ++i) {
      const std::string_view name =
          String([i] { return "tensor info #" + std::to_string(i) + " (0-based) name"; });
      tensor_ = Printable(name);
      if (!names.insert(name).second) {
        Fail(Code::kDuplicateName, "name appears more than once in the tensor infos");
      }
      GgufTensorInfo info;
      info.name = std::string(name);
      const uint32_t n_dims = U32([] { return std::string("n_dims"); });
      if (n_dims > kMaxDims) {
        Fail(Code::kInvalidEntry, "n_dims " + std::to_string(n_dims) + " exceeds the maximum of " +
                                      std::to_string(kMaxDims));
      }
      for (uint32_t d = 0; d < n_dims; ++d) {
        const uint64_t dim = U64([d] { return "dimension " + std::to_string(d); });
        if (dim > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
          Fail(Code::kInvalidEntry,
               "dimension " + std::to_string(d) + " is " + std::to_string(dim) + ", above int64");
        }
        info.dims.push_back(static_cast<int64_t>(dim));
      }
      info.shape.assign(info.dims.rbegin(), info.dims.rend());
      const uint32_t type_id = U32([] { return std::string("type"); });
      const std::optional<GgmlType> type = FindGgmlType(type_id);
      if (!type) Fail(Code::kUnknownDtype, UnsupportedGgmlTypeMessage(type_id));
      info.type = *type;
      info.offset = U64([] { return std::string("offset"); });
      try {
        info.nbytes = GgmlTensorBytes(info.type, info.dims);
      } catch (const StatusError& error) {
        Fail(Code::kSizeMismatch, error.what());
      }
      info.numel = 1;
      for (int64_t dim : info.dims) info.numel *= dim;  // fits: GgmlTensorBytes checked it
      file_.tensors_.push_back(std::move(info));
      tensor_.clear();
    }
  }

  // The data section starts at the first multiple of the alignment after the tensor infos; every
  // tensor must be aligned within it, inside the file, and own its bytes alone.
  void LayOutData() {
    const uint64_t alignment = file_.alignment_;
    const uint64_t data_offset = position_ + (alignment - position_ % alignment) % alignment;
    file_.data_offset_ = data_offset;
    if (data_offset > size_ && !file_.tensors_.empty()) {
      Fail(Code::kTruncated, "the data section (at byte " + std::to_string(data_offset) +
                                 ", the tensor infos' end padded to the alignment " +
                                 std::to_string(alignment) + ") is past the end of the file (" +
                                 std::to_string(size_) + " bytes)");
    }
    const uint64_t data_bytes = data_offset <= size_ ? size_ - data_offset : 0;
    for (const GgufTensorInfo& info : file_.tensors_) {
      tensor_ = Printable(info.name);
      if (info.offset % alignment != 0) {
        Fail(Code::kInvalidEntry, "offset " + std::to_string(info.offset) +
                                      " is not a multiple of the alignment " +
                                      std::to_string(alignment));
      }
      if (info.offset > data_bytes || info.nbytes > data_bytes - info.offset) {
        Fail(Code::kSpanOutsideData,
             std::string(GgmlTypeName(info.type)) + " shape " + ShapeString(info.shape) +
                 " at offset " + std::to_string(info.offset) + " + " + std::to_string(info.nbytes) +
                 " bytes is past the end of the file (" + std::to_string(size_) +
                 " bytes; the data section starts at byte " + std::to_string(data_offset) + ")");
      }
    }
    tensor_.clear();
    CheckNoOverlap();
  }

  // Sorted by offset, a non-empty span that starts before the furthest end so far shares bytes
  // with an earlier tensor. Empty tensors own no bytes.
  void CheckNoOverlap() {
    std::vector<const GgufTensorInfo*> sorted;
    for (const GgufTensorInfo& info : file_.tensors_) {
      if (info.nbytes > 0) sorted.push_back(&info);
    }
    std::sort(sorted.begin(), sorted.end(), [](const GgufTensorInfo* a, const GgufTensorInfo* b) {
      return a->offset != b->offset ? a->offset < b->offset : a->nbytes < b->nbytes;
    });
    const GgufTensorInfo* furthest = nullptr;
    for (const GgufTensorInfo* info : sorted) {
      if (furthest != nullptr && info->offset < furthest->offset + furthest->nbytes) {
        tensor_ = Printable(info->name);
        Fail(Code::kOverlappingSpans,
             "bytes [" + std::to_string(info->offset) + ", " +
                 std::to_string(info->offset + info->nbytes) + ") overlap tensor '" +
                 Printable(furthest->name) + "' at [" + std::to_string(furthest->offset) + ", " +
                 std::to_string(furthest->offset + furthest->nbytes) + ")");
      }
      if (furthest == nullptr ||
          info->offset + info->nbytes > furthest->offset + furthest->nbytes) {
        furthest = info;
      }
    }
  }

  GgufFile& file_;
  const uint8_t* data_;
  uint64_t size_;
  uint64_t position_ = 0;
  uint64_t tensor_count_ = 0;
  uint64_t kv_count_ = 0;
  std::string tensor_;  // the tensor being checked, for errors; empty outside tensor infos
};

std::unique_ptr<GgufFile> GgufFile::Open(const std::string& path) {
  const ReadOnlyMapping mapping = MapReadOnly(path);
  const uint64_t file_size = mapping.size;
  if (file_size == 0) {
    throw CheckpointError(Code::kTruncated, path, "", "the file is empty: no GGUF header");
  }

  // The constructor is private, so no make_unique.
  std::unique_ptr<GgufFile> file(new GgufFile());
  file->path_ = path;
  file->file_size_ = file_size;
  file->mapping_ = mapping.data;  // unmapped by ~GgufFile

  Parser(*file, file->mapping_, file_size).Parse();
  // Indexes are built last: their keys view the strings in the final vectors.
  for (std::size_t i = 0; i < file->metadata_.size(); ++i) {
    file->metadata_index_.emplace(file->metadata_[i].first, i);
  }
  for (std::size_t i = 0; i < file->tensors_.size(); ++i) {
    file->tensor_index_.emplace(file->tensors_[i].name, i);
  }
  return file;
}

GgufFile::~GgufFile() { UnmapReadOnly({mapping_, file_size_}); }

const GgufValue* GgufFile::FindMetadata(std::string_view key) const {
  auto it = metadata_index_.find(key);
  return it == metadata_index_.end() ? nullptr : &metadata_[it->second].second;
}

namespace {

// The value under `key` converted by `convert` (a GgufValue accessor returning an optional), or
// CheckpointError naming the file, the key and what was expected.
template <typename Convert>
auto Lookup(const GgufFile& file, std::string_view key, const char* expected, Convert convert) {
  const GgufValue* value = file.FindMetadata(key);
  if (value == nullptr) {
    throw CheckpointError(
        Code::kMissingTensor, file.path(), "",
        MetadataField(key, "is missing (expected " + std::string(expected) + ")"));
  }
  auto converted = convert(*value);
  if (!converted) {
    throw CheckpointError(Code::kInvalidEntry, file.path(), "",
                          MetadataField(key, "is " + value->TypeString() + " " +
                                                 value->DebugString() + ", expected " + expected));
  }
  return *std::move(converted);
}

}  // namespace

std::string GgufFile::GetString(std::string_view key) const {
  return std::string(
      Lookup(*this, key, "a string", [](const GgufValue& v) { return v.AsString(); }));
}

int64_t GgufFile::GetInt64(std::string_view key) const {
  return Lookup(*this, key, "an integer that fits int64",
                [](const GgufValue& v) { return v.AsInt64(); });
}

uint64_t GgufFile::GetUint64(std::string_view key) const {
  return Lookup(*this, key, "a non-negative integer",
                [](const GgufValue& v) { return v.AsUint64(); });
}

double GgufFile::GetDouble(std::string_view key) const {
  return Lookup(*this, key, "a float32 or float64",
                [](const GgufValue& v) { return v.AsDouble(); });
}

bool GgufFile::GetBool(std::string_view key) const {
  return Lookup(*this, key, "a bool", [](const GgufValue& v) { return v.AsBool(); });
}

std::vector<int64_t> GgufFile::GetInt64Array(std::string_view key) const {
  return Lookup(*this, key, "an array of integers that fit int64",
                [](const GgufValue& v) { return v.AsInt64Array(); });
}

std::vector<double> GgufFile::GetDoubleArray(std::string_view key) const {
  return Lookup(*this, key, "an array of float32 or float64",
                [](const GgufValue& v) { return v.AsDoubleArray(); });
}

std::vector<std::string> GgufFile::GetStringArray(std::string_view key) const {
  const std::vector<std::string_view> views = Lookup(
      *this, key, "an array of strings", [](const GgufValue& v) { return v.AsStringArray(); });
  return std::vector<std::string>(views.begin(), views.end());
}

const GgufTensorInfo* GgufFile::Find(std::string_view name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

const uint8_t* GgufFile::Data(const GgufTensorInfo& info) const {
  const std::less<const GgufTensorInfo*> before;
  if (tensors_.empty() || before(&info, tensors_.data()) ||
      !before(&info, tensors_.data() + tensors_.size())) {
    throw InvalidArgument("GgufFile::Data: tensor '" + Printable(info.name) +
                          "' does not belong to " + path_);
  }
  return mapping_ + data_offset_ + info.offset;
}

std::vector<float> GgufFile::Dequantize(std::string_view name) const {
  const GgufTensorInfo* info = Find(name);
  if (info == nullptr) {
    throw CheckpointError(Code::kMissingTensor, path_, Printable(name), "no such tensor");
  }
  std::vector<float> out(static_cast<std::size_t>(info->numel));
  Dequantize(*info, out.data());
  return out;
}

void GgufFile::Dequantize(const GgufTensorInfo& info, float* out) const {
  const uint8_t* data = Data(info);  // checks that info is ours
  DequantizeBlocks(info.type, data, info.numel / GgmlBlockSize(info.type), out);
}

}  // namespace streamdit::engine
