// The full-size T5-XXL layout (flux-spec.md §5.1 key table) from header-only sparse files: the
// encoder recognises the real files' names and infers every dimension without touching tensor
// bytes.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "engine/checkpoint/checkpoint.h"
#include "engine/checkpoint/safetensors.h"
#include "engine/text/t5_encoder.h"
#include "tests/support/scratch_dir.h"

namespace streamdit::engine {
namespace {

using test_support::ScratchDir;

constexpr int64_t kVocab = 32128;
constexpr int64_t kDModel = 4096;
constexpr int64_t kDFf = 10240;
constexpr int64_t kLayers = 24;
// flux-spec.md §8.1: one embedding copy plus 24 blocks, the bias table and the final norm.
constexpr int64_t kParams = 4'762'310'656;
constexpr int64_t kBlockParams = 192'946'176;
constexpr int64_t kEmbeddingParams = 131'596'288;

enum class Embedding { kShared, kEmbedTokens, kBoth };

// Header entries for t5xxl in `dtype`, laid out back to back.
std::vector<TensorInfo> T5XxlTensors(DType dtype, Embedding embedding, const std::string& prefix) {
  std::vector<TensorInfo> tensors;
  uint64_t offset = 0;
  const auto add = [&](const std::string& name, std::vector<int64_t> shape) {
    TensorInfo info;
    info.name = prefix + name;
    info.dtype = dtype;
    info.shape = std::move(shape);
    info.begin = offset;
    info.end = offset + static_cast<uint64_t>(info.numel()) * DTypeSize(dtype);
    offset = info.end;
    tensors.push_back(std::move(info));
  };
  if (embedding != Embedding::kEmbedTokens) add("shared.weight", {kVocab, kDModel});
  if (embedding != Embedding::kShared) add("encoder.embed_tokens.weight", {kVocab, kDModel});
  for (int64_t i = 0; i < kLayers; ++i) {
    const std::string p = "encoder.block." + std::to_string(i) + ".layer.";
    for (const char* projection : {"q", "k", "v", "o"}) {
      add(p + "0.SelfAttention." + projection + ".weight", {kDModel, kDModel});
    }
    if (i == 0) add(p + "0.SelfAttention.relative_attention_bias.weight", {32, 64});
    add(p + "0.layer_norm.weight", {kDModel});
    add(p + "1.DenseReluDense.wi_0.weight", {kDFf, kDModel});
    add(p + "1.DenseReluDense.wi_1.weight", {kDFf, kDModel});
    add(p + "1.DenseReluDense.wo.weight", {kDModel, kDFf});
    add(p + "1.layer_norm.weight", {kDModel});
  }
  add("encoder.final_layer_norm.weight", {kDModel});
  return tensors;
}

struct LayoutCase {
  const char* label;
  DType dtype;
  Embedding embedding;
  const char* prefix;
};

class T5XxlLayoutTest : public ::testing::TestWithParam<LayoutCase> {};

TEST_P(T5XxlLayoutTest, InfersDimensionsFromHeaders) {
  const LayoutCase& c = GetParam();
  ScratchDir scratch;
  const std::string path = scratch.File("t5xxl.safetensors");
  SafetensorsWriter::WriteSparse(path, T5XxlTensors(c.dtype, c.embedding, c.prefix), {});

  const T5Encoder encoder = T5Encoder::Load(Checkpoint::Open(path));
  EXPECT_EQ(encoder.prefix(), c.prefix);
  const T5EncoderConfig& config = encoder.config();
  EXPECT_EQ(config.d_model, 4096);
  EXPECT_EQ(config.num_heads, 64);
  EXPECT_EQ(config.d_kv, 64);
  EXPECT_EQ(config.d_ff, 10240);
  EXPECT_EQ(config.num_layers, 24);
  EXPECT_EQ(config.vocab_size, 32128);
  EXPECT_EQ(config.num_buckets, 32);

  const auto& blocks = encoder.blocks();
  ASSERT_EQ(blocks.size(), 26u);
  EXPECT_EQ(blocks.front().name, "embedding");
  EXPECT_EQ(blocks[1].name, "encoder.block.0");
  EXPECT_EQ(blocks[24].name, "encoder.block.23");
  EXPECT_EQ(blocks.back().name, "final_layer_norm");

  // Bytes per block follow the spec's parameter counts: one embedding copy even when the file
  // carries both, the bias table only in block 0.
  const auto element = static_cast<int64_t>(DTypeSize(c.dtype));
  EXPECT_EQ(blocks.front().nbytes(), kEmbeddingParams * element);
  EXPECT_EQ(blocks[1].nbytes(), (kBlockParams + 32 * 64) * element);
  EXPECT_EQ(blocks[2].nbytes(), kBlockParams * element);
  EXPECT_EQ(blocks.back().nbytes(), kDModel * element);
  int64_t total = 0;
  for (const auto& block : blocks) total += block.nbytes();
  EXPECT_EQ(total, kParams * element);
}

INSTANTIATE_TEST_SUITE_P(
    T5Xxl, T5XxlLayoutTest,
    ::testing::Values(LayoutCase{"Fp16BothEmbeddings", DType::kF16, Embedding::kBoth, ""},
                      LayoutCase{"Bf16Shared", DType::kBF16, Embedding::kShared, ""},
                      LayoutCase{"Fp8EmbedTokensAllInOne", DType::kF8E4M3, Embedding::kEmbedTokens,
                                 "text_encoders.t5xxl.transformer."},
                      LayoutCase{"Fp8SharedAllInOne", DType::kF8E4M3, Embedding::kShared,
                                 "text_encoders.t5xxl.transformer."}),
    [](const ::testing::TestParamInfo<LayoutCase>& info) { return info.param.label; });

}  // namespace
}  // namespace streamdit::engine
