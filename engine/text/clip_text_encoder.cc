#include "engine/text/clip_text_encoder.h"

#include <ATen/ATen.h>

#include <cmath>
#include <limits>
#include <utility>

#include "engine/checkpoint/checkpoint_error.h"
#include "engine/model/scoped_block.h"
#include "engine/status/status_error.h"

namespace streamdit::engine {
namespace {

constexpr const char* kProbe = "text_model.embeddings.token_embedding.weight";
constexpr const char* kProbeWithoutTextModel = "embeddings.token_embedding.weight";

std::string LayerName(int64_t index) { return "encoder.layers." + std::to_string(index); }

// Layer norm statistics in f32 whatever the compute dtype (bf16 has 8 mantissa bits).
torch::Tensor LayerNorm(const torch::Tensor& x, const torch::Tensor& weight,
                        const torch::Tensor& bias, double eps) {
  return at::layer_norm(x.to(torch::kFloat), {x.size(-1)}, weight.to(torch::kFloat),
                        bias.to(torch::kFloat), eps)
      .to(x.scalar_type());
}

torch::Tensor QuickGelu(const torch::Tensor& x) { return x * at::sigmoid(x * 1.702); }

// h += out_proj(softmax(q kᵀ / 8 + causal) v) on LN1(h); h += fc2(quick_gelu(fc1(LN2(h)))).
torch::Tensor EncoderLayer(const torch::Tensor& x, const ScopedBlock& w, const torch::Tensor& mask,
                           const ClipTextConfig& config) {
  const int64_t batch = x.size(0);
  const int64_t length = x.size(1);
  const int64_t head_dim = ClipTextEncoder::kHeadDim;
  auto heads = [&](const torch::Tensor& t) {
    return t.view({batch, length, config.heads, head_dim}).transpose(1, 2);
  };
  torch::Tensor h =
      LayerNorm(x, w["layer_norm1.weight"], w["layer_norm1.bias"], config.layer_norm_eps);
  const double scale = 1.0 / std::sqrt(static_cast<double>(head_dim));
  torch::Tensor q = heads(w.Linear(h, "self_attn.q_proj"));
  torch::Tensor k = heads(w.Linear(h, "self_attn.k_proj"));
  torch::Tensor v = heads(w.Linear(h, "self_attn.v_proj"));
  torch::Tensor scores = at::matmul(q, k.transpose(-1, -2)).to(torch::kFloat) * scale + mask;
  torch::Tensor probs = at::softmax(scores, -1).to(x.scalar_type());
  torch::Tensor attended = at::matmul(probs, v).transpose(1, 2).reshape({batch, length, -1});
  torch::Tensor out = x + w.Linear(attended, "self_attn.out_proj");

  h = LayerNorm(out, w["layer_norm2.weight"], w["layer_norm2.bias"], config.layer_norm_eps);
  h = QuickGelu(w.Linear(h, "mlp.fc1"));
  return out + w.Linear(h, "mlp.fc2");
}

}  // namespace

ClipTextEncoder ClipTextEncoder::Load(const Checkpoint& checkpoint) {
  using Code = CheckpointError::Code;
  // HF's CLIPTextModel keys start "text_model."; transformers 5 saves the same model without that
  // level (its save_pretrained writes "embeddings.…" and "encoder.…" at the top).
  std::optional<std::string> prefix = checkpoint.DetectPrefix(key_prefix::kClip, kProbe);
  std::string root;
  if (prefix) {
    root = *prefix + "text_model.";
  } else {
    prefix = checkpoint.DetectPrefix(key_prefix::kClip, kProbeWithoutTextModel);
    if (prefix) root = *prefix;
  }
  if (!prefix) {
    throw CheckpointError(Code::kUnrecognizedLayout, checkpoint.description(), kProbe,
                          "no CLIP text model: the tensor is absent with and without the prefix "
                          "'text_encoders.clip_l.transformer.' and without 'text_model.'");
  }
  ClipTextEncoder encoder;
  encoder.prefix_ = *prefix;
  encoder.checkpoint_ = checkpoint.WithPrefix(root);
  const Checkpoint& model = encoder.checkpoint_;
  const std::string file = model.description();
  auto shape_of = [&](const std::string& name, std::size_t rank) {
    const std::vector<int64_t>& shape = model.Require(name).info->shape;
    if (shape.size() != rank) {
      throw CheckpointError(Code::kBadShape, file, root + name,
                            "expected a tensor of rank " + std::to_string(rank));
    }
    return shape;
  };

  ClipTextConfig& config = encoder.config_;
  const auto token_shape = shape_of("embeddings.token_embedding.weight", 2);
  config.vocab = token_shape[0];
  config.hidden = token_shape[1];
  if (config.hidden <= 0 || config.hidden % kHeadDim != 0) {
    throw CheckpointError(Code::kBadShape, file, root + kProbeWithoutTextModel,
                          "hidden size " + std::to_string(config.hidden) +
                              " is not a positive multiple of the head size 64");
  }
  config.heads = config.hidden / kHeadDim;
  config.max_positions = shape_of("embeddings.position_embedding.weight", 2)[0];
  config.layers = 0;
  while (model.Has(LayerName(config.layers) + ".self_attn.q_proj.weight")) ++config.layers;
  if (config.layers == 0) {
    throw CheckpointError(Code::kMissingTensor, file,
                          root + "encoder.layers.0.self_attn.q_proj.weight",
                          "a CLIP text model needs at least one encoder layer");
  }
  config.intermediate = shape_of(LayerName(0) + ".mlp.fc1.weight", 2)[0];

  const int64_t hidden = config.hidden;
  WeightBlock embeddings{"embeddings", {}};
  embeddings.AddFrom(model, "embeddings.", "token_embedding.weight", {config.vocab, hidden});
  embeddings.AddFrom(model, "embeddings.", "position_embedding.weight",
                     {config.max_positions, hidden});
  encoder.blocks_.push_back(std::move(embeddings));
  for (int64_t i = 0; i < config.layers; ++i) {
    WeightBlock layer{LayerName(i), {}};
    const std::string layer_prefix = layer.name + ".";
    for (const char* projection : {"q_proj", "k_proj", "v_proj", "out_proj"}) {
      const std::string name = std::string("self_attn.") + projection;
      layer.AddFrom(model, layer_prefix, name + ".weight", {hidden, hidden});
      layer.AddFrom(model, layer_prefix, name + ".bias", {hidden});
    }
    for (const char* norm : {"layer_norm1", "layer_norm2"}) {
      layer.AddFrom(model, layer_prefix, std::string(norm) + ".weight", {hidden});
      layer.AddFrom(model, layer_prefix, std::string(norm) + ".bias", {hidden});
    }
    layer.AddFrom(model, layer_prefix, "mlp.fc1.weight", {config.intermediate, hidden});
    layer.AddFrom(model, layer_prefix, "mlp.fc1.bias", {config.intermediate});
    layer.AddFrom(model, layer_prefix, "mlp.fc2.weight", {hidden, config.intermediate});
    layer.AddFrom(model, layer_prefix, "mlp.fc2.bias", {hidden});
    encoder.blocks_.push_back(std::move(layer));
  }
  WeightBlock final_norm{"final_layer_norm", {}};
  final_norm.AddFrom(model, "final_layer_norm.", "weight", {hidden});
  final_norm.AddFrom(model, "final_layer_norm.", "bias", {hidden});
  encoder.blocks_.push_back(std::move(final_norm));
  return encoder;
}

ClipTextOutput ClipTextEncoder::Forward(const torch::Tensor& input_ids, int64_t eos_id,
                                        WeightProvider& provider) const {
  if (input_ids.dim() != 2 || input_ids.size(0) < 1 || input_ids.size(1) < 1 ||
      input_ids.size(1) > config_.max_positions) {
    throw InvalidArgument("input_ids: expected shape [batch >= 1, 1.." +
                          std::to_string(config_.max_positions) + "], got " +
                          c10::str(input_ids.sizes()));
  }
  if (!c10::isIntegralType(input_ids.scalar_type(), /*includeBool=*/false)) {
    throw InvalidArgument("input_ids: expected integer ids");
  }
  const torch::Tensor ids = input_ids.to(torch::kCPU, torch::kLong).contiguous();
  const int64_t batch = ids.size(0);
  const int64_t length = ids.size(1);
  const int64_t min_id = ids.min().item<int64_t>();
  const int64_t max_id = ids.max().item<int64_t>();
  if (min_id < 0 || max_id >= config_.vocab) {
    throw InvalidArgument("input_ids: ids must be in [0, " + std::to_string(config_.vocab) +
                          "), got range [" + std::to_string(min_id) + ", " +
                          std::to_string(max_id) + "]");
  }
  // First EOS per row: positions where the id differs from EOS count as "length" for the min.
  const torch::Tensor positions = at::arange(length, torch::kLong).expand({batch, length});
  const torch::Tensor first_eos =
      at::where(ids == eos_id, positions, at::full_like(positions, length)).amin(1);
  if (first_eos.max().item<int64_t>() == length) {
    throw InvalidArgument("input_ids: every row needs the EOS id " + std::to_string(eos_id) +
                          " (the pooled output is taken there)");
  }

  torch::Tensor x;
  {
    ScopedBlock w(provider, blocks_.front());
    const torch::Tensor& token_embedding = w["token_embedding.weight"];
    const torch::Tensor device_ids = ids.to(token_embedding.device());
    x = at::embedding(token_embedding, device_ids) +
        w["position_embedding.weight"].slice(0, 0, length).unsqueeze(0);
  }
  const torch::Tensor causal_mask =
      at::full({length, length}, -std::numeric_limits<float>::infinity(),
               torch::TensorOptions().dtype(torch::kFloat).device(x.device()))
          .triu(1);
  for (int64_t i = 0; i < config_.layers; ++i) {
    ScopedBlock w(provider, blocks_[static_cast<std::size_t>(i + 1)]);
    x = EncoderLayer(x, w, causal_mask, config_);
  }
  {
    ScopedBlock w(provider, blocks_.back());
    x = LayerNorm(x, w["weight"], w["bias"], config_.layer_norm_eps);
  }
  ClipTextOutput output;
  const torch::Tensor gather_index =
      first_eos.to(x.device()).view({batch, 1, 1}).expand({batch, 1, config_.hidden});
  output.pooled = x.gather(1, gather_index).squeeze(1);
  output.hidden_states = std::move(x);
  return output;
}

}  // namespace streamdit::engine
