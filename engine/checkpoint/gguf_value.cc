#include "engine/checkpoint/gguf_value.h"

#include <cstdio>
#include <cstring>
#include <limits>
#include <utility>

#include "engine/status/status_error.h"

namespace streamdit::engine {
namespace {

uint64_t LoadLittleEndian(const uint8_t* bytes, std::size_t size) {
  uint64_t value = 0;
  for (std::size_t i = size; i-- > 0;) value = (value << 8) | bytes[i];
  return value;
}

// The value of a fixed-size integer at `bytes`, sign-extended, as a (wide) signed/unsigned pair:
// exactly one of the two is meaningful, told by `is_signed`.
struct Integer {
  bool is_signed;
  int64_t signed_value;
  uint64_t unsigned_value;
};

Integer LoadInteger(GgufValueType type, const uint8_t* bytes) {
  const std::size_t size = GgufValueTypeSize(type);
  const uint64_t raw = LoadLittleEndian(bytes, size);
  switch (type) {
    case GgufValueType::kInt8:
      return {true, static_cast<int8_t>(raw), 0};
    case GgufValueType::kInt16:
      return {true, static_cast<int16_t>(raw), 0};
    case GgufValueType::kInt32:
      return {true, static_cast<int32_t>(raw), 0};
    case GgufValueType::kInt64:
      return {true, static_cast<int64_t>(raw), 0};
    default:
      return {false, 0, raw};
  }
}

std::string Quoted(std::string_view text) {
  constexpr std::size_t kMaxShown = 64;
  std::string out = "\"";
  for (std::size_t i = 0; i < text.size() && i < kMaxShown; ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7F) {
      static const char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (text.size() > kMaxShown) out += "...(" + std::to_string(text.size()) + " bytes)";
  return out + "\"";
}

}  // namespace

std::optional<std::string_view> GgufValueTypeName(uint32_t tag) {
  static constexpr std::string_view kNames[] = {"uint8",  "int8",    "uint16", "int16",  "uint32",
                                                "int32",  "float32", "bool",   "string", "array",
                                                "uint64", "int64",   "float64"};
  if (tag >= sizeof(kNames) / sizeof(kNames[0])) return std::nullopt;
  return kNames[tag];
}

std::size_t GgufValueTypeSize(GgufValueType type) {
  switch (type) {
    case GgufValueType::kUint8:
    case GgufValueType::kInt8:
    case GgufValueType::kBool:
      return 1;
    case GgufValueType::kUint16:
    case GgufValueType::kInt16:
      return 2;
    case GgufValueType::kUint32:
    case GgufValueType::kInt32:
    case GgufValueType::kFloat32:
      return 4;
    case GgufValueType::kUint64:
    case GgufValueType::kInt64:
    case GgufValueType::kFloat64:
      return 8;
    case GgufValueType::kString:
    case GgufValueType::kArray:
      return 0;
  }
  return 0;
}

bool IsGgufIntegerType(GgufValueType type) {
  switch (type) {
    case GgufValueType::kUint8:
    case GgufValueType::kInt8:
    case GgufValueType::kUint16:
    case GgufValueType::kInt16:
    case GgufValueType::kUint32:
    case GgufValueType::kInt32:
    case GgufValueType::kUint64:
    case GgufValueType::kInt64:
      return true;
    default:
      return false;
  }
}

bool IsGgufFloatType(GgufValueType type) {
  return type == GgufValueType::kFloat32 || type == GgufValueType::kFloat64;
}

GgufValue GgufValue::Scalar(GgufValueType type, const uint8_t* bytes) {
  if (GgufValueTypeSize(type) == 0) throw Internal("GgufValue::Scalar of a variable-size type");
  GgufValue value;
  value.type_ = type;
  value.bytes_ = bytes;
  return value;
}

GgufValue GgufValue::String(std::string_view text) {
  GgufValue value;
  value.type_ = GgufValueType::kString;
  value.bytes_ = reinterpret_cast<const uint8_t*>(text.data());
  value.count_ = text.size();
  return value;
}

GgufValue GgufValue::FixedArray(GgufValueType element_type, const uint8_t* bytes, uint64_t count) {
  if (GgufValueTypeSize(element_type) == 0) {
    throw Internal("GgufValue::FixedArray of a variable-size type");
  }
  GgufValue value;
  value.type_ = GgufValueType::kArray;
  value.element_type_ = element_type;
  value.bytes_ = bytes;
  value.count_ = count;
  return value;
}

GgufValue GgufValue::StringArray(std::vector<std::string_view> strings) {
  GgufValue value;
  value.type_ = GgufValueType::kArray;
  value.element_type_ = GgufValueType::kString;
  value.count_ = strings.size();
  value.strings_ = std::move(strings);
  return value;
}

GgufValue GgufValue::NestedArray(std::vector<GgufValue> arrays) {
  GgufValue value;
  value.type_ = GgufValueType::kArray;
  value.element_type_ = GgufValueType::kArray;
  value.count_ = arrays.size();
  value.arrays_ = std::move(arrays);
  return value;
}

std::optional<int64_t> GgufValue::AsInt64() const {
  if (!IsGgufIntegerType(type_)) return std::nullopt;
  const Integer integer = LoadInteger(type_, bytes_);
  if (integer.is_signed) return integer.signed_value;
  if (integer.unsigned_value > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return std::nullopt;
  }
  return static_cast<int64_t>(integer.unsigned_value);
}

std::optional<uint64_t> GgufValue::AsUint64() const {
  if (!IsGgufIntegerType(type_)) return std::nullopt;
  const Integer integer = LoadInteger(type_, bytes_);
  if (!integer.is_signed) return integer.unsigned_value;
  if (integer.signed_value < 0) return std::nullopt;
  return static_cast<uint64_t>(integer.signed_value);
}

std::optional<double> GgufValue::AsDouble() const {
  if (type_ == GgufValueType::kFloat32) {
    const uint32_t bits = static_cast<uint32_t>(LoadLittleEndian(bytes_, 4));
    float value;
    std::memcpy(&value, &bits, sizeof(value));
    return static_cast<double>(value);
  }
  if (type_ == GgufValueType::kFloat64) {
    const uint64_t bits = LoadLittleEndian(bytes_, 8);
    double value;
    std::memcpy(&value, &bits, sizeof(value));
    return value;
  }
  return std::nullopt;
}

std::optional<bool> GgufValue::AsBool() const {
  if (type_ != GgufValueType::kBool) return std::nullopt;
  return bytes_[0] != 0;  // the reader accepts only 0 and 1
}

std::optional<std::string_view> GgufValue::AsString() const {
  if (type_ != GgufValueType::kString) return std::nullopt;
  return std::string_view(reinterpret_cast<const char*>(bytes_), count_);
}

GgufValue GgufValue::Element(uint64_t index) const {
  if (!is_array() || index >= count_) {
    throw InvalidArgument("GgufValue::Element: index " + std::to_string(index) +
                          " outside a value of type " + TypeString() + " with " +
                          std::to_string(size()) + " elements");
  }
  if (element_type_ == GgufValueType::kString) return String(strings_[index]);
  if (element_type_ == GgufValueType::kArray) return arrays_[index];
  return Scalar(element_type_, bytes_ + index * GgufValueTypeSize(element_type_));
}

std::optional<std::vector<int64_t>> GgufValue::AsInt64Array() const {
  if (!is_array() || !IsGgufIntegerType(element_type_)) return std::nullopt;
  std::vector<int64_t> values;
  values.reserve(count_);
  for (uint64_t i = 0; i < count_; ++i) {
    const std::optional<int64_t> value = Element(i).AsInt64();
    if (!value) return std::nullopt;
    values.push_back(*value);
  }
  return values;
}

std::optional<std::vector<double>> GgufValue::AsDoubleArray() const {
  if (!is_array() || !IsGgufFloatType(element_type_)) return std::nullopt;
  std::vector<double> values;
  values.reserve(count_);
  for (uint64_t i = 0; i < count_; ++i) values.push_back(*Element(i).AsDouble());
  return values;
}

std::optional<std::vector<std::string_view>> GgufValue::AsStringArray() const {
  if (!is_array() || element_type_ != GgufValueType::kString) return std::nullopt;
  return strings_;
}

std::string GgufValue::TypeString() const {
  const std::string_view name = *GgufValueTypeName(static_cast<uint32_t>(type_));
  if (!is_array()) return std::string(name);
  if (element_type_ == GgufValueType::kArray) {
    return "array<" + (arrays_.empty() ? std::string("array") : arrays_[0].TypeString()) + ">";
  }
  return "array<" + std::string(*GgufValueTypeName(static_cast<uint32_t>(element_type_))) + ">";
}

std::string GgufValue::DebugString() const {
  constexpr uint64_t kMaxElementsShown = 8;
  if (is_array()) {
    if (count_ > kMaxElementsShown) return TypeString() + "[" + std::to_string(count_) + "]";
    std::string out = "[";
    for (uint64_t i = 0; i < count_; ++i) {
      if (i > 0) out += ", ";
      out += Element(i).DebugString();
    }
    return out + "]";
  }
  if (type_ == GgufValueType::kString) return Quoted(*AsString());
  if (type_ == GgufValueType::kBool) return *AsBool() ? "true" : "false";
  if (IsGgufFloatType(type_)) {
    // Enough digits to round-trip the stored type.
    char text[32];
    std::snprintf(text, sizeof(text), type_ == GgufValueType::kFloat32 ? "%.9g" : "%.17g",
                  *AsDouble());
    return text;
  }
  const Integer integer = LoadInteger(type_, bytes_);
  return integer.is_signed ? std::to_string(integer.signed_value)
                           : std::to_string(integer.unsigned_value);
}

}  // namespace streamdit::engine
