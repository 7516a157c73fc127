#include <algorithm>
#include <cstring>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "engine/checkpoint/byte_size.h"
#include "engine/checkpoint/checkpoint_error.h"
#include "engine/checkpoint/read_only_mapping.h"
#include "engine/checkpoint/safetensors.h"
#include "engine/checkpoint/shape_string.h"
#include "engine/status/status_error.h"

namespace streamdit::engine {

namespace {

using Code = CheckpointError::Code;
// Plain json (a std::map per object): ordered_json would keep key order but inserts in linear
// time, which makes a header with 10^5 tensors take a minute. Key order comes from the parser
// callback instead.
using json = nlohmann::json;

constexpr uint64_t kLengthPrefixBytes = 8;
constexpr const char* kMetadataKey = "__metadata__";

// A first, DOM-free pass over the header. nlohmann's parser keeps the last of two equal keys
// silently; this handler remembers every key per open object so that a duplicated tensor name (or
// a duplicated field inside one entry) is an error instead of a tensor quietly disappearing. It
// also records the top-level keys in file order, which the parsed std::map forgets. (The parser
// callback API could do the same, but its object_end handling rescans the parent object, which is
// quadratic in the number of tensors; ordered_json's inserts are too.)
class HeaderKeyScanner : public nlohmann::json_sax<json> {
 public:
  struct Duplicate {
    bool top_level;
    std::string tensor;  // the top-level key the duplicate lives in (or is)
    std::string key;
  };

  const std::optional<Duplicate>& duplicate() const { return duplicate_; }
  const std::vector<std::string>& top_level_keys() const { return top_level_keys_; }
  const std::string& error() const { return error_; }

  bool start_object(std::size_t /*elements*/) override {
    open_objects_.emplace_back();
    return true;
  }
  bool end_object() override {
    open_objects_.pop_back();
    return true;
  }
  bool key(string_t& key) override {
    const bool top_level = open_objects_.size() == 1 && open_arrays_ == 0;
    const bool first_time = open_objects_.back().insert(key).second;
    if (top_level) {
      current_top_level_key_ = key;
      if (first_time) top_level_keys_.push_back(key);
    }
    if (!first_time && !duplicate_) {
      duplicate_ = Duplicate{top_level, top_level ? key : current_top_level_key_, key};
    }
    return true;
  }
  // Arrays only matter for telling the top-level object from objects nested in arrays.
  bool start_array(std::size_t /*elements*/) override {
    ++open_arrays_;
    return true;
  }
  bool end_array() override {
    --open_arrays_;
    return true;
  }
  bool null() override { return true; }
  bool boolean(bool /*value*/) override { return true; }
  bool number_integer(number_integer_t /*value*/) override { return true; }
  bool number_unsigned(number_unsigned_t /*value*/) override { return true; }
  bool number_float(number_float_t /*value*/, const string_t& /*text*/) override { return true; }
  bool string(string_t& /*value*/) override { return true; }
  bool binary(binary_t& /*value*/) override { return true; }
  bool parse_error(std::size_t /*position*/, const std::string& /*last_token*/,
                   const nlohmann::detail::exception& error) override {
    error_ = error.what();
    return false;
  }

