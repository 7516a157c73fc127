#include "engine/flux/flux_config.h"

#include <nlohmann/json.hpp>
#include <numeric>
#include <string>

#include "engine/checkpoint/checkpoint_error.h"

namespace streamdit::engine {
namespace {

// Counts consecutive indexed blocks `<stem>.<i>.<probe>` starting at 0.
int64_t CountBlocks(const Checkpoint& checkpoint, const std::string& stem,
                    const std::string& probe) {
  int64_t count = 0;
  while (checkpoint.Has(stem + "." + std::to_string(count) + "." + probe)) ++count;
  return count;
}

CheckpointError Error(const Checkpoint& checkpoint, CheckpointError::Code code,
                      const std::string& tensor, const std::string& detail) {
  return CheckpointError(code, checkpoint.description(), tensor, detail);
}

int64_t Dim(const Checkpoint& checkpoint, const std::string& name, std::size_t axis) {
  const TensorInfo& info = *checkpoint.Require(name).info;
  if (info.shape.size() <= axis) {
    throw Error(checkpoint, CheckpointError::Code::kBadShape, name,
                "expected at least " + std::to_string(axis + 1) + " dimensions");
  }
  return info.shape[axis];
}

// city96's GGUF files say what they hold in general.architecture ("flux"); a GGUF of another
// model (an LLM, SD3, a T5 encoder) is refused by that field before its tensor names are guessed
// at. A file without the key is accepted, as ComfyUI-GGUF accepts it (sd.cpp's files).
void CheckGgufArchitecture(const Checkpoint& checkpoint) {
  const GgufFile* gguf = checkpoint.gguf();
  constexpr char kKey[] = "general.architecture";
  if (gguf == nullptr || gguf->FindMetadata(kKey) == nullptr) return;
  const std::string architecture = gguf->GetString(kKey);  // names file and key if not a string
  if (architecture != "flux") {
    throw Error(
        checkpoint, CheckpointError::Code::kUnrecognizedLayout, kKey,
        "GGUF architecture is '" + architecture + "', not a FLUX transformer (expected 'flux')");
  }
}

}  // namespace

std::string FluxConfig::RopeMetadataJson() const {
  return nlohmann::json{{"axes_dim", axes_dim}, {"theta", theta}}.dump();
}

FluxConfig InferFluxConfig(const Checkpoint& whole, const RopeOverrides& overrides) {
  FluxConfig config;
  CheckGgufArchitecture(whole);
  // The transformer may sit under a prefix and in either the BFL or the diffusers layout.
  std::optional<std::string> prefix = whole.DetectPrefix(key_prefix::kTransformer, "img_in.weight");
  if (prefix) {
    config.layout = FluxLayout::kBfl;
  } else {
    prefix = whole.DetectPrefix(key_prefix::kTransformer, "x_embedder.weight");
    if (!prefix) {
      throw Error(whole, CheckpointError::Code::kUnrecognizedLayout, "img_in.weight",
                  "not a FLUX transformer: neither img_in.weight (BFL layout) nor "
                  "x_embedder.weight (diffusers layout) found");
    }
    config.layout = FluxLayout::kDiffusers;
  }
  config.prefix = *prefix;
  const Checkpoint ckpt = whole.WithPrefix(*prefix);
  const bool bfl = config.layout == FluxLayout::kBfl;

  const std::string img_in = bfl ? "img_in.weight" : "x_embedder.weight";
  const std::string txt_in = bfl ? "txt_in.weight" : "context_embedder.weight";
  const std::string vector_in =
      bfl ? "vector_in.in_layer.weight" : "time_text_embed.text_embedder.linear_1.weight";
  const std::string final_linear = bfl ? "final_layer.linear.weight" : "proj_out.weight";
  const std::string guidance =
      bfl ? "guidance_in.in_layer.weight" : "time_text_embed.guidance_embedder.linear_1.weight";
  const std::string double_stem = bfl ? "double_blocks" : "transformer_blocks";
  const std::string single_stem = bfl ? "single_blocks" : "single_transformer_blocks";
  const std::string double_norm = bfl ? "img_attn.norm.query_norm.scale" : "attn.norm_q.weight";
  const std::string single_norm = bfl ? "norm.query_norm.scale" : "attn.norm_q.weight";

  config.hidden_size = Dim(ckpt, img_in, 0);
  config.in_channels = Dim(ckpt, img_in, 1);
  config.context_in_dim = Dim(ckpt, txt_in, 1);
  config.vec_in_dim = Dim(ckpt, vector_in, 1);
  config.out_channels = Dim(ckpt, final_linear, 0);
  config.guidance_embed = ckpt.Has(guidance);
  config.depth = CountBlocks(ckpt, double_stem, double_norm);
  config.depth_single_blocks = CountBlocks(ckpt, single_stem, single_norm);
  if (config.depth > 0) {
    config.head_dim = Dim(ckpt, double_stem + ".0." + double_norm, 0);
    config.mlp_hidden =
        Dim(ckpt, double_stem + (bfl ? ".0.img_mlp.0.weight" : ".0.ff.net.0.proj.weight"), 0);
    config.qkv_bias = ckpt.Has(double_stem + (bfl ? ".0.img_attn.qkv.bias" : ".0.attn.to_q.bias"));
  } else if (config.depth_single_blocks > 0) {
    config.head_dim = Dim(ckpt, single_stem + ".0." + single_norm, 0);
    config.mlp_hidden =
        bfl ? Dim(ckpt, "single_blocks.0.linear1.weight", 0) - 3 * config.hidden_size
            : Dim(ckpt, "single_transformer_blocks.0.proj_mlp.weight", 0);
    config.qkv_bias = true;
  } else {
    throw Error(ckpt, CheckpointError::Code::kUnrecognizedLayout, double_stem + ".0",
                "FLUX transformer without double or single blocks");
  }
  if (config.head_dim <= 0 || config.hidden_size % config.head_dim != 0) {
    throw Error(ckpt, CheckpointError::Code::kBadShape, double_stem + ".0." + double_norm,
                "head_dim " + std::to_string(config.head_dim) + " does not divide hidden size " +
                    std::to_string(config.hidden_size));
  }
  config.num_heads = config.hidden_size / config.head_dim;

  // RoPE cannot be read off the weights.
  bool have_rope = false;
  auto meta = whole.metadata().find(kFluxConfigMetadataKey);
  if (meta != whole.metadata().end()) {
    nlohmann::json json = nlohmann::json::parse(meta->second, nullptr, /*allow_exceptions=*/false);
    if (!json.is_object() || !json.contains("axes_dim") || !json["axes_dim"].is_array() ||
        !json.contains("theta") || !json["theta"].is_number()) {
      throw Error(whole, CheckpointError::Code::kInvalidEntry, "__metadata__.flux_config",
                  "expected {\"axes_dim\": [ints], \"theta\": number}, got: " + meta->second);
    }
    config.axes_dim.clear();
    for (const auto& v : json["axes_dim"]) {
      if (!v.is_number_integer()) {
        throw Error(whole, CheckpointError::Code::kInvalidEntry, "__metadata__.flux_config",
                    "axes_dim entries must be integers");
      }
      config.axes_dim.push_back(v.get<int64_t>());
    }
    config.theta = json["theta"].get<double>();
    have_rope = true;
  } else if (config.head_dim == 128) {
    config.axes_dim = {16, 56, 56};
    config.theta = 10000;
    have_rope = true;
  }
  if (overrides.axes_dim) config.axes_dim = *overrides.axes_dim;
  if (overrides.theta) config.theta = *overrides.theta;
  if (!have_rope && !(overrides.axes_dim && overrides.theta)) {
    throw Error(whole, CheckpointError::Code::kInvalidEntry, "__metadata__.flux_config",
                "RoPE axes_dim/theta unknown for head_dim " + std::to_string(config.head_dim) +
                    ": add a flux_config metadata entry or pass --axes-dim and --theta");
  }
  int64_t axes_sum = std::accumulate(config.axes_dim.begin(), config.axes_dim.end(), int64_t{0});
  bool even = true;
  for (int64_t d : config.axes_dim) even = even && d > 0 && d % 2 == 0;
  if (axes_sum != config.head_dim || !even) {
    throw Error(whole, CheckpointError::Code::kInvalidEntry, "__metadata__.flux_config",
                "RoPE axes_dim must be positive even numbers summing to head_dim " +
                    std::to_string(config.head_dim) + " (sum is " + std::to_string(axes_sum) + ")");
  }
  return config;
}

}  // namespace streamdit::engine
