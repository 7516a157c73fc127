#include "engine/flux/flux_transformer.h"

#include <ATen/ATen.h>

#include <string>

#include "engine/flux/flux_layers.h"
#include "engine/model/scoped_block.h"
#include "engine/status/status_error.h"

namespace streamdit::engine {
namespace {

void ExpectShape(const torch::Tensor& t, const std::string& name,
                 const std::vector<int64_t>& expected) {
  auto describe = [](const std::vector<int64_t>& shape) {
    std::string s = "[";
    for (std::size_t i = 0; i < shape.size(); ++i) {
      s += (i ? ", " : "") + (shape[i] < 0 ? std::string("*") : std::to_string(shape[i]));
    }
    return s + "]";
  };
  if (!t.defined())
    throw InvalidArgument("missing input tensor '" + name + "', expected shape " +
                          describe(expected));
  bool ok = t.dim() == static_cast<int64_t>(expected.size());
  for (std::size_t i = 0; ok && i < expected.size(); ++i)
    ok = expected[i] < 0 || t.size(i) == expected[i];
  if (!ok) {
    throw InvalidArgument("input tensor '" + name + "' has shape " + describe(t.sizes().vec()) +
                          ", expected " + describe(expected));
  }
}

// (shift, scale, gate) chunk k of a modulation output [B, m * hidden], as [B, 1, hidden].
torch::Tensor Chunk(const torch::Tensor& modulation, int64_t k, int64_t hidden) {
  return modulation.slice(1, k * hidden, (k + 1) * hidden).unsqueeze(1);
}

torch::Tensor Modulate(const torch::Tensor& x, const torch::Tensor& shift,
                       const torch::Tensor& scale) {
  return (1 + scale) * PlainLayerNorm(x) + shift;
}

// [B, L, 3 * H * D] -> q, k, v each [B, H, L, D] (layout K, H, D along the last dim).
std::vector<torch::Tensor> SplitHeads(const torch::Tensor& qkv, int64_t heads) {
  const int64_t b = qkv.size(0), l = qkv.size(1);
  torch::Tensor x = qkv.view({b, l, 3, heads, -1}).permute({2, 0, 3, 1, 4});
  return {x[0], x[1], x[2]};
}

torch::Tensor MergeHeads(const torch::Tensor& x) {  // [B, H, L, D] -> [B, L, H * D]
  return x.permute({0, 2, 1, 3}).reshape({x.size(0), x.size(2), -1});
}

torch::Tensor Attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                        const RopeTables& rope, const AttentionOptions& options) {
  return MergeHeads(ChunkedAttention(ApplyRope(q, rope), ApplyRope(k, rope), v, options));
}

}  // namespace

void ValidateFluxInputs(const FluxConfig& c, const FluxInputs& in) {
  const int64_t axes = static_cast<int64_t>(c.axes_dim.size());
  ExpectShape(in.img, "img", {-1, -1, c.in_channels});
  const int64_t b = in.img.size(0), l = in.img.size(1);
  ExpectShape(in.img_ids, "img_ids", {b, l, axes});
  ExpectShape(in.txt, "txt", {b, -1, c.context_in_dim});
  ExpectShape(in.txt_ids, "txt_ids", {b, in.txt.size(1), axes});
  ExpectShape(in.timesteps, "timesteps", {b});
  ExpectShape(in.y, "y", {b, c.vec_in_dim});
  if (c.guidance_embed) ExpectShape(in.guidance, "guidance", {b});
}

FluxModulation FluxModulation::Rows(int64_t start, int64_t count) const {
  auto rows = [&](const torch::Tensor& t) { return t.slice(0, start, start + count); };
  FluxModulation out;
  for (const auto& t : double_img) out.double_img.push_back(rows(t));
  for (const auto& t : double_txt) out.double_txt.push_back(rows(t));
  for (const auto& t : single) out.single.push_back(rows(t));
  out.final = rows(final);
  return out;
}

FluxTransformer FluxTransformer::Load(const Checkpoint& checkpoint,
                                      const RopeOverrides& overrides) {
  FluxConfig config = InferFluxConfig(checkpoint, overrides);
  FluxWeights weights = LoadFluxWeights(checkpoint, config);
  return FluxTransformer(std::move(config), std::move(weights));
}

torch::Tensor FluxTransformer::ComputeVec(const torch::Tensor& timesteps, const torch::Tensor& y,
                                          const torch::Tensor& guidance, WeightProvider& provider,
                                          torch::ScalarType compute) const {
  ScopedBlock w(provider, weights_.vec_embedders);
  auto mlp = [&](const torch::Tensor& x, const std::string& name) {
    return w.Linear(at::silu(w.Linear(x, name + ".in_layer")), name + ".out_layer");
  };
  torch::Tensor vec = mlp(TimestepEmbedding(timesteps.to(compute), 256, compute), "time_in");
  if (config_.guidance_embed) {
    if (!guidance.defined()) throw InvalidArgument("guidance is required by this model");
    vec = vec + mlp(TimestepEmbedding(guidance.to(compute), 256, compute), "guidance_in");
  }
  return vec + mlp(y.to(compute), "vector_in");
}

