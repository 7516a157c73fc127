// Synthetic GGML block weights for benchmarks (bench_formats): a model's matmul weights replaced by
// block-quantized bytes (Q8_0, Q6_K, Q4_K, Q4_0) of the right geometry, so that storing, streaming
// and decoding them costs what a real GGUF file's would.
//
// Why synthetic: the engine has no quantizer (it only reads GGUF files), FLUX-size GGUF files are
// not downloaded in benchmarks, and the timing of a step does not depend on what the weights mean.
// It does depend on the values being ordinary floats: a subnormal, inf or NaN anywhere in a matmul
// runs slow paths on the CPU. So each block is random bytes (random quants, and random 6-bit
// sub-block scales for Q4_K) whose f16 scale fields are then overwritten with a fixed power of two
// per type, chosen so that the decoded weights have an RMS of about 0.02 (the random bf16 model's
// is 1/sqrt(fan-in): 0.018 at 3072), and whose Q6_K int8 sub-block scales are set to 1..16. Every
// decoded value is then a small integer times a normal float: finite and normal (or exactly 0).
// The layouts are gguf_dequantize.cc's.
#pragma once

#include <ATen/Parallel.h>
#include <c10/util/Half.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/checkpoint/gguf_types.h"
#include "engine/model/weight_block.h"
#include "engine/streaming/host_storage.h"
#include "engine/streaming/host_tensor.h"
#include "engine/tensor/gguf_decode.h"
#include "engine/tensor/stored_tensor.h"

namespace streamdit::engine::bench {

namespace synthetic_ggml_detail {

// splitmix64: a fast, well-mixed stream per seed (std:: engines are slow for gigabytes).
inline uint64_t SplitMix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

inline void StoreHalf(uint8_t* at, float value) {
  const uint16_t bits = c10::Half(value).x;
  at[0] = static_cast<uint8_t>(bits & 0xFF);  // GGUF is little-endian
  at[1] = static_cast<uint8_t>(bits >> 8);
}

// Overwrites the scale fields of one block of `type` (see the header comment for the values).
inline void FixScales(GgmlType type, uint8_t* block) {
  switch (type) {
    case GgmlType::kQ8_0:  // d, qs[32] int8: RMS(q) ~ 74, so d = 2^-12 gives ~0.018
      StoreHalf(block, 1.0f / 4096);
      return;
    case GgmlType::kQ4_0:  // d, qs[16]: q - 8 in -8..7, RMS ~ 4.6, so d = 2^-8 gives ~0.018
      StoreHalf(block, 1.0f / 256);
      return;
    case GgmlType::kQ4_K:
      // d, dmin, scales[12], qs[128]: y = d*sc*q - dmin*m with sc, m in 0..63 and q in 0..15.
      // dmin = 8 d centres the weights (E[sc q] = 7.5 E[m]); RMS ~ 264 d ~ 0.032.
      StoreHalf(block, 1.0f / 8192);
      StoreHalf(block + 2, 1.0f / 1024);
      return;
    case GgmlType::kQ6_K:
      // ql[128], qh[64], scales[16] int8, d: y = d*sc*(q - 32), q - 32 in -32..31 (RMS ~18.5).
      // Random int8 scales would be half negative and up to 127; 1..16 (RMS ~9.7) with d = 2^-13
      // gives ~0.022.
      for (int i = 0; i < 16; ++i) block[192 + i] = static_cast<uint8_t>(1 + block[192 + i] % 16);
      StoreHalf(block + 208, 1.0f / 8192);
      return;
    default:
      throw std::invalid_argument("synthetic GGML blocks: no scale layout for type " +
                                  std::string(GgmlTypeName(type)));
  }
}

}  // namespace synthetic_ggml_detail

// Whether a tensor is replaced by `type` blocks: what fp8 storage would convert (StoredAsFp8:
// 2-D "*.weight", not an embedding table), when its rows hold whole blocks.
inline bool SyntheticGgmlEligible(const std::string& name, const StoredTensor& tensor,
                                  GgmlType type) {
  return !tensor.blocks && StoredAsFp8(name, tensor) && tensor.size(1) % GgmlBlockSize(type) == 0;
}

// Block storage of `type` for a tensor of logical `shape` ([rows, columns], columns a multiple of
// the block size), in host-tier memory (outside the device meter, like a mapped GGUF file), filled
// as the header says. Deterministic for a seed.
inline StoredTensor SyntheticGgmlTensor(GgmlType type, const std::vector<int64_t>& shape,
                                        uint64_t seed) {
  StoredTensor stored;
  stored.data = AllocateHostTensor(GgmlStorageShape(type, shape), torch::kByte);
  stored.dtype = DType::kU8;
  stored.blocks = type;
  stored.shape = shape;
  const int64_t rows = stored.data.size(0), row_bytes = stored.data.size(1);
  const int64_t block_bytes = GgmlBlockBytes(type);
  uint8_t* data = stored.data.data_ptr<uint8_t>();
  // Rows in parallel, each from its own stream, so the bytes do not depend on the thread count.
  at::parallel_for(0, rows, 16, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      uint64_t state = seed * 0x100000001B3ull + static_cast<uint64_t>(r);
      uint8_t* row = data + r * row_bytes;
      for (int64_t i = 0; i < row_bytes; i += 8) {
        const uint64_t word = synthetic_ggml_detail::SplitMix64(state);
        std::memcpy(row + i, &word, static_cast<std::size_t>(std::min<int64_t>(8, row_bytes - i)));
      }
      for (int64_t b = 0; b < row_bytes; b += block_bytes) {
        synthetic_ggml_detail::FixScales(type, row + b);
      }
    }
  });
  return stored;
}

// Replaces, in place, each tensor of `blocks` that SyntheticGgmlEligible selects by synthetic
// `type` blocks of its shape (the others keep their storage, as a GGUF file keeps norms and
// biases in F32/F16). Returns the bytes saved.
inline int64_t ConvertBlocksToSyntheticGgml(const std::vector<WeightBlock*>& blocks, GgmlType type,
                                            uint64_t seed) {
  int64_t saved = 0;
  for (WeightBlock* block : blocks) {
    for (auto& [name, tensor] : block->tensors) {
      if (!SyntheticGgmlEligible(name, tensor, type)) continue;
      StoredTensor quantized = SyntheticGgmlTensor(type, tensor.sizes(), seed++);
      saved += tensor.nbytes() - quantized.nbytes();
      tensor = std::move(quantized);
    }
  }
  return saved;
}

}  // namespace streamdit::engine::bench
