// T5 encoder against the independent float64 NumPy reference (tests/reference/
// t5_encoder_reference.py) on small random weights: every storage dtype, both embedding names and
// the all-in-one prefix; plus the relative-position buckets, the provider protocol and load errors.

#include "engine/text/t5_encoder.h"

#include <gtest/gtest.h>
#include <torch/types.h>

#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <sstream>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "engine/checkpoint/checkpoint.h"
#include "engine/checkpoint/checkpoint_error.h"
#include "engine/checkpoint/safetensors.h"
#include "engine/model/weight_block.h"
#include "engine/tensor/stored_tensor.h"
#include "tests/support/python_reference.h"
#include "tests/support/scratch_dir.h"
#include "tests/support/status_testing.h"

namespace streamdit::engine {
namespace {

using test_support::RunPythonReference;
using test_support::ScratchDir;
using test_support::ShellQuote;

// Small but shaped like T5: inner dim (heads * d_kv = 32) differs from d_model as T5 allows.
constexpr int64_t kVocab = 100;
constexpr int64_t kDModel = 64;
constexpr int64_t kHeads = 2;
constexpr int64_t kDKv = 16;
constexpr int64_t kDFf = 96;
constexpr int64_t kLayers = 2;
constexpr int64_t kInner = kHeads * kDKv;
const std::string kAllInOnePrefix = "text_encoders.t5xxl.transformer.";

enum class Embedding { kShared, kEmbedTokens, kBoth };

// HF T5EncoderModel names (without prefix or embedding) with random values: projections scaled by
// 1/sqrt(fan_in) so that unscaled attention scores stay O(1..10), norms near 1.
std::map<std::string, torch::Tensor> RandomWeights(uint64_t seed) {
  torch::manual_seed(seed);
  const auto linear = [](int64_t out, int64_t in) {
    return torch::randn({out, in}, torch::kDouble) / std::sqrt(static_cast<double>(in));
  };
  const auto norm = [] { return 1.0 + 0.2 * torch::randn({kDModel}, torch::kDouble); };
  std::map<std::string, torch::Tensor> w;
  w["embedding"] = torch::randn({kVocab, kDModel}, torch::kDouble);
  for (int64_t i = 0; i < kLayers; ++i) {
    const std::string p = "encoder.block." + std::to_string(i) + ".layer.";
    w[p + "0.layer_norm.weight"] = norm();
    for (const char* projection : {"q", "k", "v"}) {
      w[p + "0.SelfAttention." + projection + ".weight"] = linear(kInner, kDModel);
    }
    w[p + "0.SelfAttention.o.weight"] = linear(kDModel, kInner);
    if (i == 0) {
      w[p + "0.SelfAttention.relative_attention_bias.weight"] =
          torch::randn({32, kHeads}, torch::kDouble);
    }
    w[p + "1.layer_norm.weight"] = norm();
    w[p + "1.DenseReluDense.wi_0.weight"] = linear(kDFf, kDModel);
    w[p + "1.DenseReluDense.wi_1.weight"] = linear(kDFf, kDModel);
    w[p + "1.DenseReluDense.wo.weight"] = linear(kDModel, kDFf);
  }
  w["encoder.final_layer_norm.weight"] = norm();
  return w;
}

void WriteCheckpoint(const std::string& path, const std::map<std::string, torch::Tensor>& weights,
                     DType storage, Embedding embedding, const std::string& prefix) {
  SafetensorsWriter writer;
  for (const auto& [name, value] : weights) {
    if (name != "embedding") {
      AddTensor(writer, prefix + name, value, storage);
      continue;
    }
    if (embedding != Embedding::kEmbedTokens) {
      AddTensor(writer, prefix + "shared.weight", value, storage);
    }
    if (embedding != Embedding::kShared) {
      AddTensor(writer, prefix + "encoder.embed_tokens.weight", value, storage);
    }
  }
  writer.Write(path);
}

torch::Tensor RandomIds(int64_t batch, int64_t length, uint64_t seed) {
  torch::manual_seed(seed);
  return torch::randint(0, kVocab, {batch, length}, torch::kLong);
}

// Runs the NumPy reference on the checkpoint file and returns its float64 hidden state.
torch::Tensor ReferenceHidden(const ScratchDir& scratch, const std::string& weights_path,
                              const torch::Tensor& ids, const std::string& prefix) {
  const std::string ids_path = scratch.File("ids.safetensors");
  const std::string out_path = scratch.File("reference.safetensors");
  SafetensorsWriter writer;
  const torch::Tensor contiguous = ids.contiguous();
  writer.Add("ids", DType::kI64, contiguous.sizes().vec(), contiguous.data_ptr(),
             static_cast<std::size_t>(contiguous.numel()) * sizeof(int64_t));
  writer.Write(ids_path);
  std::string args = "forward " + ShellQuote(weights_path) + " " + ShellQuote(ids_path) + " " +
                     ShellQuote(out_path);
  if (!prefix.empty()) args += " --prefix " + ShellQuote(prefix);
  RunPythonReference("t5_encoder_reference.py", args);
  const Checkpoint out = Checkpoint::Open(out_path);
  return ViewTensor(out.Require("hidden")).clone();
}

// max |actual - reference| / max |reference|
double RelativeError(const torch::Tensor& actual, const torch::Tensor& reference) {
  const auto a = actual.to(torch::kDouble);
  return (a - reference).abs().max().item<double>() / reference.abs().max().item<double>();
}

std::string DTypeLabel(DType dtype) {
  switch (dtype) {
    case DType::kF32:
      return "F32";
    case DType::kBF16:
      return "BF16";
    case DType::kF8E4M3:
      return "F8E4M3";
    default:
      return "Other";
  }
}

TEST(T5RelativePositionBucket, MatchesSpecExamples) {
  // flux-spec.md §5.1 (SDC t5.hpp, HF _relative_position_bucket).
  const std::vector<std::pair<int64_t, int64_t>> examples = {{-200, 15}, {-8, 8}, {-1, 1},  {0, 0},
                                                             {1, 17},    {8, 24}, {127, 31}};
  for (const auto& [relative, bucket] : examples) {
    EXPECT_EQ(RelativePositionBucket(relative), bucket) << "relative position " << relative;
  }
}

TEST(T5RelativePositionBucket, MatchesReferenceOverWholeRange) {
  constexpr int64_t kRange = 300;
  std::istringstream reference(
      RunPythonReference("t5_encoder_reference.py", "buckets " + std::to_string(kRange)));
  for (int64_t relative = -kRange; relative <= kRange; ++relative) {
    int64_t expected = -1;
    ASSERT_TRUE(reference >> expected) << "reference output ended at " << relative;
    EXPECT_EQ(RelativePositionBucket(relative), expected) << "relative position " << relative;
  }
}

TEST(T5RelativePositionBucket, MatrixIsKeyMinusQuery) {
  const torch::Tensor buckets = RelativePositionBuckets(5, 7);
  ASSERT_EQ(buckets.sizes().vec(), (std::vector<int64_t>{5, 7}));
  for (int64_t q = 0; q < 5; ++q) {
    for (int64_t k = 0; k < 7; ++k) {
      EXPECT_EQ(buckets[q][k].item<int64_t>(), RelativePositionBucket(k - q));
    }
  }
}

using ForwardCase = std::tuple<DType, Embedding, bool /*all-in-one prefix*/>;

class T5EncoderReferenceTest : public ::testing::TestWithParam<ForwardCase> {};

TEST_P(T5EncoderReferenceTest, MatchesFloat64ReferenceInF32) {
  const auto [storage, embedding, with_prefix] = GetParam();
  const std::string prefix = with_prefix ? kAllInOnePrefix : "";
  ScratchDir scratch;
  const std::string path = scratch.File("t5.safetensors");
  WriteCheckpoint(path, RandomWeights(7), storage, embedding, prefix);

  const T5Encoder encoder = T5Encoder::Load(Checkpoint::Open(path));
  EXPECT_EQ(encoder.prefix(), prefix);
  const T5EncoderConfig& config = encoder.config();
  EXPECT_EQ(config.vocab_size, kVocab);
  EXPECT_EQ(config.d_model, kDModel);
  EXPECT_EQ(config.num_heads, kHeads);
  EXPECT_EQ(config.d_kv, kDKv);
  EXPECT_EQ(config.d_ff, kDFf);
  EXPECT_EQ(config.num_layers, kLayers);
  EXPECT_EQ(config.num_buckets, 32);

  // 130 tokens: relative distances past max_distance (128) reach the capped buckets.
  const torch::Tensor ids = RandomIds(2, 130, 11);
  DirectWeightProvider provider(torch::kFloat, torch::kCPU);
  const torch::Tensor hidden = encoder.Forward(ids, provider);
  ASSERT_EQ(hidden.scalar_type(), torch::kFloat);
  ASSERT_EQ(hidden.sizes().vec(), (std::vector<int64_t>{2, 130, kDModel}));

  const torch::Tensor reference = ReferenceHidden(scratch, path, ids, prefix);
  const double error = RelativeError(hidden, reference);
  RecordProperty("relative_error", std::to_string(error));
  EXPECT_LE(error, 1e-5);
}

std::string ForwardCaseName(const ::testing::TestParamInfo<ForwardCase>& info) {
  const char* embedding_names[] = {"Shared", "EmbedTokens", "Both"};
  return DTypeLabel(std::get<0>(info.param)) +
         embedding_names[static_cast<int>(std::get<1>(info.param))] +
         (std::get<2>(info.param) ? "AllInOne" : "Bare");
}

INSTANTIATE_TEST_SUITE_P(
    StorageEmbeddingPrefix, T5EncoderReferenceTest,
    ::testing::Combine(::testing::Values(DType::kF32, DType::kBF16, DType::kF8E4M3),
                       ::testing::Values(Embedding::kShared, Embedding::kEmbedTokens,
                                         Embedding::kBoth),
                       ::testing::Bool()),
    ForwardCaseName);

class T5EncoderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = scratch_.File("t5.safetensors");
    WriteCheckpoint(path_, RandomWeights(3), DType::kF32, Embedding::kShared, "");
  }

