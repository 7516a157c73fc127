// Stored formats decoded on a CUDA device (engine/tensor/stored_tensor.h): fp8 codes, viewed as
// torch's fp8 dtype and cast, give the bits of the CPU's table decode for every code, scale and
// compute dtype, without the int64 index the table lookup needed; GGML blocks, whose codec is
// CPU-only, are refused naming the type and the device rather than decoded to the wrong device.
// Label `gpu`: skipped, naming the reason, where there is no device.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdint>

#include "engine/device/cuda_devices.h"
#include "engine/status/status_error.h"
#include "engine/tensor/stored_tensor.h"
#include "tests/gpu/skip_without_cuda.h"

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

TEST(StoredDecodeOnDevice, GgmlBlocksAreRefusedNamingTypeAndDevice) {
  SKIP_WITHOUT_CUDA_DEVICE();
  StoredTensor stored;
  stored.dtype = DType::kU8;
  stored.blocks = GgmlType::kQ8_0;
  stored.shape = {2, 32};
  stored.data = torch::zeros({2, 34}, torch::kByte);  // two Q8_0 blocks of 34 bytes
  try {
    Materialize(stored, torch::kFloat, torch::Device(torch::kCUDA, 0));
    FAIL() << "a GGML decode on a CUDA device must be refused";
  } catch (const StatusError& error) {
    EXPECT_EQ(error.code(), absl::StatusCode::kFailedPrecondition) << error.what();
    EXPECT_NE(std::string(error.what()).find("Q8_0"), std::string::npos) << error.what();
    EXPECT_NE(std::string(error.what()).find("cuda"), std::string::npos) << error.what();
  }
}

}  // namespace
}  // namespace streamdit::engine
