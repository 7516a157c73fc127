// T5 v1.1 encoder (flux-spec.md §5.1) on the weight-block interface. The model is the sequence of
// blocks "embedding", "encoder.block.{0..n-1}", "final_layer_norm"; Forward acquires each block's
// weights from a WeightProvider just before using them and releases them right after, so the
// same code runs fully resident or streamed one block at a time.
//
// Details that differ from a textbook transformer (and are easy to get wrong): the embedding is
// not scaled, RMSNorm has no mean subtraction and computes its variance in fp32, attention has no
// 1/sqrt(d) scaling, the relative position bias comes from block 0's table and is reused by every
// block, the feed-forward is gated tanh-GELU, and FLUX passes no padding mask.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "engine/checkpoint/checkpoint.h"
#include "engine/model/weight_block.h"

namespace streamdit::engine {

struct T5EncoderConfig {
  int64_t vocab_size = 32128;  // embedding rows
  int64_t d_model = 4096;
  int64_t d_kv = 64;
  int64_t num_heads = 64;
  int64_t d_ff = 10240;
  int64_t num_layers = 24;
  int64_t num_buckets = 32;    // relative_attention_num_buckets
  int64_t max_distance = 128;  // relative_attention_max_distance (not stored in checkpoints)
  double layer_norm_eps = 1e-6;

  int64_t inner_dim() const { return num_heads * d_kv; }
};

// Bucket of `relative_position` = key position - query position, bidirectional as in T5's
// encoder: half the buckets per sign (+num_buckets/2 when the key is after the query), exact
// buckets for distances below num_buckets/4, then logarithmic up to max_distance, capped.
int64_t RelativePositionBucket(int64_t relative_position, int64_t num_buckets = 32,
                               int64_t max_distance = 128);
// [query_len, key_len] int64 tensor of RelativePositionBucket(k - q).
torch::Tensor RelativePositionBuckets(int64_t query_len, int64_t key_len, int64_t num_buckets = 32,
                                      int64_t max_distance = 128);

class T5Encoder {
 public:
  // Recognises the layout in `checkpoint`: key prefix among key_prefix::kT5, the embedding as
  // `shared.weight` or `encoder.embed_tokens.weight`, and every dimension from the tensor shapes;
  // a GGUF file in llama.cpp's names is read under HF's (engine/text/t5_gguf_names.h).
  // Throws CheckpointError (kMissingTensor, kBadShape, kUnrecognizedLayout) naming file and tensor.
  // Keeps `checkpoint` alive: the blocks are zero-copy views of its files.
  static T5Encoder Load(const Checkpoint& checkpoint);

  const T5EncoderConfig& config() const { return config_; }
  // The key prefix found in the checkpoint ("" or "text_encoders.t5xxl.transformer.").
  const std::string& prefix() const { return prefix_; }
  const std::vector<WeightBlock>& blocks() const { return blocks_; }

  // ids: int64 [batch, length] with every id in [0, vocab_size) (StatusError INVALID_ARGUMENT
  // naming "ids" otherwise). Returns the last hidden state [batch, length, d_model] in the dtype
  // and on the device of the provider's tensors. Attention is computed in chunks of `query_chunk`
  // queries (0: chosen so that the score buffer [batch, heads, chunk, length] stays near 4 M
  // elements); the chunk size does not change the result.
  torch::Tensor Forward(const torch::Tensor& ids, WeightProvider& provider,
                        int64_t query_chunk = 0) const;

 private:
  T5Encoder() = default;

  Checkpoint checkpoint_;
  std::string prefix_;
  T5EncoderConfig config_;
  std::vector<WeightBlock> blocks_;
};

}  // namespace streamdit::engine
