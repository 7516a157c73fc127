// Stored formats as tensors (engine/tensor/stored_tensor.h): a GGUF block-quantized weight, written
// by PyPI's gguf (tests/reference/flux_gguf_writer.py), is held as its blocks with its logical
// shape, and its codec decodes it to exactly gguf's own dequantization (F32 reference file), into
// f32 or bf16, allocating nothing counted but its result (DecodeTransientBytes 0). A block's matmul
// weights are decoded one at a time, inside ScopedBlock::Linear: the measured peak of two chained
// layers is one decoded layer, which is what DescribeBlocks plans.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <optional>

#include "engine/checkpoint/checkpoint.h"
#include "engine/memory/allocation_bytes.h"
#include "engine/memory/cpu_memory_meter.h"
#include "engine/memory/scoped_peak.h"
#include "engine/model/scoped_block.h"
#include "engine/streaming/residency_plan.h"
#include "engine/tensor/stored_tensor.h"
#include "gguf_flux_files.h"

namespace streamdit::engine {
namespace {

using pipeline_testing::GgufFluxModel;
using pipeline_testing::SharedGgufDemoModel;

constexpr char kMlpIn[] = "double_blocks.0.img_mlp.0.weight";

class StoredGgufBlocks : public ::testing::TestWithParam<std::string> {};

TEST_P(StoredGgufBlocks, DecodeToGgufsOwnDequantizationWithoutTransients) {
  const GgufFluxModel& model = SharedGgufDemoModel(GetParam());
  const Checkpoint gguf = Checkpoint::Open(model.gguf_path);
  const Checkpoint reference =
      Checkpoint::Open(model.reference_dir + "/" + std::string(kDemoTransformerFile));
  const torch::Tensor expected = ViewTensor(reference.Require(kMlpIn));

  const StoredTensor stored = ViewStored(gguf.Require(kMlpIn));
  ASSERT_TRUE(stored.blocks.has_value());
  EXPECT_EQ(GgmlTypeName(*stored.blocks), GetParam());
  EXPECT_EQ(stored.sizes(), expected.sizes().vec()) << "GGUF dims reversed into the torch shape";
  EXPECT_EQ(stored.nbytes(), model.stored.at(kMlpIn).second);
  EXPECT_EQ(stored.nbytes() * GgmlBlockSize(*stored.blocks),
            stored.numel() * GgmlBlockBytes(*stored.blocks));

  CpuMemoryMeter::Install();
  for (torch::ScalarType compute : {torch::kFloat, torch::kBFloat16}) {
    SCOPED_TRACE(c10::toString(compute));
    EXPECT_EQ(DecodeTransientBytes(stored, compute, torch::kCPU), 0);
    std::optional<ScopedPeak> peak(std::in_place);
    const torch::Tensor decoded = Materialize(stored, compute, torch::kCPU);
    const int64_t decode_peak = peak->peak_above_start_bytes();
    peak.reset();
    EXPECT_EQ(decode_peak, AllocationBytes(stored.numel(), compute, torch::kCPU))
        << "the result is the only counted allocation";
    EXPECT_TRUE(torch::equal(decoded, expected.to(compute)));
  }
}

INSTANTIATE_TEST_SUITE_P(Types, StoredGgufBlocks,
                         ::testing::Values("Q8_0", "Q4_0", "Q5_1", "Q2_K", "Q3_K", "Q4_K", "Q5_K",
                                           "Q6_K"),
                         [](const auto& info) { return info.param; });

TEST(StoredGgufBlocks, LinearDecodesOneLayerAtATime) {
  const GgufFluxModel& model = SharedGgufDemoModel("Q4_0");
  const Checkpoint gguf = Checkpoint::Open(model.gguf_path);
  const Checkpoint reference =
      Checkpoint::Open(model.reference_dir + "/" + std::string(kDemoTransformerFile));
  WeightBlock block;
  block.name = "double_blocks.0";
  for (const char* name :
       {"img_mlp.0.weight", "img_mlp.0.bias", "img_mlp.2.weight", "img_mlp.2.bias"}) {
    block.AddFrom(gguf, "double_blocks.0.", name);
  }
  const int64_t layer_bytes =
      AllocationBytes(block.tensors[0].second.numel(), torch::kFloat, torch::kCPU);
  ASSERT_EQ(layer_bytes,
            AllocationBytes(block.tensors[2].second.numel(), torch::kFloat, torch::kCPU));
  EXPECT_EQ(DescribeBlocks({&block}, {}, torch::kFloat, torch::kCPU)[0].compute_bytes, layer_bytes);

  CpuMemoryMeter::Install();
  const torch::Tensor x = torch::randn({1, 4, 256});
  DirectWeightProvider provider(torch::kFloat, torch::kCPU);
  torch::Tensor y;
  ScopedPeak peak;
  {
    ScopedBlock w(provider, block);
    y = w.Linear(at::gelu(w.Linear(x, "img_mlp.0"), "tanh"), "img_mlp.2");
  }
  // One decoded layer (1 MiB) and a few KiB of activations; two layers would be 2 MiB.
  EXPECT_LE(peak.peak_above_start_bytes(), layer_bytes + (64 << 10));
  auto ref = [&](const std::string& name) {
    return ViewTensor(reference.Require("double_blocks.0." + name));
  };
  const torch::Tensor expected =
      at::linear(at::gelu(at::linear(x, ref("img_mlp.0.weight"), ref("img_mlp.0.bias")), "tanh"),
                 ref("img_mlp.2.weight"), ref("img_mlp.2.bias"));
  EXPECT_TRUE(torch::equal(y, expected));
}

}  // namespace
}  // namespace streamdit::engine
