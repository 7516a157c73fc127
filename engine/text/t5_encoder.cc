#include "engine/text/t5_encoder.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <optional>
#include <utility>

#include "engine/checkpoint/checkpoint_error.h"
#include "engine/checkpoint/shape_string.h"
#include "engine/model/scoped_block.h"
#include "engine/status/status_error.h"
#include "engine/text/t5_gguf_names.h"

namespace streamdit::engine {

namespace {

constexpr char kEmbeddingBlock[] = "embedding";
constexpr char kFinalNormBlock[] = "final_layer_norm";
constexpr char kQ[] = "layer.0.SelfAttention.q.weight";
constexpr char kK[] = "layer.0.SelfAttention.k.weight";
constexpr char kV[] = "layer.0.SelfAttention.v.weight";
constexpr char kO[] = "layer.0.SelfAttention.o.weight";
constexpr char kRelativeBias[] = "layer.0.SelfAttention.relative_attention_bias.weight";
constexpr char kAttentionNorm[] = "layer.0.layer_norm.weight";
constexpr char kGate[] = "layer.1.DenseReluDense.wi_0.weight";
constexpr char kUp[] = "layer.1.DenseReluDense.wi_1.weight";
constexpr char kDown[] = "layer.1.DenseReluDense.wo.weight";
constexpr char kFeedForwardNorm[] = "layer.1.layer_norm.weight";

// Attention scores are materialized for a chunk of queries at a time: at most this many elements
// (16 MB in fp32) for FLUX's 512 tokens and 64 heads, i.e. 128 queries per chunk.
constexpr int64_t kScoreElementsPerChunk = int64_t{1} << 22;

// The linear layer a weight belongs to ("layer.0.SelfAttention.q" of ".q.weight"): what
// ScopedBlock::Linear takes, so that the job's LoRAs on it apply.
std::string Module(const char* weight) {
  const std::string name = weight;
  return name.substr(0, name.size() - std::string(".weight").size());
}

std::string BlockPrefix(int64_t index) { return "encoder.block." + std::to_string(index) + "."; }

// Statistics of norms and softmax in fp32 even for bf16 compute (fp64 stays fp64).
torch::ScalarType StatisticsType(const torch::Tensor& x) {
  return x.scalar_type() == torch::kDouble ? torch::kDouble : torch::kFloat;
}

// T5LayerNorm: x * rsqrt(mean(x^2) + eps), no mean subtraction and no bias; the normalized value
// is cast to the weight's dtype before the scale, as in HF transformers.
torch::Tensor RmsNorm(const torch::Tensor& x, const torch::Tensor& weight, double eps) {
  const auto wide = x.to(StatisticsType(x));
  const auto variance = wide.pow(2).mean(-1, /*keepdim=*/true);
  return weight * (wide * at::rsqrt(variance + eps)).to(weight.scalar_type());
}

// Self-attention without 1/sqrt(d_kv) scaling; `bias_table` [num_buckets, heads] gathered
// through `buckets` [L, L] gives the additive position bias.
torch::Tensor SelfAttention(const torch::Tensor& x, const ScopedBlock& w,
                            const torch::Tensor& bias_table, const torch::Tensor& buckets,
                            const T5EncoderConfig& config, int64_t query_chunk) {
  const int64_t batch = x.size(0);
  const int64_t length = x.size(1);
  const auto heads = [&](const torch::Tensor& projected) {
    return projected.view({batch, length, config.num_heads, config.d_kv}).transpose(1, 2);
  };
  const auto q = heads(w.Linear(x, Module(kQ)));
  const auto k_transposed = heads(w.Linear(x, Module(kK))).transpose(-1, -2);
  const auto v = heads(w.Linear(x, Module(kV)));

  std::vector<torch::Tensor> outputs;
  for (int64_t start = 0; start < length; start += query_chunk) {
    const int64_t count = std::min(query_chunk, length - start);
    // [count, L, heads] -> [1, heads, count, L]
    const auto bias =
        at::embedding(bias_table, buckets.narrow(0, start, count)).permute({2, 0, 1}).unsqueeze(0);
    const auto scores = at::matmul(q.narrow(2, start, count), k_transposed) + bias;
    const auto probabilities =
        at::softmax(scores, -1, StatisticsType(scores)).to(scores.scalar_type());
    outputs.push_back(at::matmul(probabilities, v));
  }
  const auto context = (outputs.size() == 1 ? outputs[0] : at::cat(outputs, 2))
                           .transpose(1, 2)
                           .reshape({batch, length, config.inner_dim()});
  return w.Linear(context, Module(kO));
}

// Gated tanh-GELU feed-forward ("gated-gelu" with gelu_new).
torch::Tensor FeedForward(const torch::Tensor& x, const ScopedBlock& w) {
  const auto gate = at::gelu(w.Linear(x, Module(kGate)), "tanh");
  return w.Linear(gate * w.Linear(x, Module(kUp)), Module(kDown));
}

void ValidateIds(const torch::Tensor& ids, int64_t vocab_size) {
  if (!ids.defined() || ids.dim() != 2 || ids.scalar_type() != torch::kLong) {
    throw InvalidArgument("ids must be an int64 tensor [batch, length]");
  }
  if (ids.size(0) < 1 || ids.size(1) < 1) {
    throw InvalidArgument("ids must have at least one row and one token, got [" +
                          std::to_string(ids.size(0)) + ", " + std::to_string(ids.size(1)) + "]");
  }
  const int64_t low = ids.min().item<int64_t>();
  const int64_t high = ids.max().item<int64_t>();
  if (low < 0 || high >= vocab_size) {
    throw InvalidArgument("ids must lie in [0, " + std::to_string(vocab_size) +
                          "), got values in [" + std::to_string(low) + ", " + std::to_string(high) +
                          "]");
  }
}

// Shape of a tensor that must exist (kMissingTensor otherwise).
std::vector<int64_t> RequiredShape(const Checkpoint& checkpoint, const std::string& name) {
  return checkpoint.Require(name).info->shape;
}

CheckpointError LayoutError(const Checkpoint& checkpoint, const std::string& tensor,
                            const std::string& detail) {
  return CheckpointError(CheckpointError::Code::kUnrecognizedLayout, checkpoint.description(),
                         tensor, detail);
}

// Number of encoder blocks: one past the largest index in any "encoder.block.{i}." key.
int64_t CountLayers(const Checkpoint& checkpoint, const std::string& prefix) {
  const std::string block_prefix = prefix + "encoder.block.";
  int64_t layers = 0;
  for (const auto& name : checkpoint.Names()) {
    if (name.compare(0, block_prefix.size(), block_prefix) != 0) continue;
    const char* digits = name.c_str() + block_prefix.size();
    char* end = nullptr;
    const long long index = std::strtoll(digits, &end, 10);
    if (end != digits && *end == '.' && index >= 0) {
      layers = std::max<int64_t>(layers, index + 1);
    }
  }
  return layers;
}

}  // namespace

int64_t RelativePositionBucket(int64_t relative_position, int64_t num_buckets,
                               int64_t max_distance) {
  // Bidirectional: half of the buckets for keys after the query.
  const int64_t half = num_buckets / 2;
  const int64_t offset = relative_position > 0 ? half : 0;
  const int64_t distance = relative_position < 0 ? -relative_position : relative_position;
  const int64_t max_exact = half / 2;
  if (distance < max_exact) return offset + distance;
  // Logarithmic buckets between max_exact and max_distance. The log ratio is exact at powers of
  // two (16, 32, 64, 128 for T5's constants) and far from integers elsewhere, so double and HF's
  // float32 give the same truncation for every distance.
  const double scaled = std::log(static_cast<double>(distance) / static_cast<double>(max_exact)) /
                        std::log(static_cast<double>(max_distance) / max_exact) *
                        static_cast<double>(half - max_exact);
  const int64_t large = max_exact + static_cast<int64_t>(scaled);
  return offset + std::min(large, half - 1);
}

torch::Tensor RelativePositionBuckets(int64_t query_len, int64_t key_len, int64_t num_buckets,
                                      int64_t max_distance) {
  auto buckets = torch::empty({query_len, key_len}, torch::kLong);
  auto accessor = buckets.accessor<int64_t, 2>();
  // Every entry depends only on key - query: compute each distinct difference once.
  std::vector<int64_t> by_difference(static_cast<std::size_t>(query_len + key_len));
  for (int64_t d = -(query_len - 1); d < key_len; ++d) {
    by_difference[static_cast<std::size_t>(d + query_len - 1)] =
        RelativePositionBucket(d, num_buckets, max_distance);
  }
  for (int64_t q = 0; q < query_len; ++q) {
    for (int64_t k = 0; k < key_len; ++k) {
      accessor[q][k] = by_difference[static_cast<std::size_t>(k - q + query_len - 1)];
    }
  }
  return buckets;
}

T5Encoder T5Encoder::Load(const Checkpoint& file) {
  T5Encoder encoder;
  // llama.cpp's GGUF names become HF's: the rest of the loader knows one layout.
  const Checkpoint checkpoint = WithHfT5Names(file);
  encoder.checkpoint_ = checkpoint;
  const std::string probe = BlockPrefix(0) + kQ;
  const auto prefix = checkpoint.DetectPrefix(key_prefix::kT5, probe);
  if (!prefix) {
    throw LayoutError(checkpoint, probe,
                      "no T5 encoder found (looked for the tensor with no prefix and under "
                      "'text_encoders.t5xxl.transformer.')");
  }
  const std::string& p = *prefix;
  encoder.prefix_ = p;
  T5EncoderConfig& c = encoder.config_;

  // Either name holds the embedding: HF writes the tied copy `encoder.embed_tokens.weight` in
  // some files and only `shared.weight` in others.
  std::string embedding_name = p + "shared.weight";
  if (!checkpoint.Has(embedding_name)) {
    embedding_name = p + "encoder.embed_tokens.weight";
    if (!checkpoint.Has(embedding_name)) {
      throw CheckpointError(CheckpointError::Code::kMissingTensor, checkpoint.description(),
                            p + "shared.weight",
                            "T5 embedding missing (neither shared.weight nor "
                            "encoder.embed_tokens.weight)");
    }
  }
  const auto embedding_shape = RequiredShape(checkpoint, embedding_name);
  if (embedding_shape.size() != 2) {
    throw LayoutError(checkpoint, embedding_name,
                      "embedding must be 2-D, got " + ShapeString(embedding_shape));
  }
  c.vocab_size = embedding_shape[0];
  c.d_model = embedding_shape[1];

  const std::string bias_name = p + BlockPrefix(0) + kRelativeBias;
  const auto bias_shape = RequiredShape(checkpoint, bias_name);
  if (bias_shape.size() != 2) {
    throw LayoutError(
        checkpoint, bias_name,
        "relative_attention_bias must be [buckets, heads], got " + ShapeString(bias_shape));
  }
  c.num_buckets = bias_shape[0];
  c.num_heads = bias_shape[1];
  if (c.num_buckets < 4 || c.num_buckets % 4 != 0 || c.num_heads < 1) {
    throw LayoutError(checkpoint, bias_name,
                      "relative_attention_bias " + ShapeString(bias_shape) +
                          " needs a positive multiple of 4 buckets and at least one head");
  }

  const std::string q_name = p + probe;
  const auto q_shape = RequiredShape(checkpoint, q_name);
  if (q_shape.size() != 2 || q_shape[0] % c.num_heads != 0 || q_shape[0] == 0) {
    throw LayoutError(checkpoint, q_name,
                      "q projection " + ShapeString(q_shape) +
                          " is not [heads * d_kv, d_model] "
                          "with " +
                          std::to_string(c.num_heads) + " heads");
  }
  c.d_kv = q_shape[0] / c.num_heads;

  const std::string gate_name = p + BlockPrefix(0) + kGate;
  if (!checkpoint.Has(gate_name) &&
      checkpoint.Has(p + BlockPrefix(0) + "layer.1.DenseReluDense.wi.weight")) {
    throw LayoutError(checkpoint, gate_name,
                      "this is a T5 v1.0 checkpoint (ungated ReLU feed-forward 'wi'); only the "
                      "v1.1 gated-GELU encoder is supported");
  }
  const auto gate_shape = RequiredShape(checkpoint, gate_name);
  if (gate_shape.size() != 2) {
    throw LayoutError(checkpoint, gate_name,
                      "wi_0 must be [d_ff, d_model], got " + ShapeString(gate_shape));
  }
  c.d_ff = gate_shape[0];
  c.num_layers = CountLayers(checkpoint, p);

  // Every shape is checked against the inferred dimensions, so a file with inconsistent layers
  // fails here rather than inside a matmul.
  const int64_t inner = c.inner_dim();
  WeightBlock embedding{kEmbeddingBlock, {}};
  embedding.AddFrom(checkpoint, "", embedding_name, {c.vocab_size, c.d_model});
  // Stored under a block-relative name independent of which checkpoint name held it.
  embedding.tensors.back().first = "weight";
  encoder.blocks_.push_back(std::move(embedding));
  for (int64_t i = 0; i < c.num_layers; ++i) {
    WeightBlock block{"encoder.block." + std::to_string(i), {}};
    const std::string block_prefix = p + BlockPrefix(i);
    block.AddFrom(checkpoint, block_prefix, kAttentionNorm, {c.d_model});
    block.AddFrom(checkpoint, block_prefix, kQ, {inner, c.d_model});
    block.AddFrom(checkpoint, block_prefix, kK, {inner, c.d_model});
    block.AddFrom(checkpoint, block_prefix, kV, {inner, c.d_model});
    block.AddFrom(checkpoint, block_prefix, kO, {c.d_model, inner});
    if (i == 0) block.AddFrom(checkpoint, block_prefix, kRelativeBias, bias_shape);
    block.AddFrom(checkpoint, block_prefix, kFeedForwardNorm, {c.d_model});
    block.AddFrom(checkpoint, block_prefix, kGate, {c.d_ff, c.d_model});
    block.AddFrom(checkpoint, block_prefix, kUp, {c.d_ff, c.d_model});
    block.AddFrom(checkpoint, block_prefix, kDown, {c.d_model, c.d_ff});
    encoder.blocks_.push_back(std::move(block));
  }
  WeightBlock final_norm{kFinalNormBlock, {}};
  final_norm.AddFrom(checkpoint, p + "encoder.final_layer_norm.", "weight", {c.d_model});
  encoder.blocks_.push_back(std::move(final_norm));
  return encoder;
}

torch::Tensor T5Encoder::Forward(const torch::Tensor& ids, WeightProvider& provider,
                                 int64_t query_chunk) const {
  ValidateIds(ids, config_.vocab_size);
  if (query_chunk < 0) {
    throw InvalidArgument("query_chunk must be >= 0 (0 = automatic), got " +
                          std::to_string(query_chunk));
  }
  const int64_t batch = ids.size(0);
  const int64_t length = ids.size(1);
  if (query_chunk == 0) {
    query_chunk =
        std::max<int64_t>(1, kScoreElementsPerChunk / (batch * config_.num_heads * length));
  }

  torch::Tensor hidden;
  {
    ScopedBlock w(provider, blocks_.front());
    const auto& table = w["weight"];
    hidden = at::embedding(table, ids.to(table.device()));  // not scaled by sqrt(d_model)
  }

  torch::Tensor bias_table;
  const auto buckets =
      RelativePositionBuckets(length, length, config_.num_buckets, config_.max_distance)
          .to(hidden.device());
  for (int64_t i = 0; i < config_.num_layers; ++i) {
    ScopedBlock w(provider, blocks_[static_cast<std::size_t>(i + 1)]);
    // Only block 0 has a bias table; every block reuses it. Cloned because the provider may reuse
    // block 0's memory once it is released.
    if (i == 0) bias_table = w[kRelativeBias].clone();
    hidden = hidden + SelfAttention(RmsNorm(hidden, w[kAttentionNorm], config_.layer_norm_eps), w,
                                    bias_table, buckets, config_, query_chunk);
    hidden = hidden + FeedForward(RmsNorm(hidden, w[kFeedForwardNorm], config_.layer_norm_eps), w);
  }

  ScopedBlock w(provider, blocks_.back());
  hidden = RmsNorm(hidden, w["weight"], config_.layer_norm_eps);
  return hidden;
}

}  // namespace streamdit::engine