FluxModulation FluxTransformer::ComputeModulation(const torch::Tensor& vec,
                                                  WeightProvider& provider) const {
  FluxModulation out;
  torch::Tensor act = at::silu(vec);
  for (const WeightBlock& block : weights_.double_modulation) {
    ScopedBlock w(provider, block);
    out.double_img.push_back(w.Linear(act, "img_mod.lin"));
    out.double_txt.push_back(w.Linear(act, "txt_mod.lin"));
  }
  for (const WeightBlock& block : weights_.single_modulation) {
    ScopedBlock w(provider, block);
    out.single.push_back(w.Linear(act, "modulation.lin"));
  }
  ScopedBlock w(provider, weights_.final_modulation);
  out.final = w.Linear(act, "adaLN_modulation.1");
  return out;
}

torch::Tensor FluxTransformer::Forward(const FluxInputs& inputs, WeightProvider& provider,
                                       torch::ScalarType compute,
                                       const AttentionOptions& attention) const {
  ValidateFluxInputs(config_, inputs);
  torch::Tensor vec = ComputeVec(inputs.timesteps, inputs.y, inputs.guidance, provider, compute);
  return ForwardWithModulation(inputs, ComputeModulation(vec, provider), provider, compute,
                               attention);
}

torch::Tensor FluxTransformer::ForwardWithModulation(const FluxInputs& inputs,
                                                     const FluxModulation& mod,
                                                     WeightProvider& provider,
                                                     torch::ScalarType compute,
                                                     const AttentionOptions& attention) const {
  const int64_t hidden = config_.hidden_size;
  const int64_t heads = config_.num_heads;
  torch::Tensor img, txt;
  {
    ScopedBlock w(provider, weights_.input_embedders);
    img = w.Linear(inputs.img.to(compute), "img_in");
    txt = w.Linear(inputs.txt.to(compute), "txt_in");
  }
  const int64_t txt_len = txt.size(1);
  const RopeTables rope =
      RopeEmbed(torch::cat({inputs.txt_ids, inputs.img_ids}, 1), config_.axes_dim, config_.theta);

  for (std::size_t i = 0; i < weights_.double_blocks.size(); ++i) {
    ScopedBlock w(provider, weights_.double_blocks[i]);
    const torch::Tensor& im = mod.double_img[i];
    const torch::Tensor& tm = mod.double_txt[i];
    auto stream_qkv = [&](const torch::Tensor& x, const torch::Tensor& m, const std::string& s) {
      torch::Tensor modulated = Modulate(x, Chunk(m, 0, hidden), Chunk(m, 1, hidden));
      auto qkv = SplitHeads(w.Linear(modulated, s + "_attn.qkv"), heads);
      torch::Tensor q =
          RmsNorm(qkv[0], w[s + "_attn.norm.query_norm.scale"]).to(qkv[2].scalar_type());
      torch::Tensor k =
          RmsNorm(qkv[1], w[s + "_attn.norm.key_norm.scale"]).to(qkv[2].scalar_type());
      return std::vector<torch::Tensor>{q, k, qkv[2]};
    };
    torch::Tensor attn;
    {  // The per-stream projections die here, before the MLPs: they would only raise the peak.
      auto iq = stream_qkv(img, im, "img");
      auto tq = stream_qkv(txt, tm, "txt");
      attn = Attention(torch::cat({tq[0], iq[0]}, 2), torch::cat({tq[1], iq[1]}, 2),
                       torch::cat({tq[2], iq[2]}, 2), rope, attention);
    }
    torch::Tensor txt_attn = attn.slice(1, 0, txt_len);
    torch::Tensor img_attn = attn.slice(1, txt_len);
    auto finish = [&](torch::Tensor x, const torch::Tensor& a, const torch::Tensor& m,
                      const std::string& s) {
      x = x + Chunk(m, 2, hidden) * w.Linear(a, s + "_attn.proj");
      torch::Tensor h = Modulate(x, Chunk(m, 3, hidden), Chunk(m, 4, hidden));
      h = w.Linear(GeluTanh(w.Linear(h, s + "_mlp.0")), s + "_mlp.2");
      return x + Chunk(m, 5, hidden) * h;
    };
    img = finish(img, img_attn, im, "img");
    txt = finish(txt, txt_attn, tm, "txt");
  }

  torch::Tensor x = torch::cat({txt, img}, 1);
  txt = img = torch::Tensor();  // x holds both streams now; the separate copies would only add peak
  for (std::size_t i = 0; i < weights_.single_blocks.size(); ++i) {
    ScopedBlock w(provider, weights_.single_blocks[i]);
    const torch::Tensor& m = mod.single[i];
    torch::Tensor a, mlp;
    {  // linear1's wide output [L, 3h + mlp] and q, k die before the concatenation.
      torch::Tensor h = w.Linear(Modulate(x, Chunk(m, 0, hidden), Chunk(m, 1, hidden)), "linear1");
      auto qkv = SplitHeads(h.slice(2, 0, 3 * hidden), heads);
      torch::Tensor q = RmsNorm(qkv[0], w["norm.query_norm.scale"]).to(qkv[2].scalar_type());
      torch::Tensor k = RmsNorm(qkv[1], w["norm.key_norm.scale"]).to(qkv[2].scalar_type());
      a = Attention(q, k, qkv[2], rope, attention);
      q = k = torch::Tensor();
      mlp = GeluTanh(h.slice(2, 3 * hidden));
    }
    torch::Tensor out = w.Linear(torch::cat({a, mlp}, 2), "linear2");
    a = mlp = torch::Tensor();
    x = x + Chunk(m, 2, hidden) * out;
  }

  img = x.slice(1, txt_len);
  ScopedBlock w(provider, weights_.final_layer);
  img = Modulate(img, Chunk(mod.final, 0, hidden), Chunk(mod.final, 1, hidden));
  return w.Linear(img, "linear");
}

}  // namespace streamdit::engine
