// A GGUF metadata value: one of the 13 GGUF value types, scalar or array (arrays may nest). Values
// are views: strings and array elements point into the GgufFile's read-only mapping, so a value
// (and every string_view it hands out) is valid only while the GgufFile that produced it is.
// Values are built by the reader (gguf_file.cc) after bounds checks; the accessors never read
// outside what the reader checked.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace streamdit::engine {

// gguf_type in ggml's gguf.h; the numbers are the on-disk type tags.
enum class GgufValueType : uint32_t {
  kUint8 = 0,
  kInt8 = 1,
  kUint16 = 2,
  kInt16 = 3,
  kUint32 = 4,
  kInt32 = 5,
  kFloat32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kUint64 = 10,
  kInt64 = 11,
  kFloat64 = 12,
};

// "uint8", ..., "float64", "bool", "string", "array"; nullopt for a tag outside 0..12.
std::optional<std::string_view> GgufValueTypeName(uint32_t tag);
// Bytes of one value of a fixed-size type; 0 for string and array.
std::size_t GgufValueTypeSize(GgufValueType type);
bool IsGgufIntegerType(GgufValueType type);  // uint8 .. int64 (not bool)
bool IsGgufFloatType(GgufValueType type);    // float32, float64

class GgufValue {
 public:
  // Constructors for the reader. `bytes` holds the little-endian value (fixed-size scalars) or
  // `count` packed elements (arrays of fixed-size elements); `text` a string scalar; `strings` and
  // `arrays` the elements of string arrays and nested arrays.
  static GgufValue Scalar(GgufValueType type, const uint8_t* bytes);
  static GgufValue String(std::string_view text);
  static GgufValue FixedArray(GgufValueType element_type, const uint8_t* bytes, uint64_t count);
  static GgufValue StringArray(std::vector<std::string_view> strings);
  static GgufValue NestedArray(std::vector<GgufValue> arrays);

  GgufValueType type() const { return type_; }
  bool is_array() const { return type_ == GgufValueType::kArray; }

  // Scalars. Each is nullopt when the value is not of that kind.
  // Any integer type whose value fits int64 (a uint64 above 2^63 - 1 gives nullopt).
  std::optional<int64_t> AsInt64() const;
  // Any integer type whose value is non-negative.
  std::optional<uint64_t> AsUint64() const;
  // float32 (widened exactly) or float64. Integers are not converted.
  std::optional<double> AsDouble() const;
  std::optional<bool> AsBool() const;
  std::optional<std::string_view> AsString() const;

  // Arrays. element_type() is meaningful only for arrays; size() is 0 for scalars.
  GgufValueType element_type() const { return element_type_; }
  uint64_t size() const { return is_array() ? count_ : 0; }
  // Element `index` (< size()) as a value of its own (a copy for nested arrays).
  GgufValue Element(uint64_t index) const;
  // The whole array converted as the scalar accessors convert each element; nullopt when the
  // value is not an array of that kind or an element does not convert.
  std::optional<std::vector<int64_t>> AsInt64Array() const;
  std::optional<std::vector<double>> AsDoubleArray() const;
  std::optional<std::vector<std::string_view>> AsStringArray() const;

  // A short human-readable form for messages and tools: `42`, `"flux"`, `[1, 2, 3]`,
  // `array<string>[151936]` for long arrays; strings longer than 64 bytes are cut.
  std::string DebugString() const;
  // "uint32", "string", "array<float32>", "array<array<int8>>"...
  std::string TypeString() const;

 private:
  GgufValue() = default;

  GgufValueType type_ = GgufValueType::kUint8;
  GgufValueType element_type_ = GgufValueType::kUint8;  // arrays only
  uint64_t count_ = 0;                                  // arrays: elements; strings: bytes
  const uint8_t* bytes_ = nullptr;                      // fixed-size data, or string bytes
  std::vector<std::string_view> strings_;               // arrays of strings
  std::vector<GgufValue> arrays_;                       // arrays of arrays
};

}  // namespace streamdit::engine
