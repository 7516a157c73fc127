// CLIP text encoder against the independent float64 NumPy reference
// (tests/reference/clip_encoder_reference.py) on small random weights stored as F32, BF16 and
// F8_E4M3, plus the layout inference on a sparse file with the real clip_l shapes.

#include "engine/text/clip_text_encoder.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "engine/checkpoint/checkpoint_error.h"
#include "engine/checkpoint/safetensors.h"
#include "engine/model/weight_block.h"
#include "engine/tensor/stored_tensor.h"
#include "engine/text/clip_bpe_trainer.h"
#include "engine/text/clip_tokenizer.h"
#include "tests/support/status_testing.h"
#include "tests/unit/engine/clip_test_support.h"

namespace streamdit::engine {
namespace {

using clip_testing::ReadText;
using clip_testing::RunPythonReference;
using clip_testing::ScratchDir;
using clip_testing::SourcePath;

constexpr int64_t kHidden = 256;  // 4 heads of 64
constexpr int64_t kLayers = 2;
constexpr int64_t kIntermediate = 384;
constexpr int64_t kPositions = 77;
const std::string kAllInOnePrefix = "text_encoders.clip_l.transformer.";

ClipTokenizer TinyTokenizer() {
  const ClipBpeFiles files = TrainClipBpe(ReadText(SourcePath("tests/data/clip/corpus.txt")), 100);
  return ClipTokenizer::FromStrings(files.vocab_json, files.merges_txt);
}

// Random CLIP weights, names relative to "text_model.".
std::map<std::string, torch::Tensor> RandomWeights(int64_t vocab, uint64_t seed) {
  torch::manual_seed(seed);
  std::map<std::string, torch::Tensor> w;
  auto normal = [](std::vector<int64_t> shape, double std) { return torch::randn(shape) * std; };
  w["embeddings.token_embedding.weight"] = normal({vocab, kHidden}, 0.5);
  w["embeddings.position_embedding.weight"] = normal({kPositions, kHidden}, 0.2);
  const double linear_std = 1.0 / std::sqrt(static_cast<double>(kHidden));
  for (int64_t i = 0; i < kLayers; ++i) {
    const std::string p = "encoder.layers." + std::to_string(i) + ".";
    for (const char* proj : {"q_proj", "k_proj", "v_proj", "out_proj"}) {
      w[p + "self_attn." + proj + ".weight"] = normal({kHidden, kHidden}, linear_std * 2);
      w[p + "self_attn." + proj + ".bias"] = normal({kHidden}, 0.1);
    }
    for (const char* norm : {"layer_norm1", "layer_norm2"}) {
      w[p + norm + ".weight"] = 1 + normal({kHidden}, 0.2);
      w[p + norm + ".bias"] = normal({kHidden}, 0.1);
    }
    w[p + "mlp.fc1.weight"] = normal({kIntermediate, kHidden}, linear_std);
    w[p + "mlp.fc1.bias"] = normal({kIntermediate}, 0.1);
    w[p + "mlp.fc2.weight"] = normal({kHidden, kIntermediate}, linear_std);
    w[p + "mlp.fc2.bias"] = normal({kHidden}, 0.1);
  }
  w["final_layer_norm.weight"] = 1 + normal({kHidden}, 0.2);
  w["final_layer_norm.bias"] = normal({kHidden}, 0.1);
  return w;
}

// Writes the weights under `prefix` + "text_model." plus the tensors a loader must ignore.
void WriteWeights(const std::string& path, const std::map<std::string, torch::Tensor>& weights,
                  DType storage, const std::string& prefix) {
  SafetensorsWriter writer;
  for (const auto& [name, value] : weights) {
    AddTensor(writer, prefix + "text_model." + name, value, storage);
  }
  AddTensor(writer, prefix + "text_model.embeddings.position_ids",
            torch::arange(kPositions, torch::kLong).unsqueeze(0), DType::kI64);
  AddTensor(writer, prefix + "text_projection.weight", torch::eye(kHidden), storage);
  AddTensor(writer, prefix + "logit_scale", torch::tensor(4.6f), DType::kF32);
  writer.Write(path);
}

torch::Tensor EncodePrompts(const ClipTokenizer& tokenizer) {
  std::string long_prompt;
  for (int i = 0; i < 30; ++i) long_prompt += "a red apple and a green pear, ";
  const std::vector<std::string> prompts = {"A photograph of an astronaut riding a horse", "",
                                            long_prompt};
  std::vector<int64_t> flat;
  for (const std::string& prompt : prompts) {
    const std::vector<int64_t> ids = tokenizer.Encode(prompt);
    flat.insert(flat.end(), ids.begin(), ids.end());
  }
  return torch::tensor(flat, torch::kLong).view({static_cast<int64_t>(prompts.size()), 77});
}

torch::Tensor ReadF64(const std::string& path, const std::string& name) {
  const Checkpoint checkpoint = Checkpoint::Open(path);
  return ViewTensor(checkpoint.Require(name)).clone();
}

struct ReferenceOutput {
  torch::Tensor hidden_states;
  torch::Tensor pooled;
};

ReferenceOutput RunReference(const ScratchDir& dir, const std::string& weights_path,
                             const torch::Tensor& ids, int64_t eos_id, const std::string& prefix) {
  SafetensorsWriter writer;
  AddTensor(writer, "input_ids", ids, DType::kI64);
  writer.Write(dir.File("ids.safetensors"));
  RunPythonReference("clip_encoder_reference.py", weights_path + " " + dir.File("ids.safetensors") +
                                                      " " + dir.File("reference.safetensors") +
                                                      " " + std::to_string(eos_id) + " " +
                                                      (prefix.empty() ? "-" : prefix));
  return {ReadF64(dir.File("reference.safetensors"), "hidden_states"),
          ReadF64(dir.File("reference.safetensors"), "pooled")};
}

double RelativeError(const torch::Tensor& actual, const torch::Tensor& expected) {
  const torch::Tensor a = actual.to(torch::kDouble);
  return (a - expected).abs().max().item<double>() / expected.abs().max().item<double>();
}

struct Case {
  DType storage;
  std::string prefix;
  torch::ScalarType compute;
  double tolerance;
};

void CheckAgainstReference(const Case& c) {
  ScratchDir dir;
  const ClipTokenizer tokenizer = TinyTokenizer();
  const auto weights = RandomWeights(tokenizer.vocab_size(), 1234);
  const std::string path = dir.File("clip.safetensors");
  WriteWeights(path, weights, c.storage, c.prefix);
  const torch::Tensor ids = EncodePrompts(tokenizer);
  const ReferenceOutput reference = RunReference(dir, path, ids, tokenizer.eos_id(), c.prefix);

  const ClipTextEncoder encoder = ClipTextEncoder::Load(Checkpoint::Open(path));
  EXPECT_EQ(encoder.prefix(), c.prefix);
  DirectWeightProvider provider(c.compute, torch::kCPU);
  const ClipTextOutput out = encoder.Forward(ids, tokenizer.eos_id(), provider);
  ASSERT_EQ(out.hidden_states.sizes(), (std::vector<int64_t>{3, 77, kHidden}));
  ASSERT_EQ(out.pooled.sizes(), (std::vector<int64_t>{3, kHidden}));
  EXPECT_EQ(out.hidden_states.scalar_type(), c.compute);
  const double hidden_error = RelativeError(out.hidden_states, reference.hidden_states);
  const double pooled_error = RelativeError(out.pooled, reference.pooled);
  std::cout << "storage " << DTypeName(c.storage) << " compute " << c10::toString(c.compute)
            << ": max|err|/max|ref| hidden " << hidden_error << " pooled " << pooled_error << "\n";
  EXPECT_LE(hidden_error, c.tolerance);
  EXPECT_LE(pooled_error, c.tolerance);
  // The pooled vector is the state at the first EOS, which differs per prompt.
  EXPECT_FALSE(torch::allclose(out.pooled[0], out.pooled[1]));
}

TEST(ClipTextEncoderTest, MatchesReferenceF32) {
  CheckAgainstReference({DType::kF32, "", torch::kFloat, 1e-5});
}

TEST(ClipTextEncoderTest, MatchesReferenceBf16WeightsUnderAllInOnePrefix) {
  CheckAgainstReference({DType::kBF16, kAllInOnePrefix, torch::kFloat, 1e-5});
}

TEST(ClipTextEncoderTest, MatchesReferenceFp8E4M3Weights) {
  CheckAgainstReference({DType::kF8E4M3, "", torch::kFloat, 1e-5});
}

TEST(ClipTextEncoderTest, Bf16ComputeStaysCloseToReference) {
  CheckAgainstReference({DType::kBF16, "", torch::kBFloat16, 5e-2});
}

// Passes every block through to a DirectWeightProvider and records the calls.
class RecordingProvider : public WeightProvider {
 public:
  BlockTensors Acquire(const WeightBlock& block) override {
    calls.push_back("acquire " + block.name);
    return direct_.Acquire(block);
  }
  void Release(const WeightBlock& block) override { calls.push_back("release " + block.name); }
  std::vector<std::string> calls;