  ScratchDir scratch_;
  std::string path_;
};

TEST_F(T5EncoderTest, Bf16ComputeStaysCloseToReference) {
  const T5Encoder encoder = T5Encoder::Load(Checkpoint::Open(path_));
  const torch::Tensor ids = RandomIds(1, 40, 5);
  DirectWeightProvider provider(torch::kBFloat16, torch::kCPU);
  const torch::Tensor hidden = encoder.Forward(ids, provider);
  ASSERT_EQ(hidden.scalar_type(), torch::kBFloat16);
  const double error = RelativeError(hidden, ReferenceHidden(scratch_, path_, ids, ""));
  RecordProperty("relative_error", std::to_string(error));
  // bf16 keeps 8 significant bits, and T5's unscaled attention scores are O(10): rounding them
  // shifts softmax weights by several percent (measured 0.05 here; BFL's bf16 T5 does the same).
  // A wrong formula (scaling, norm, bias) is off by O(1).
  EXPECT_LE(error, 0.1);
}

TEST_F(T5EncoderTest, QueryChunkingDoesNotChangeTheResult) {
  const T5Encoder encoder = T5Encoder::Load(Checkpoint::Open(path_));
  const torch::Tensor ids = RandomIds(2, 23, 9);
  DirectWeightProvider provider(torch::kFloat, torch::kCPU);
  const torch::Tensor reference = ReferenceHidden(scratch_, path_, ids, "");
  const torch::Tensor whole = encoder.Forward(ids, provider);
  for (int64_t chunk : {1, 7, 22}) {
    // Smaller matmuls round differently, so chunked results are held to the reference.
    EXPECT_LE(RelativeError(encoder.Forward(ids, provider, chunk), reference), 1e-5)
        << "chunk " << chunk;
  }
  // A chunk covering the sequence is the unchunked computation.
  EXPECT_TRUE(torch::equal(encoder.Forward(ids, provider, 23), whole));
  EXPECT_TRUE(torch::equal(encoder.Forward(ids, provider, 100), whole));
  EXPECT_LE(RelativeError(whole, reference), 1e-5);
  EXPECT_INVALID_ARGUMENT(encoder.Forward(ids, provider, -1));
}

