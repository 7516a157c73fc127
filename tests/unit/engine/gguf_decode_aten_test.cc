// The ATen-operation GGML decoder (engine/tensor/gguf_decode_aten.h), run on the CPU so that it is
// checked wherever the tests run (on a CUDA device it is the decoder; tests/gpu/ checks it there):
//   (1) for every block type, on random blocks whose fp16 scales cycle through the extremes (fp16
//       max, subnormals, signed zeros, negatives) across several chunks and a partial one, the
//       float32 result has the bits of the CPU decoder (gguf_dequantize.h, itself bit-exact with
//       PyPI's gguf), and a bf16/f16 result the bits of that float32 result rounded once;
//   (2) the bytes it allocates besides its result, measured by the CPU's counting allocator, stay
//       within GgmlAtenDecodeTransientBytes, which is bounded by a chunk whatever the tensor's
//       size; and DecodeTransientBytes states them (plus the bytes' copy) for blocks on a device.
#include "engine/tensor/gguf_decode_aten.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "engine/checkpoint/gguf_types.h"
#include "engine/memory/allocation_bytes.h"
#include "engine/memory/cpu_memory_meter.h"
#include "engine/memory/scoped_peak.h"
#include "engine/status/status_error.h"
#include "engine/tensor/gguf_decode.h"
#include "engine/tensor/stored_tensor.h"
#include "tests/support/ggml_random_blocks.h"