 private:
  DirectWeightProvider direct_{torch::kFloat, torch::kCPU};
};

TEST(ClipTextEncoderTest, AcquiresEachBlockInOrderAndReleasesIt) {
  ScratchDir dir;
  const ClipTokenizer tokenizer = TinyTokenizer();
  WriteWeights(dir.File("clip.safetensors"), RandomWeights(tokenizer.vocab_size(), 7), DType::kF32,
               "");
  const ClipTextEncoder encoder =
      ClipTextEncoder::Load(Checkpoint::Open(dir.File("clip.safetensors")));
  ASSERT_EQ(encoder.blocks().size(), 4u);
  RecordingProvider provider;
  encoder.Forward(EncodePrompts(tokenizer), tokenizer.eos_id(), provider);
  EXPECT_EQ(provider.calls,
            (std::vector<std::string>{"acquire embeddings", "release embeddings",
                                      "acquire encoder.layers.0", "release encoder.layers.0",
                                      "acquire encoder.layers.1", "release encoder.layers.1",
                                      "acquire final_layer_norm", "release final_layer_norm"}));
}

TEST(ClipTextEncoderTest, CausalMaskHidesLaterTokens) {
  ScratchDir dir;
  const ClipTokenizer tokenizer = TinyTokenizer();
  WriteWeights(dir.File("clip.safetensors"), RandomWeights(tokenizer.vocab_size(), 9), DType::kF32,
               "");
  const ClipTextEncoder encoder =
      ClipTextEncoder::Load(Checkpoint::Open(dir.File("clip.safetensors")));
  DirectWeightProvider provider(torch::kFloat, torch::kCPU);
  const torch::Tensor a = torch::tensor(tokenizer.Encode("a cat on a mat")).unsqueeze(0);
  const torch::Tensor b = torch::tensor(tokenizer.Encode("a cat on the moon")).unsqueeze(0);
  int64_t common = 0;
  while (a[0][common].item<int64_t>() == b[0][common].item<int64_t>()) ++common;
  ASSERT_GE(common, 3);
  const torch::Tensor ha = encoder.Forward(a, tokenizer.eos_id(), provider).hidden_states;
  const torch::Tensor hb = encoder.Forward(b, tokenizer.eos_id(), provider).hidden_states;
  EXPECT_TRUE(torch::equal(ha.slice(1, 0, common), hb.slice(1, 0, common)));
  EXPECT_FALSE(torch::allclose(ha.slice(1, common), hb.slice(1, common)));
}

// transformers 5 saves CLIPTextModel without the "text_model." level ("embeddings.…",
// "encoder.…", "final_layer_norm.…" at the top of the file): the same weights, the same output.
TEST(ClipTextEncoderTest, WeightsSavedWithoutTheTextModelLevelEncodeTheSame) {
  ScratchDir dir;
  const ClipTokenizer tokenizer = TinyTokenizer();
  const auto weights = RandomWeights(tokenizer.vocab_size(), 21);
  WriteWeights(dir.File("with.safetensors"), weights, DType::kF32, "");
  SafetensorsWriter writer;
  for (const auto& [name, value] : weights) AddTensor(writer, name, value, DType::kF32);
  writer.Write(dir.File("without.safetensors"));

  const ClipTextEncoder with =
      ClipTextEncoder::Load(Checkpoint::Open(dir.File("with.safetensors")));
  const ClipTextEncoder without =
      ClipTextEncoder::Load(Checkpoint::Open(dir.File("without.safetensors")));
  EXPECT_EQ(without.prefix(), "");
  EXPECT_EQ(without.config().layers, with.config().layers);
  DirectWeightProvider provider(torch::kFloat, torch::kCPU);
  const torch::Tensor ids = EncodePrompts(tokenizer);
  const ClipTextOutput a = with.Forward(ids, tokenizer.eos_id(), provider);
  const ClipTextOutput b = without.Forward(ids, tokenizer.eos_id(), provider);
  EXPECT_TRUE(torch::equal(a.hidden_states, b.hidden_states));
  EXPECT_TRUE(torch::equal(a.pooled, b.pooled));
}

TEST(ClipTextEncoderTest, BadInputIdsAreInvalidArguments) {
  ScratchDir dir;
  const ClipTokenizer tokenizer = TinyTokenizer();
  WriteWeights(dir.File("clip.safetensors"), RandomWeights(tokenizer.vocab_size(), 3), DType::kF32,
               "");
  const ClipTextEncoder encoder =
      ClipTextEncoder::Load(Checkpoint::Open(dir.File("clip.safetensors")));
  DirectWeightProvider provider(torch::kFloat, torch::kCPU);
  const int64_t eos = tokenizer.eos_id();
  EXPECT_INVALID_ARGUMENT(
      encoder.Forward(torch::zeros({1, 5}, torch::kLong), eos, provider));  // no EOS
  EXPECT_INVALID_ARGUMENT(encoder.Forward(torch::full({1, 78}, eos, torch::kLong), eos,
                                          provider));  // longer than the position table
  EXPECT_INVALID_ARGUMENT(encoder.Forward(torch::full({1, 5}, tokenizer.vocab_size(), torch::kLong),
                                          eos, provider));  // id out of range
  EXPECT_INVALID_ARGUMENT(
      encoder.Forward(torch::full({5}, eos, torch::kLong), eos, provider));  // not [B, L]
  // A shorter sequence is fine: positions are taken from the start of the table.
  const ClipTextOutput out = encoder.Forward(torch::full({2, 4}, eos, torch::kLong), eos, provider);
  EXPECT_EQ(out.hidden_states.sizes(), (std::vector<int64_t>{2, 4, kHidden}));
}

// The real clip_l.safetensors layout (flux-spec.md §5.2) as F16, with the data left as a hole.
std::vector<TensorInfo> FullClipLayout(const std::string& prefix) {
  std::vector<TensorInfo> tensors;
  uint64_t offset = 0;
  auto add = [&](const std::string& name, std::vector<int64_t> shape, DType dtype = DType::kF16) {
    TensorInfo info;
    info.name = prefix + name;
    info.dtype = dtype;
    info.shape = shape;
    int64_t numel = 1;
    for (int64_t d : shape) numel *= d;
    info.begin = offset;
    info.end = offset + static_cast<uint64_t>(numel) * DTypeSize(dtype);
    offset = info.end;
    tensors.push_back(info);
  };
  add("text_model.embeddings.token_embedding.weight", {49408, 768});
  add("text_model.embeddings.position_embedding.weight", {77, 768});
  add("text_model.embeddings.position_ids", {1, 77}, DType::kI64);
  for (int i = 0; i < 12; ++i) {
    const std::string p = "text_model.encoder.layers." + std::to_string(i) + ".";
    for (const char* proj : {"q_proj", "k_proj", "v_proj", "out_proj"}) {
      add(p + "self_attn." + proj + ".weight", {768, 768});
      add(p + "self_attn." + proj + ".bias", {768});
    }
    for (const char* norm : {"layer_norm1", "layer_norm2"}) {
      add(p + norm + ".weight", {768});
      add(p + norm + ".bias", {768});
    }
    add(p + "mlp.fc1.weight", {3072, 768});
    add(p + "mlp.fc1.bias", {3072});
    add(p + "mlp.fc2.weight", {768, 3072});
    add(p + "mlp.fc2.bias", {768});
  }
  add("text_model.final_layer_norm.weight", {768});
  add("text_model.final_layer_norm.bias", {768});
  add("text_projection.weight", {768, 768});
  add("logit_scale", {});
  return tensors;
}

TEST(ClipTextEncoderTest, InfersClipLConfigurationFromFullSizeSparseFile) {
  ScratchDir dir;
  for (const std::string& prefix : {std::string(), kAllInOnePrefix}) {
    SCOPED_TRACE("prefix '" + prefix + "'");
    const std::string path = dir.File("clip_l.safetensors");
    SafetensorsWriter::WriteSparse(path, FullClipLayout(prefix), {});
    const ClipTextEncoder encoder = ClipTextEncoder::Load(Checkpoint::Open(path));
    const ClipTextConfig& config = encoder.config();
    EXPECT_EQ(encoder.prefix(), prefix);
    EXPECT_EQ(config.hidden, 768);
    EXPECT_EQ(config.layers, 12);
    EXPECT_EQ(config.heads, 12);
    EXPECT_EQ(config.intermediate, 3072);
    EXPECT_EQ(config.vocab, 49408);
    EXPECT_EQ(config.max_positions, 77);
    ASSERT_EQ(encoder.blocks().size(), 14u);
    EXPECT_EQ(encoder.blocks()[0].name, "embeddings");
    EXPECT_EQ(encoder.blocks()[12].name, "encoder.layers.11");
    EXPECT_EQ(encoder.blocks()[13].name, "final_layer_norm");
    int64_t parameters = 0;
    for (const WeightBlock& block : encoder.blocks()) parameters += block.nbytes() / 2;
    EXPECT_EQ(parameters, 123060480);  // flux-spec.md §5.2, without the projection
  }
}

CheckpointError::Code LoadErrorCode(const std::vector<TensorInfo>& tensors, const ScratchDir& dir) {
  const std::string path = dir.File("broken.safetensors");
  SafetensorsWriter::WriteSparse(path, tensors, {});
  try {
    ClipTextEncoder::Load(Checkpoint::Open(path));
  } catch (const CheckpointError& error) {
    return error.code();
  }
  ADD_FAILURE() << "Load accepted a broken layout";
  return CheckpointError::Code::kIo;
}

std::vector<TensorInfo> Without(std::vector<TensorInfo> tensors, const std::string& name) {
  tensors.erase(std::remove_if(tensors.begin(), tensors.end(),
                               [&](const TensorInfo& info) { return info.name == name; }),
                tensors.end());
  return tensors;
}

TEST(ClipTextEncoderTest, BrokenLayoutsAreCheckpointErrors) {
  ScratchDir dir;
  const std::vector<TensorInfo> full = FullClipLayout("");
  EXPECT_EQ(LoadErrorCode(Without(full, "text_model.encoder.layers.4.mlp.fc2.bias"), dir),
            CheckpointError::Code::kMissingTensor);
  EXPECT_EQ(LoadErrorCode(Without(full, "text_model.final_layer_norm.weight"), dir),
            CheckpointError::Code::kMissingTensor);
  EXPECT_EQ(LoadErrorCode(Without(full, "text_model.embeddings.token_embedding.weight"), dir),
            CheckpointError::Code::kUnrecognizedLayout);
  std::vector<TensorInfo> bad_shape = FullClipLayout("");
  for (TensorInfo& info : bad_shape) {
    if (info.name == "text_model.encoder.layers.2.self_attn.k_proj.weight") {
      info.shape = {768, 384};
      info.end = info.begin + 768 * 384 * 2;
    }
  }
  EXPECT_EQ(LoadErrorCode(bad_shape, dir), CheckpointError::Code::kBadShape);
}

}  // namespace
}  // namespace streamdit::engine
