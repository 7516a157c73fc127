// Random GGML blocks for decoder tests (torch): random bytes whose fp16 scale fields are finite
// and, in the first blocks, cycle through the fp16 extremes, so that every product a decoder
// computes is finite and the edge cases (fp16 max, subnormals, signed zeros, negatives) are all
// hit.
#pragma once

#include <torch/torch.h>

#include <array>
#include <cstdint>
#include <map>
#include <vector>

#include "engine/checkpoint/gguf_types.h"

namespace streamdit::test_support {

// Byte offsets of each block type's fp16 scale fields (d, and m or dmin), from ggml's block structs
// (block_q4_0 ... block_q6_K in ggml-common.h), not from the decoders under test.
inline const std::map<engine::GgmlType, std::vector<int64_t>>& GgmlHalfFields() {
  using engine::GgmlType;
  static const std::map<GgmlType, std::vector<int64_t>> fields = {
      {GgmlType::kQ4_0, {0}},    {GgmlType::kQ4_1, {0, 2}}, {GgmlType::kQ5_0, {0}},
      {GgmlType::kQ5_1, {0, 2}}, {GgmlType::kQ8_0, {0}},    {GgmlType::kQ2_K, {80, 82}},
      {GgmlType::kQ3_K, {108}},  {GgmlType::kQ4_K, {0, 2}}, {GgmlType::kQ5_K, {0, 2}},
      {GgmlType::kQ6_K, {208}}};
  return fields;
}

// fp16 bit patterns at the edges: max normal (both signs), min normal (both signs), max and min
// subnormal (both signs), signed zeros, one, minus one. No infinities or NaNs: torch::equal does
// not compare NaNs, and a finite scale times a quant stays finite in float32.
inline constexpr std::array<uint16_t, 12> kSpecialHalves = {
    0x7BFF, 0xFBFF, 0x0400, 0x8400, 0x03FF, 0x83FF, 0x0001, 0x8001, 0x0000, 0x8000, 0x3C00, 0xBC00};

// `blocks` blocks of block type `type` as flat kByte on the CPU: random bytes (seeded), every fp16
// field finite, those of the first 48 blocks cycling through kSpecialHalves.
inline torch::Tensor RandomGgmlBlocks(engine::GgmlType type, int64_t blocks, uint64_t seed) {
  torch::manual_seed(seed);
  const int64_t block_bytes = engine::GgmlBlockBytes(type);
  torch::Tensor bytes = torch::randint(0, 256, {blocks, block_bytes}, torch::kByte);
  uint8_t* data = bytes.data_ptr<uint8_t>();
  std::size_t special = 0;
  for (int64_t b = 0; b < blocks; ++b) {
    for (int64_t offset : GgmlHalfFields().at(type)) {
      uint8_t* field = data + b * block_bytes + offset;
      uint16_t bits = static_cast<uint16_t>(field[0] | (field[1] << 8));
      if (b < 48) {
        bits = kSpecialHalves[special++ % kSpecialHalves.size()];
      } else if (((bits >> 10) & 0x1F) == 0x1F) {
        bits = static_cast<uint16_t>(bits & ~0x4000);  // an infinity or NaN becomes finite
      }
      field[0] = static_cast<uint8_t>(bits & 0xFF);
      field[1] = static_cast<uint8_t>(bits >> 8);
    }
  }
  return bytes.reshape({-1});
}

// The types stored as blocks of several elements (every supported type but F32, F16, BF16).
inline std::vector<engine::GgmlType> GgmlBlockTypes() {
  std::vector<engine::GgmlType> types;
  for (engine::GgmlType type : engine::SupportedGgmlTypes()) {
    if (engine::GgmlBlockSize(type) > 1) types.push_back(type);
  }
  return types;
}

// The same bits (signed zeros told apart), for floating tensors of 2 or 4 bytes.
inline bool SameBits(const torch::Tensor& a, const torch::Tensor& b) {
  if (a.scalar_type() != b.scalar_type() || a.sizes() != b.sizes()) return false;
  const torch::ScalarType bits = a.element_size() == 4 ? torch::kInt : torch::kShort;
  return torch::equal(a.contiguous().view(bits), b.contiguous().view(bits));
}

}  // namespace streamdit::test_support