// Hands out fresh copies like DirectWeightProvider, checks that blocks are acquired one at a time
// in model order and released, and overwrites a block's tensors with NaN at release: an encoder
// that kept using released weights (e.g. the block-0 bias table) would produce NaN.
class PoisoningProvider : public WeightProvider {
 public:
  BlockTensors Acquire(const WeightBlock& block) override {
    EXPECT_TRUE(held_.empty()) << "acquired " << block.name << " while holding another block";
    events_.push_back("+" + block.name);
    std::unordered_map<std::string, torch::Tensor> tensors;
    for (const auto& [name, stored] : block.tensors) {
      torch::Tensor value = Materialize(stored, torch::kFloat, torch::kCPU).clone();
      held_.push_back(value);
      tensors.emplace(name, value);
    }
    return BlockTensors(std::move(tensors));
  }
  void Release(const WeightBlock& block) override {
    events_.push_back("-" + block.name);
    for (auto& tensor : held_) tensor.fill_(std::numeric_limits<float>::quiet_NaN());
    held_.clear();
  }
  const std::vector<std::string>& events() const { return events_; }

 private:
  std::vector<torch::Tensor> held_;
  std::vector<std::string> events_;
};

TEST_F(T5EncoderTest, AcquiresAndReleasesEachBlockInOrderAndNeverUsesReleasedWeights) {
  const T5Encoder encoder = T5Encoder::Load(Checkpoint::Open(path_));
  std::vector<std::string> names;
  for (const auto& block : encoder.blocks()) names.push_back(block.name);
  EXPECT_EQ(names, (std::vector<std::string>{"embedding", "encoder.block.0", "encoder.block.1",
                                             "final_layer_norm"}));

  const torch::Tensor ids = RandomIds(1, 17, 2);
  PoisoningProvider poisoning;
  const torch::Tensor poisoned = encoder.Forward(ids, poisoning);
  std::vector<std::string> expected;
  for (const auto& name : names) {
    expected.push_back("+" + name);
    expected.push_back("-" + name);
  }
  EXPECT_EQ(poisoning.events(), expected);
  EXPECT_TRUE(torch::isfinite(poisoned).all().item<bool>());
  DirectWeightProvider direct(torch::kFloat, torch::kCPU);
  EXPECT_TRUE(torch::equal(poisoned, encoder.Forward(ids, direct)));
}

