#include "engine/checkpoint/dtype.h"

#include <array>

namespace streamdit::engine {
namespace {

struct DTypeSpec {
  DType dtype;
  std::string_view name;
  std::size_t size;
  bool floating_point;
};

// One row per DType, in enum order: the single place that ties a dtype to its spelling and size.
constexpr std::array<DTypeSpec, 12> kSpecs = {{
    {DType::kF64, "F64", 8, true},
    {DType::kF32, "F32", 4, true},
    {DType::kF16, "F16", 2, true},
    {DType::kBF16, "BF16", 2, true},
    {DType::kF8E4M3, "F8_E4M3", 1, true},
    {DType::kF8E5M2, "F8_E5M2", 1, true},
    {DType::kI64, "I64", 8, false},
    {DType::kI32, "I32", 4, false},
    {DType::kI16, "I16", 2, false},
    {DType::kI8, "I8", 1, false},
    {DType::kU8, "U8", 1, false},
    {DType::kBool, "BOOL", 1, false},
}};

const DTypeSpec& Spec(DType dtype) { return kSpecs.at(static_cast<std::size_t>(dtype)); }

}  // namespace

std::optional<DType> ParseDType(std::string_view name) {
  for (const DTypeSpec& spec : kSpecs) {
    if (spec.name == name) return spec.dtype;
  }
  return std::nullopt;
}

std::string_view DTypeName(DType dtype) { return Spec(dtype).name; }

std::size_t DTypeSize(DType dtype) { return Spec(dtype).size; }

bool IsFloatingPoint(DType dtype) { return Spec(dtype).floating_point; }

}  // namespace streamdit::engine
