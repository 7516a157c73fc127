// Raw GGUF bytes for the GGUF reader's tests: a builder that writes exactly the fields it is given,
// so that tests can produce files GGUFWriter never would (bad magic, absurd counts, misaligned or
// overlapping offsets, unknown types), plus the small valid file the malformed cases start from.
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace streamdit::engine::testing_files {

// Little-endian field encoders.
inline std::string U32Bytes(uint32_t value) {
  std::string bytes(4, '\0');
  for (int i = 0; i < 4; ++i) bytes[i] = static_cast<char>((value >> (8 * i)) & 0xFF);
  return bytes;
}
inline std::string U64Bytes(uint64_t value) {
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((value >> (8 * i)) & 0xFF);
  return bytes;
}
inline std::string F32Bytes(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  return U32Bytes(bits);
}
// A GGUF string: u64 length, then the bytes.
inline std::string GgufString(std::string_view text) {
  return U64Bytes(text.size()) + std::string(text);
}

// GGUF value type tags (gguf_value.h's GgufValueType, spelled out so the tests do not depend on
// the code under test for the format's numbers).
namespace tag {
inline constexpr uint32_t kUint8 = 0, kInt8 = 1, kUint16 = 2, kInt16 = 3, kUint32 = 4, kInt32 = 5,
                          kFloat32 = 6, kBool = 7, kString = 8, kArray = 9, kUint64 = 10,
                          kInt64 = 11, kFloat64 = 12;
}  // namespace tag

// ggml type ids (gguf_types.h's GgmlType).
namespace ggml {
inline constexpr uint32_t kF32 = 0, kF16 = 1, kQ4_0 = 2, kQ8_0 = 8, kQ4_K = 12, kBF16 = 30;
}  // namespace ggml

struct RawTensorInfo {
  std::string name;
  std::vector<uint64_t> dims;  // ggml order
  uint32_t type = ggml::kF32;
  uint64_t offset = 0;
};

// A GGUF file assembled field by field. Counts default to the number of entries added; the
// data section starts at the tensor infos' end padded to `padding` (which tests set apart from
// the general.alignment key to build inconsistent files).
struct RawGguf {
  std::string magic = "GGUF";
  uint32_t version = 3;
  std::optional<uint64_t> tensor_count;  // override
  std::optional<uint64_t> kv_count;      // override
  std::string kv_bytes;
  uint64_t kv_entries = 0;
  std::vector<RawTensorInfo> tensors;
  uint64_t padding = 32;
  std::string data;

  // A key/value pair whose value bytes (after the type tag) are given raw.
  RawGguf& Add(std::string_view key, uint32_t type_tag, const std::string& value_bytes) {
    kv_bytes += GgufString(key) + U32Bytes(type_tag) + value_bytes;
    ++kv_entries;
    return *this;
  }
  RawGguf& AddString(std::string_view key, std::string_view value) {
    return Add(key, tag::kString, GgufString(value));
  }
  RawGguf& AddU32(std::string_view key, uint32_t value) {
    return Add(key, tag::kUint32, U32Bytes(value));
  }

  std::string Header() const {
    std::string bytes = magic + U32Bytes(version) +
                        U64Bytes(tensor_count.value_or(tensors.size())) +
                        U64Bytes(kv_count.value_or(kv_entries)) + kv_bytes;
    for (const RawTensorInfo& info : tensors) {
      bytes += GgufString(info.name) + U32Bytes(static_cast<uint32_t>(info.dims.size()));
      for (uint64_t dim : info.dims) bytes += U64Bytes(dim);
      bytes += U32Bytes(info.type) + U64Bytes(info.offset);
    }
    return bytes;
  }
  std::string Serialize() const {
    std::string bytes = Header();
    if (padding > 0) bytes.append((padding - bytes.size() % padding) % padding, '\0');
    return bytes + data;
  }
};

// The small valid file the malformed cases start from: metadata of several kinds (the
// architecture string, a u32, an array of strings), then an F32 [2, 3] tensor at offset 0
// (24 bytes, padded to 32) and a Q8_0 [1, 32] tensor at offset 32 (34 bytes) that ends exactly at
// the end of the file, so that cutting any byte off the end removes tensor data.
inline RawGguf SmallGguf() {
  RawGguf file;
  file.AddString("general.architecture", "flux");
  file.AddU32("flux.depth", 19);
  file.Add("tokenizer.tokens", tag::kArray,
           U32Bytes(tag::kString) + U64Bytes(2) + GgufString("a") + GgufString("bc"));
  file.tensors.push_back({"img_in.weight", {3, 2}, ggml::kF32, 0});
  file.tensors.push_back({"final_layer.linear.weight", {32, 1}, ggml::kQ8_0, 32});
  for (int i = 0; i < 6; ++i) file.data += F32Bytes(static_cast<float>(i) - 2.5f);
  file.data.append(8, '\0');                // padding to the next 32-byte boundary
  file.data += std::string("\x00\x3c", 2);  // Q8_0's d = 1.0 (fp16 0x3C00)
  for (int i = 0; i < 32; ++i) file.data += static_cast<char>(i - 16);  // q = -16 .. 15
  return file;
}

}  // namespace streamdit::engine::testing_files