TEST_F(T5EncoderTest, RejectsBadIds) {
  const T5Encoder encoder = T5Encoder::Load(Checkpoint::Open(path_));
  DirectWeightProvider provider(torch::kFloat, torch::kCPU);
  const auto expect_invalid = [&](const torch::Tensor& ids) {
    try {
      encoder.Forward(ids, provider);
      ADD_FAILURE() << "accepted ids " << ids;
    } catch (const StatusError& error) {
      EXPECT_EQ(error.code(), absl::StatusCode::kInvalidArgument) << error.what();
      EXPECT_NE(std::string(error.what()).find("ids"), std::string::npos) << error.what();
    }
  };
  expect_invalid(torch::full({1, 4}, kVocab, torch::kLong));
  expect_invalid(torch::full({1, 4}, -1, torch::kLong));
  expect_invalid(torch::zeros({1, 4}, torch::kInt));
  expect_invalid(torch::zeros({4}, torch::kLong));
  expect_invalid(torch::zeros({1, 0}, torch::kLong));
  // The boundary values themselves are fine.
  EXPECT_NO_THROW(encoder.Forward(torch::tensor({{int64_t{0}, kVocab - 1}}), provider));
}

// Loads a checkpoint made from the random weights after `edit`, expecting CheckpointError `code`
// whose message names `tensor_fragment`.
void ExpectLoadError(const std::function<void(std::map<std::string, torch::Tensor>&)>& edit,
                     CheckpointError::Code code, const std::string& tensor_fragment,
                     const std::string& prefix = "") {
  ScratchDir scratch;
  auto weights = RandomWeights(1);
  edit(weights);
  const std::string path = scratch.File("t5.safetensors");
  WriteCheckpoint(path, weights, DType::kF32, Embedding::kShared, prefix);
  try {
    T5Encoder::Load(Checkpoint::Open(path));
    ADD_FAILURE() << "loaded a checkpoint that should fail with "
                  << CheckpointError::CodeName(code);
  } catch (const CheckpointError& error) {
    EXPECT_EQ(error.code(), code) << error.what();
    EXPECT_NE(std::string(error.what()).find(path), std::string::npos) << error.what();
    EXPECT_NE(std::string(error.what()).find(tensor_fragment), std::string::npos) << error.what();
  }
}

TEST(T5EncoderLoadErrors, MissingEmbedding) {
  ExpectLoadError([](auto& w) { w.erase("embedding"); }, CheckpointError::Code::kMissingTensor,
                  "shared.weight");
}

TEST(T5EncoderLoadErrors, MissingTensorInALaterBlock) {
  ExpectLoadError([](auto& w) { w.erase("encoder.block.1.layer.1.DenseReluDense.wo.weight"); },
                  CheckpointError::Code::kMissingTensor,
                  "encoder.block.1.layer.1.DenseReluDense.wo.weight");
}

TEST(T5EncoderLoadErrors, InconsistentShape) {
  ExpectLoadError(
      [](auto& w) {
        w["encoder.block.1.layer.0.SelfAttention.k.weight"] = torch::zeros({kInner + 2, kDModel});
      },
      CheckpointError::Code::kBadShape, "encoder.block.1.layer.0.SelfAttention.k.weight");
}

TEST(T5EncoderLoadErrors, UngatedT5V10FeedForward) {
  ExpectLoadError(
      [](auto& w) {
        for (int64_t i = 0; i < kLayers; ++i) {
          const std::string p = "encoder.block." + std::to_string(i) + ".layer.1.DenseReluDense.";
          w[p + "wi.weight"] = w[p + "wi_0.weight"];
          w.erase(p + "wi_0.weight");
          w.erase(p + "wi_1.weight");
        }
      },
      CheckpointError::Code::kUnrecognizedLayout, "wi_0");
}

TEST(T5EncoderLoadErrors, HeadsNotDividingQ) {
  ExpectLoadError(
      [](auto& w) {
        w["encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"] =
            torch::zeros({32, 3});
      },
      CheckpointError::Code::kUnrecognizedLayout, "SelfAttention.q.weight");
}

TEST(T5EncoderLoadErrors, NoT5UnderAKnownPrefix) {
  ExpectLoadError([](auto&) {}, CheckpointError::Code::kUnrecognizedLayout,
                  "encoder.block.0.layer.0.SelfAttention.q.weight", "text_encoders.clip_l.");
}

}  // namespace
}  // namespace streamdit::engine
