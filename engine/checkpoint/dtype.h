// Element types a safetensors file can hold, with their on-disk names and sizes.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

namespace streamdit::engine {

enum class DType {
  kF64,
  kF32,
  kF16,
  kBF16,
  kF8E4M3,  // float8_e4m3fn: no infinities, 0x7F/0xFF are NaN, max finite 448.
  kF8E5M2,  // IEEE-like float8 with infinities.
  kI64,
  kI32,
  kI16,
  kI8,
  kU8,
  kBool,
};

// The safetensors header spelling ("F32", "BF16", "F8_E4M3", ...), or nullopt when unknown.
std::optional<DType> ParseDType(std::string_view name);
std::string_view DTypeName(DType dtype);
std::size_t DTypeSize(DType dtype);
bool IsFloatingPoint(DType dtype);

}  // namespace streamdit::engine
