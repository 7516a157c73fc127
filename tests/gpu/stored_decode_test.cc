// Stored formats decoded on a CUDA device (engine/tensor/stored_tensor.h): fp8 codes, viewed as
// torch's fp8 dtype and cast, give the bits of the CPU's table decode for every code, scale and
// compute dtype, without the int64 index the table lookup needed; GGML blocks of every block type,
// decoded on the device by ATen's kernels (engine/tensor/gguf_decode_aten.h), give the bits of the
// CPU decoder, whether their bytes are in a device slot or still on the host.
// Label `gpu`: skipped, naming the reason, where there is no device.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdint>
#include <string>

#include "engine/device/cuda_devices.h"
#include "engine/tensor/gguf_decode.h"
#include "engine/tensor/gguf_decode_aten.h"
#include "engine/tensor/stored_tensor.h"
#include "tests/gpu/skip_without_cuda.h"
#include "tests/support/ggml_random_blocks.h"

namespace streamdit::engine {
namespace {

TEST(StoredDecodeOnDevice, Fp8EqualsTheCpuTableDecodeForEveryCode) {
  SKIP_WITHOUT_CUDA_DEVICE();
  const torch::Device cuda(torch::kCUDA, 0);
  for (DType dtype : {DType::kF8E4M3, DType::kF8E5M2}) {
    for (float scale : {1.0f, 3.7e-4f, 5.5f}) {
      for (torch::ScalarType compute : {torch::kFloat, torch::kBFloat16, torch::kHalf}) {
        SCOPED_TRACE(std::string(DTypeName(dtype)) + " scale " + std::to_string(scale) + " " +
                     c10::toString(compute));
        StoredTensor stored;
        stored.dtype = dtype;
        stored.scale = scale;
        stored.data = torch::arange(256, torch::kInt).to(torch::kByte).reshape({16, 16});
        const torch::Tensor cpu = Materialize(stored, compute, torch::kCPU);
        // Codes already on the device (a slot) and still on the host (copied first).
        for (const torch::Tensor& codes : {stored.data.to(cuda), stored.data}) {
          StoredTensor placed = stored;
          placed.data = codes;
          const torch::Tensor gpu = Materialize(placed, compute, cuda);
          ASSERT_EQ(gpu.device(), cuda);
          ASSERT_EQ(gpu.scalar_type(), compute);
          const torch::Tensor back = gpu.cpu();
          const torch::Tensor nan = cpu.isnan();
          EXPECT_TRUE(torch::equal(nan, back.isnan()));
          EXPECT_TRUE(torch::equal(cpu.masked_fill(nan, 0), back.masked_fill(nan, 0)));
        }
      }
    }
  }
}

TEST(StoredDecodeOnDevice, GgmlBlocksEqualTheCpuDecodeForEveryBlockType) {
  SKIP_WITHOUT_CUDA_DEVICE();
  const torch::Device cuda(torch::kCUDA, 0);
  for (GgmlType type : test_support::GgmlBlockTypes()) {
    // Two chunks of the ATen decoder and a partial one, in rows of four blocks.
    const int64_t row = 4 * GgmlBlockSize(type);
    const int64_t rows = (2 * kGgmlAtenChunkElements + 5 * row) / row;
    StoredTensor stored;
    stored.dtype = DType::kU8;
    stored.blocks = type;
    stored.shape = {rows, row};
    stored.data = test_support::RandomGgmlBlocks(type, rows * 4, 31 + static_cast<uint64_t>(type))
                      .view(GgmlStorageShape(type, stored.shape));
    const torch::Tensor cpu = Materialize(stored, torch::kFloat, torch::kCPU);
    for (torch::ScalarType compute : {torch::kFloat, torch::kBFloat16, torch::kHalf}) {
      SCOPED_TRACE(std::string(GgmlTypeName(type)) + " " + c10::toString(compute));
      // Blocks already on the device (a slot) and still on the host (copied first).
      for (const torch::Tensor& bytes : {stored.data.to(cuda), stored.data}) {
        StoredTensor placed = stored;
        placed.data = bytes;
        const torch::Tensor gpu = Materialize(placed, compute, cuda);
        ASSERT_EQ(gpu.device(), cuda);
        ASSERT_EQ(gpu.scalar_type(), compute);
        EXPECT_TRUE(test_support::SameBits(gpu.cpu(), cpu.to(compute)));
      }
    }
  }
}

}  // namespace
}  // namespace streamdit::engine
