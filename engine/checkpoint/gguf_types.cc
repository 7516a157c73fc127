#include "engine/checkpoint/gguf_types.h"

#include <array>
#include <limits>

#include "engine/checkpoint/shape_string.h"
#include "engine/status/status_error.h"

namespace streamdit::engine {
namespace {

constexpr int64_t kQK = 32;     // elements per block of the "legacy" quants Q4_0 .. Q8_0
constexpr int64_t kQK_K = 256;  // elements per super-block of the K-quants

struct GgmlTypeSpec {
  GgmlType type;
  std::string_view name;
  int64_t block_size;
  int64_t block_bytes;
};

// One row per supported type, in id order: the single place that ties a type to its id, name and
// block geometry (ggml's type_traits; gguf-py's GGML_QUANT_SIZES). The byte counts spell out the
// block layout that gguf_dequantize.cc decodes.
constexpr std::array<GgmlTypeSpec, 13> kSpecs = {{
    {GgmlType::kF32, "F32", 1, 4},
    {GgmlType::kF16, "F16", 1, 2},
    {GgmlType::kQ4_0, "Q4_0", kQK, 2 + kQK / 2},                       // d, 32 nibbles
    {GgmlType::kQ4_1, "Q4_1", kQK, 2 + 2 + kQK / 2},                   // d, m, 32 nibbles
    {GgmlType::kQ5_0, "Q5_0", kQK, 2 + 4 + kQK / 2},                   // d, 32 high bits, nibbles
    {GgmlType::kQ5_1, "Q5_1", kQK, 2 + 2 + 4 + kQK / 2},               // d, m, high bits, nibbles
    {GgmlType::kQ8_0, "Q8_0", kQK, 2 + kQK},                           // d, 32 int8
    {GgmlType::kQ2_K, "Q2_K", kQK_K, kQK_K / 16 + kQK_K / 4 + 2 + 2},  // scales, 2-bit q, d, dmin
    {GgmlType::kQ3_K, "Q3_K", kQK_K, kQK_K / 8 + kQK_K / 4 + 12 + 2},  // hmask, q, scales, d
    {GgmlType::kQ4_K, "Q4_K", kQK_K, 2 + 2 + 12 + kQK_K / 2},          // d, dmin, scales, q
    {GgmlType::kQ5_K, "Q5_K", kQK_K, 2 + 2 + 12 + kQK_K / 8 + kQK_K / 2},      // ... qh, q
    {GgmlType::kQ6_K, "Q6_K", kQK_K, kQK_K / 2 + kQK_K / 4 + kQK_K / 16 + 2},  // ql, qh, sc, d
    {GgmlType::kBF16, "BF16", 1, 2},
}};

const GgmlTypeSpec& Spec(GgmlType type) {
  for (const GgmlTypeSpec& spec : kSpecs) {
    if (spec.type == type) return spec;
  }
  throw Internal("GgmlType " + std::to_string(static_cast<uint32_t>(type)) + " has no spec");
}

// ggml ids this reader knows but cannot decode, so that a user learns which quantization their file
// uses rather than a bare number (gguf-py 0.19's GGMLQuantizationType; "removed" ids are layouts
// ggml has since dropped).
std::string_view KnownUnsupportedName(uint32_t id) {
  switch (id) {
    case 4:
      return "Q4_2, removed from ggml";
    case 5:
      return "Q4_3, removed from ggml";
    case 9:
      return "Q8_1";
    case 15:
      return "Q8_K";
    case 16:
      return "IQ2_XXS";
    case 17:
      return "IQ2_XS";
    case 18:
      return "IQ3_XXS";
    case 19:
      return "IQ1_S";
    case 20:
      return "IQ4_NL";
    case 21:
      return "IQ3_S";
    case 22:
      return "IQ2_S";
    case 23:
      return "IQ4_XS";
    case 24:
      return "I8";
    case 25:
      return "I16";
    case 26:
      return "I32";
    case 27:
      return "I64";
    case 28:
      return "F64";
    case 29:
      return "IQ1_M";
    case 31:
    case 32:
    case 33:
      return "Q4_0_4_4/Q4_0_4_8/Q4_0_8_8, removed from ggml";
    case 34:
      return "TQ1_0";
    case 35:
      return "TQ2_0";
    case 36:
    case 37:
    case 38:
      return "IQ4_NL_4_4/IQ4_NL_4_8/IQ4_NL_8_8, removed from ggml";
    case 39:
      return "MXFP4";
    case 40:
      return "NVFP4";
    case 41:
      return "Q1_0";
    default:
      return {};
  }
}

std::string SupportedList() {
  std::string list;
  for (const GgmlTypeSpec& spec : kSpecs) {
    if (!list.empty()) list += ", ";
    list += spec.name;
  }
  return list;
}

}  // namespace

const std::vector<GgmlType>& SupportedGgmlTypes() {
  static const std::vector<GgmlType> types = [] {
    std::vector<GgmlType> all;
    for (const GgmlTypeSpec& spec : kSpecs) all.push_back(spec.type);
    return all;
  }();
  return types;
}

std::string_view GgmlTypeName(GgmlType type) { return Spec(type).name; }

int64_t GgmlBlockSize(GgmlType type) { return Spec(type).block_size; }

int64_t GgmlBlockBytes(GgmlType type) { return Spec(type).block_bytes; }

std::optional<GgmlType> FindGgmlType(uint32_t id) {
  for (const GgmlTypeSpec& spec : kSpecs) {
    if (static_cast<uint32_t>(spec.type) == id) return spec.type;
  }
  return std::nullopt;
}

std::string UnsupportedGgmlTypeMessage(uint32_t id) {
  const std::string_view known = KnownUnsupportedName(id);
  const std::string supported = " (supported: " + SupportedList() + ")";
  if (known.empty()) return "unknown GGML type id " + std::to_string(id) + supported;
  return "GGML type id " + std::to_string(id) + " (" + std::string(known) + ") is not supported" +
         supported;
}

GgmlType GgmlTypeFromId(uint32_t id) {
  const std::optional<GgmlType> type = FindGgmlType(id);
  if (!type) throw InvalidArgument(UnsupportedGgmlTypeMessage(id));
  return *type;
}

uint64_t GgmlTensorBytes(GgmlType type, const std::vector<int64_t>& dims) {
  const GgmlTypeSpec& spec = Spec(type);
  // ggml order, so the message shows the dims as stored: "ggml dims (ne) [4096, 3072]".
  const auto describe = [&] {
    return std::string(spec.name) + " tensor with ggml dims (ne) " + ShapeString(dims);
  };
  int64_t elements = 1;
  for (int64_t dim : dims) {
    if (dim < 0) throw InvalidArgument(describe() + ": negative dimension " + std::to_string(dim));
    if (__builtin_mul_overflow(elements, dim, &elements)) {
      throw InvalidArgument(describe() + ": the element count overflows int64");
    }
  }
  const int64_t row = dims.empty() ? 1 : dims[0];
  if (row % spec.block_size != 0) {
    throw InvalidArgument(describe() + ": a row of " + std::to_string(row) +
                          " elements is not a multiple of the block size " +
                          std::to_string(spec.block_size));
  }
  // elements is a multiple of row, hence of the block size: the division is exact.
  int64_t bytes = 0;
  if (__builtin_mul_overflow(elements / spec.block_size, spec.block_bytes, &bytes)) {
    throw InvalidArgument(describe() + ": the byte count overflows int64");
  }
  return static_cast<uint64_t>(bytes);
}

}  // namespace streamdit::engine