namespace streamdit::engine {
namespace {

using test_support::GgmlBlockTypes;
using test_support::RandomGgmlBlocks;
using test_support::SameBits;

// Two full chunks and a partial one, in rows of two blocks.
std::vector<int64_t> MultiChunkShape(GgmlType type) {
  const int64_t per_chunk = kGgmlAtenChunkElements / GgmlBlockSize(type);
  return {per_chunk + 19, 2 * GgmlBlockSize(type)};
}

int64_t Numel(const std::vector<int64_t>& shape) {
  int64_t numel = 1;
  for (int64_t s : shape) numel *= s;
  return numel;
}

TEST(GgmlAtenDecode, EqualsTheCpuDecoderBitForBitForEveryBlockType) {
  ASSERT_EQ(GgmlBlockTypes().size(), test_support::GgmlHalfFields().size())
      << "a block type without its fp16 fields";
  for (GgmlType type : GgmlBlockTypes()) {
    SCOPED_TRACE(std::string(GgmlTypeName(type)));
    const std::vector<int64_t> shape = MultiChunkShape(type);
    const torch::Tensor bytes = RandomGgmlBlocks(type, Numel(shape) / GgmlBlockSize(type),
                                                 1000 + static_cast<uint64_t>(type));
    const torch::Tensor expected = DecodeGgmlBlocks(bytes, type, shape, torch::kFloat);
    const torch::Tensor decoded = DecodeGgmlBlocksAten(bytes, type, shape, torch::kFloat);
    ASSERT_EQ(decoded.sizes(), expected.sizes());
    EXPECT_TRUE(SameBits(decoded, expected));
    EXPECT_TRUE(torch::equal(decoded, expected));
    // The extremes really are there: fp16 max times a quant, and fp16 subnormals times a quant.
    EXPECT_GT(expected.abs().max().item<float>(), 65504.0f);
    EXPECT_GT((expected.abs() > 0).logical_and(expected.abs() < 1e-6f).sum().item<int64_t>(), 0);
    for (torch::ScalarType compute : {torch::kBFloat16, torch::kHalf}) {
      SCOPED_TRACE(c10::toString(compute));
      EXPECT_TRUE(
          SameBits(DecodeGgmlBlocksAten(bytes, type, shape, compute), expected.to(compute)));
    }
  }
}

TEST(GgmlAtenDecode, ElementTypesConvertExactly) {
  const torch::Tensor values = torch::randn({3, 64}) * 1e3;
  for (GgmlType type : {GgmlType::kF32, GgmlType::kF16, GgmlType::kBF16}) {
    SCOPED_TRACE(std::string(GgmlTypeName(type)));
    const torch::ScalarType stored = type == GgmlType::kF32   ? torch::kFloat
                                     : type == GgmlType::kF16 ? torch::kHalf
                                                              : torch::kBFloat16;
    const torch::Tensor bytes = values.to(stored).contiguous().view(torch::kByte).reshape({-1});
    const torch::Tensor expected = DecodeGgmlBlocks(bytes, type, {3, 64}, torch::kFloat);
    EXPECT_TRUE(SameBits(DecodeGgmlBlocksAten(bytes, type, {3, 64}, torch::kFloat), expected));
    EXPECT_TRUE(SameBits(DecodeGgmlBlocksAten(bytes, type, {3, 64}, torch::kBFloat16),
                         expected.to(torch::kBFloat16)));
  }
}

TEST(GgmlAtenDecode, AWrongByteCountIsInvalidArgument) {
  const torch::Tensor bytes = torch::zeros({33}, torch::kByte);  // one Q8_0 block is 34 bytes
  try {
    DecodeGgmlBlocksAten(bytes, GgmlType::kQ8_0, {1, 32}, torch::kFloat);
    FAIL() << "33 bytes are not a Q8_0 block";
  } catch (const StatusError& error) {
    EXPECT_EQ(error.code(), absl::StatusCode::kInvalidArgument) << error.what();
    EXPECT_NE(std::string(error.what()).find("Q8_0"), std::string::npos) << error.what();
  }
}

TEST(GgmlAtenDecode, TransientBytesStayWithinTheStatedChunkBound) {
  CpuMemoryMeter::Install();
  for (GgmlType type : GgmlBlockTypes()) {
    // Several chunks and a partial one, and a tensor smaller than a chunk (one row).
    for (const std::vector<int64_t>& shape :
         {MultiChunkShape(type), std::vector<int64_t>{1, 3 * GgmlBlockSize(type)}}) {
      const torch::Tensor bytes = RandomGgmlBlocks(type, Numel(shape) / GgmlBlockSize(type), 7);
      for (torch::ScalarType compute : {torch::kFloat, torch::kBFloat16}) {
        SCOPED_TRACE(std::string(GgmlTypeName(type)) + " " + c10::toString(compute) + " " +
                     std::to_string(Numel(shape)) + " elements");
        const int64_t stated =
            GgmlAtenDecodeTransientBytes(type, Numel(shape), compute, torch::kCPU);
        std::optional<ScopedPeak> peak(std::in_place);
        const torch::Tensor decoded = DecodeGgmlBlocksAten(bytes, type, shape, compute);
        const int64_t result = AllocationBytes(Numel(shape), compute, torch::kCPU);
        const int64_t left = peak->current_above_start_bytes();
        const int64_t transient = peak->peak_above_start_bytes() - result;
        peak.reset();
        EXPECT_EQ(decoded.numel(), Numel(shape));
        EXPECT_EQ(left, result) << "only the result outlives the decode";
        EXPECT_LE(transient, stated);
        EXPECT_GE(transient, 0);
        if (Numel(shape) > kGgmlAtenChunkElements) {
          // Bounded by a chunk: a tensor a hundred times larger is stated the same bound.
          EXPECT_EQ(stated,
                    GgmlAtenDecodeTransientBytes(type, 100 * Numel(shape), compute, torch::kCPU));
          std::printf("%s %s: transient %lld bytes measured, %lld stated (result %lld)\n",
                      std::string(GgmlTypeName(type)).c_str(), c10::toString(compute),
                      static_cast<long long>(transient), static_cast<long long>(stated),
                      static_cast<long long>(result));
        }
      }
    }
  }
}

TEST(GgmlAtenDecode, DecodeTransientBytesCountsTheChunkAndTheCopyOnADevice) {
  StoredTensor stored;
  stored.dtype = DType::kU8;
  stored.blocks = GgmlType::kQ4_K;
  stored.shape = {3072, 3072};
  stored.data = torch::zeros(GgmlStorageShape(GgmlType::kQ4_K, stored.shape), torch::kByte);
  EXPECT_EQ(DecodeTransientBytes(stored, torch::kBFloat16, torch::kCPU), 0)
      << "the CPU decodes straight into the result";
  const torch::Device cuda(torch::kCUDA, 0);  // a plan for a device, not an allocation on it
  EXPECT_EQ(DecodeTransientBytes(stored, torch::kBFloat16, cuda),
            GgmlAtenDecodeTransientBytes(GgmlType::kQ4_K, stored.numel(), torch::kBFloat16, cuda) +
                AllocationBytes(stored.nbytes(), torch::kByte, cuda))
      << "host-held blocks are copied to the device, then decoded a chunk at a time";
  EXPECT_LT(GgmlAtenDecodeTransientBytes(GgmlType::kQ4_K, stored.numel(), torch::kBFloat16, cuda),
            AllocationBytes(stored.numel(), torch::kBFloat16, cuda))
      << "the chunk's intermediates are smaller than the decoded weight";
}

}  // namespace
}  // namespace streamdit::engine