 private:
  std::vector<std::set<std::string>> open_objects_;
  std::size_t open_arrays_ = 0;
  std::vector<std::string> top_level_keys_;
  std::string current_top_level_key_;
  std::optional<Duplicate> duplicate_;
  std::string error_;
};

std::vector<int64_t> ParseShape(const std::string& path, const std::string& name,
                                const json& entry) {
  auto it = entry.find("shape");
  if (it == entry.end() || !it->is_array()) {
    throw CheckpointError(Code::kInvalidEntry, path, name, "'shape' missing or not an array");
  }
  std::vector<int64_t> shape;
  shape.reserve(it->size());
  for (const json& dim : *it) {
    if (dim.is_number_unsigned()) {
      const uint64_t value = dim.get<uint64_t>();
      if (value > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        throw CheckpointError(Code::kInvalidEntry, path, name,
                              "shape dimension " + std::to_string(value) + " exceeds int64");
      }
      shape.push_back(static_cast<int64_t>(value));
    } else if (dim.is_number_integer()) {
      throw CheckpointError(Code::kInvalidEntry, path, name,
                            "negative shape dimension " + std::to_string(dim.get<int64_t>()));
    } else {
      throw CheckpointError(Code::kInvalidEntry, path, name,
                            "shape dimensions must be non-negative integers");
    }
  }
  return shape;
}

std::pair<uint64_t, uint64_t> ParseOffsets(const std::string& path, const std::string& name,
                                           const json& entry) {
  auto it = entry.find("data_offsets");
  if (it == entry.end() || !it->is_array() || it->size() != 2 || !(*it)[0].is_number_unsigned() ||
      !(*it)[1].is_number_unsigned()) {
    throw CheckpointError(Code::kInvalidEntry, path, name,
                          "'data_offsets' must be [begin, end] with non-negative integers");
  }
  return {(*it)[0].get<uint64_t>(), (*it)[1].get<uint64_t>()};
}

TensorInfo ParseEntry(const std::string& path, const std::string& name, const json& entry,
                      uint64_t data_bytes) {
  if (!entry.is_object()) {
    throw CheckpointError(Code::kInvalidEntry, path, name, "entry is not an object");
  }
  auto dtype_it = entry.find("dtype");
  if (dtype_it == entry.end() || !dtype_it->is_string()) {
    throw CheckpointError(Code::kInvalidEntry, path, name, "'dtype' missing or not a string");
  }
  const std::string& dtype_name = dtype_it->get_ref<const std::string&>();
  const std::optional<DType> dtype = ParseDType(dtype_name);
  if (!dtype) {
    throw CheckpointError(Code::kUnknownDtype, path, name, "unknown dtype '" + dtype_name + "'");
  }

  TensorInfo info;
  info.name = name;
  info.dtype = *dtype;
  info.shape = ParseShape(path, name, entry);
  std::tie(info.begin, info.end) = ParseOffsets(path, name, entry);

  if (info.begin > info.end || info.end > data_bytes) {
    throw CheckpointError(Code::kSpanOutsideData, path, name,
                          "data_offsets [" + std::to_string(info.begin) + ", " +
                              std::to_string(info.end) + "] outside the data section of " +
                              std::to_string(data_bytes) + " bytes");
  }
  const std::optional<uint64_t> expected = CheckedByteSize(info.dtype, info.shape);
  if (!expected || *expected != info.nbytes()) {
    throw CheckpointError(Code::kSizeMismatch, path, name,
                          "shape " + ShapeString(info.shape) + " of " + dtype_name + " needs " +
                              (expected ? std::to_string(*expected) + " bytes"
                                        : std::string("more than 2^64 bytes")) +
                              " but data_offsets span " + std::to_string(info.nbytes()));
  }
  return info;
}

std::map<std::string, std::string> ParseMetadata(const std::string& path, const json& value) {
  if (!value.is_object()) {
    throw CheckpointError(Code::kInvalidEntry, path, kMetadataKey, "must be an object");
  }
  std::map<std::string, std::string> metadata;
  for (auto it = value.begin(); it != value.end(); ++it) {
    if (!it.value().is_string()) {
      throw CheckpointError(Code::kInvalidEntry, path, kMetadataKey,
                            "value of '" + it.key() + "' is not a string");
    }
    metadata.emplace(it.key(), it.value().get<std::string>());
  }
  return metadata;
}

// Spans are sorted by begin; any non-empty span starting before the furthest end seen so far
// shares bytes with an earlier tensor. Empty tensors own no bytes and overlap nothing.
void CheckNoOverlap(const std::string& path, const std::vector<TensorInfo>& tensors) {
  std::vector<const TensorInfo*> sorted;
  sorted.reserve(tensors.size());
  for (const TensorInfo& info : tensors) {
    if (info.nbytes() > 0) sorted.push_back(&info);
  }
  std::sort(sorted.begin(), sorted.end(), [](const TensorInfo* a, const TensorInfo* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  const TensorInfo* furthest = nullptr;
  for (const TensorInfo* info : sorted) {
    if (furthest != nullptr && info->begin < furthest->end) {
      throw CheckpointError(Code::kOverlappingSpans, path, info->name,
                            "bytes [" + std::to_string(info->begin) + ", " +
                                std::to_string(info->end) + ") overlap tensor '" + furthest->name +
                                "' at [" + std::to_string(furthest->begin) + ", " +
                                std::to_string(furthest->end) + ")");
    }
    if (furthest == nullptr || info->end > furthest->end) furthest = info;
  }
}

uint64_t ReadLittleEndian64(const uint8_t* bytes) {
  uint64_t value = 0;
  for (int i = 7; i >= 0; --i) value = (value << 8) | bytes[i];
  return value;
}

}  // namespace

int64_t TensorInfo::numel() const {
  int64_t count = 1;
  for (int64_t dim : shape) count *= dim;
  return count;
}

std::unique_ptr<SafetensorsFile> SafetensorsFile::Open(const std::string& path) {
  const ReadOnlyMapping mapping = MapReadOnly(path);
  // The constructor is private, so no make_unique.
  std::unique_ptr<SafetensorsFile> file(new SafetensorsFile());
  file->path_ = path;
  file->file_size_ = mapping.size;
  file->mapping_ = mapping.data;  // unmapped by ~SafetensorsFile
  const uint64_t file_size = mapping.size;
  if (file_size < kLengthPrefixBytes) {
    throw CheckpointError(
        Code::kTruncated, path, "",
        "file has " + std::to_string(file_size) + " bytes, fewer than the 8-byte header length");
  }

  const uint64_t header_bytes = ReadLittleEndian64(file->mapping_);
  if (header_bytes > kMaxHeaderBytes) {
    throw CheckpointError(Code::kHeaderTooLarge, path, "",
                          "header length " + std::to_string(header_bytes) +
                              " exceeds the limit of " + std::to_string(kMaxHeaderBytes) +
                              " bytes");
  }
  if (header_bytes > file_size - kLengthPrefixBytes) {
    throw CheckpointError(Code::kHeaderLengthPastEnd, path, "",
                          "header length " + std::to_string(header_bytes) +
                              " runs past the end of a " + std::to_string(file_size) +
                              "-byte file");
  }
  file->data_offset_ = kLengthPrefixBytes + header_bytes;
  const uint64_t data_bytes = file_size - file->data_offset_;

  const char* header_begin = reinterpret_cast<const char*>(file->mapping_ + kLengthPrefixBytes);
  HeaderKeyScanner scanner;
  if (!json::sax_parse(header_begin, header_begin + header_bytes, &scanner)) {
    throw CheckpointError(Code::kInvalidJson, path, "",
                          "header is not valid JSON: " + scanner.error());
  }
  json header;
  try {
    header = json::parse(header_begin, header_begin + header_bytes);
  } catch (const json::exception& error) {  // the scan above already accepted the syntax
    throw CheckpointError(Code::kInvalidJson, path, "",
                          std::string("header is not valid JSON: ") + error.what());
  }
  if (!header.is_object()) {
    throw CheckpointError(Code::kInvalidJson, path, "", "header is not a JSON object");
  }
  if (const auto& duplicate = scanner.duplicate()) {
    if (duplicate->top_level) {
      throw CheckpointError(Code::kDuplicateName, path, duplicate->tensor,
                            "name appears more than once in the header");
    }
    throw CheckpointError(Code::kInvalidEntry, path, duplicate->tensor,
                          "field '" + duplicate->key + "' appears more than once");
  }

  file->tensors_.reserve(header.size());
  for (const std::string& name : scanner.top_level_keys()) {
    const json& value = header.at(name);
    if (name == kMetadataKey) {
      file->metadata_ = ParseMetadata(path, value);
      continue;
    }
    file->tensors_.push_back(ParseEntry(path, name, value, data_bytes));
  }
  CheckNoOverlap(path, file->tensors_);
  for (std::size_t i = 0; i < file->tensors_.size(); ++i) {
    file->index_.emplace(file->tensors_[i].name, i);
  }
  return file;
}

SafetensorsFile::~SafetensorsFile() { UnmapReadOnly({mapping_, file_size_}); }

const TensorInfo* SafetensorsFile::Find(std::string_view name) const {
  auto it = index_.find(std::string(name));
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

const uint8_t* SafetensorsFile::Data(const TensorInfo& info) const {
  const std::less<const TensorInfo*> before;
  if (tensors_.empty() || before(&info, tensors_.data()) ||
      !before(&info, tensors_.data() + tensors_.size())) {
    throw InvalidArgument("SafetensorsFile::Data: tensor '" + info.name + "' does not belong to " +
                          path_);
  }
  return mapping_ + data_offset_ + info.begin;
}

}  // namespace streamdit::engine
