#include "engine/flux/flux_weights.h"

#include <map>
#include <utility>

#include "engine/checkpoint/checkpoint_error.h"
#include "engine/flux/flux_diffusers_names.h"

namespace streamdit::engine {
namespace {

bool StartsWith(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

}  // namespace

DiffusersSource DiffusersSourceOf(const std::string& bfl) {
  // Dotted suffix (".weight", ".bias", ".scale") is carried over except for norm scales.
  auto split_last = [](const std::string& name) {
    auto dot = name.rfind('.');
    return std::make_pair(name.substr(0, dot), name.substr(dot));
  };
  static const std::map<std::string, std::string> kTopLevel = {
      {"img_in", "x_embedder"},
      {"txt_in", "context_embedder"},
      {"time_in.in_layer", "time_text_embed.timestep_embedder.linear_1"},
      {"time_in.out_layer", "time_text_embed.timestep_embedder.linear_2"},
      {"vector_in.in_layer", "time_text_embed.text_embedder.linear_1"},
      {"vector_in.out_layer", "time_text_embed.text_embedder.linear_2"},
      {"guidance_in.in_layer", "time_text_embed.guidance_embedder.linear_1"},
      {"guidance_in.out_layer", "time_text_embed.guidance_embedder.linear_2"},
      {"final_layer.linear", "proj_out"},
  };
  static const std::map<std::string, std::vector<std::string>> kDouble = {
      {"img_mod.lin", {"norm1.linear"}},
      {"txt_mod.lin", {"norm1_context.linear"}},
      {"img_attn.qkv", {"attn.to_q", "attn.to_k", "attn.to_v"}},
      {"txt_attn.qkv", {"attn.add_q_proj", "attn.add_k_proj", "attn.add_v_proj"}},
      {"img_attn.proj", {"attn.to_out.0"}},
      {"txt_attn.proj", {"attn.to_add_out"}},
      {"img_mlp.0", {"ff.net.0.proj"}},
      {"img_mlp.2", {"ff.net.2"}},
      {"txt_mlp.0", {"ff_context.net.0.proj"}},
      {"txt_mlp.2", {"ff_context.net.2"}},
  };
  static const std::map<std::string, std::string> kDoubleNorms = {
      {"img_attn.norm.query_norm.scale", "attn.norm_q.weight"},
      {"img_attn.norm.key_norm.scale", "attn.norm_k.weight"},
      {"txt_attn.norm.query_norm.scale", "attn.norm_added_q.weight"},
      {"txt_attn.norm.key_norm.scale", "attn.norm_added_k.weight"},
  };
  static const std::map<std::string, std::vector<std::string>> kSingle = {
      {"linear1", {"attn.to_q", "attn.to_k", "attn.to_v", "proj_mlp"}},
      {"linear2", {"proj_out"}},
      {"modulation.lin", {"norm.linear"}},
  };
  static const std::map<std::string, std::string> kSingleNorms = {
      {"norm.query_norm.scale", "attn.norm_q.weight"},
      {"norm.key_norm.scale", "attn.norm_k.weight"},
  };

  DiffusersSource source;
  if (StartsWith(bfl, "final_layer.adaLN_modulation.1.")) {
    source.parts = {"norm_out.linear" +
                    bfl.substr(std::string("final_layer.adaLN_modulation.1").size())};
    source.swap_halves = true;
    return source;
  }
  for (const auto& [stem, diffusers_stem, table, norms] :
       {std::make_tuple(std::string("double_blocks."), std::string("transformer_blocks."), &kDouble,
                        &kDoubleNorms),
        std::make_tuple(std::string("single_blocks."), std::string("single_transformer_blocks."),
                        &kSingle, &kSingleNorms)}) {
    if (!StartsWith(bfl, stem)) continue;
    auto dot = bfl.find('.', stem.size());
    const std::string index = bfl.substr(stem.size(), dot - stem.size());
    const std::string rest = bfl.substr(dot + 1);
    const std::string block = diffusers_stem + index + ".";
    if (auto norm = norms->find(rest); norm != norms->end()) {
      source.parts = {block + norm->second};
      return source;
    }
    auto [module, suffix] = split_last(rest);
    auto it = table->find(module);
    if (it == table->end()) return source;
    for (const auto& part : it->second) source.parts.push_back(block + part + suffix);
    return source;
  }
  auto [module, suffix] = split_last(bfl);
  if (auto it = kTopLevel.find(module); it != kTopLevel.end()) {
    source.parts = {it->second + suffix};
  }
  return source;
}

namespace {

using Shape = std::vector<int64_t>;

class FluxTensorReader {
 public:
  FluxTensorReader(const Checkpoint& checkpoint, const FluxConfig& config)
      : ckpt_(checkpoint.WithPrefix(config.prefix)), layout_(config.layout) {}

  StoredTensor Read(const std::string& bfl, const Shape& shape) const {
    if (layout_ == FluxLayout::kBfl) return ViewStored(ckpt_.RequireShape(bfl, shape));
    DiffusersSource source = DiffusersSourceOf(bfl);
    if (source.parts.empty()) {
      throw CheckpointError(CheckpointError::Code::kMissingTensor, ckpt_.description(), bfl,
                            "no diffusers equivalent known");
    }
    std::vector<torch::Tensor> pieces;
    DType dtype = DType::kF32;
    for (const auto& part : source.parts) {
      TensorRef ref = ckpt_.Require(part);
      // Parts are joined as raw tensors: a per-part fp8 scale would be lost (a white image).
      if (ref.scale != 1.0f) {
        throw CheckpointError(CheckpointError::Code::kUnrecognizedLayout, ckpt_.description(), part,
                              "scaled fp8 weights are read in the BFL layout only");
      }
      if (!pieces.empty() && ref.info->dtype != dtype) {
        throw CheckpointError(CheckpointError::Code::kInvalidEntry, ckpt_.description(), part,
                              "dtype differs from the other parts of " + bfl);
      }
      dtype = ref.info->dtype;
      pieces.push_back(ViewTensor(ref));
    }
    StoredTensor stored;
    stored.dtype = dtype;
    if (pieces.size() == 1 && !source.swap_halves) {
      stored.data = pieces[0];
    } else if (source.swap_halves) {
      auto halves = pieces[0].chunk(2, 0);
      stored.data = torch::cat({halves[1], halves[0]}, 0);
    } else {
      stored.data = torch::cat(pieces, 0);
    }
    if (stored.data.sizes().vec() != shape) {
      throw CheckpointError(CheckpointError::Code::kBadShape, ckpt_.description(),
                            source.parts.front(),
                            "assembled " + bfl + " has shape " + c10::str(stored.data.sizes()) +
                                ", expected " + c10::str(c10::IntArrayRef(shape)));
    }
    return stored;
  }

 private:
  Checkpoint ckpt_;
  FluxLayout layout_;
};

void AddLinear(std::vector<std::pair<std::string, Shape>>& out, const std::string& name,
               int64_t out_features, int64_t in_features, bool bias = true) {
  out.push_back({name + ".weight", {out_features, in_features}});
  if (bias) out.push_back({name + ".bias", {out_features}});
}

}  // namespace

std::vector<std::pair<std::string, Shape>> FluxTensorShapes(const FluxConfig& c) {
  std::vector<std::pair<std::string, Shape>> out;
  const int64_t h = c.hidden_size;
  AddLinear(out, "img_in", h, c.in_channels);
  AddLinear(out, "time_in.in_layer", h, 256);
  AddLinear(out, "time_in.out_layer", h, h);
  AddLinear(out, "vector_in.in_layer", h, c.vec_in_dim);
  AddLinear(out, "vector_in.out_layer", h, h);
  if (c.guidance_embed) {
    AddLinear(out, "guidance_in.in_layer", h, 256);
    AddLinear(out, "guidance_in.out_layer", h, h);
  }
  AddLinear(out, "txt_in", h, c.context_in_dim);
  for (int64_t i = 0; i < c.depth; ++i) {
    const std::string b = "double_blocks." + std::to_string(i) + ".";
    for (const std::string stream : {"img", "txt"}) {
      AddLinear(out, b + stream + "_mod.lin", 6 * h, h);
      AddLinear(out, b + stream + "_attn.qkv", 3 * h, h, c.qkv_bias);
      out.push_back({b + stream + "_attn.norm.query_norm.scale", {c.head_dim}});
      out.push_back({b + stream + "_attn.norm.key_norm.scale", {c.head_dim}});
      AddLinear(out, b + stream + "_attn.proj", h, h);
      AddLinear(out, b + stream + "_mlp.0", c.mlp_hidden, h);
      AddLinear(out, b + stream + "_mlp.2", h, c.mlp_hidden);
    }
  }
  for (int64_t i = 0; i < c.depth_single_blocks; ++i) {
    const std::string b = "single_blocks." + std::to_string(i) + ".";
    AddLinear(out, b + "linear1", 3 * h + c.mlp_hidden, h);
    AddLinear(out, b + "linear2", h, h + c.mlp_hidden);
    out.push_back({b + "norm.query_norm.scale", {c.head_dim}});
    out.push_back({b + "norm.key_norm.scale", {c.head_dim}});
    AddLinear(out, b + "modulation.lin", 3 * h, h);
  }
  AddLinear(out, "final_layer.linear", c.out_channels, h);
  AddLinear(out, "final_layer.adaLN_modulation.1", 2 * h, h);
  return out;
}

std::vector<const WeightBlock*> FluxWeights::AllBlocks() const {
  std::vector<const WeightBlock*> blocks = {&vec_embedders, &input_embedders};
  for (std::size_t i = 0; i < double_blocks.size(); ++i) {
    blocks.push_back(&double_modulation[i]);
    blocks.push_back(&double_blocks[i]);
  }
  for (std::size_t i = 0; i < single_blocks.size(); ++i) {
    blocks.push_back(&single_modulation[i]);
    blocks.push_back(&single_blocks[i]);
  }
  blocks.push_back(&final_modulation);
  blocks.push_back(&final_layer);
  return blocks;
}

std::vector<WeightBlock*> FluxWeights::MutableBlocks() {
  // AllBlocks' order; the pointers are into *this, which is not const here.
  std::vector<WeightBlock*> blocks;
  for (const WeightBlock* block : AllBlocks()) blocks.push_back(const_cast<WeightBlock*>(block));
  return blocks;
}

std::vector<WeightBlock*> Fp8EligibleBlocks(FluxWeights& weights) {
  std::vector<WeightBlock*> blocks;
  for (WeightBlock* block : weights.MutableBlocks()) {
    if (block != &weights.vec_embedders && block != &weights.input_embedders) {
      blocks.push_back(block);
    }
  }
  return blocks;
}

std::vector<const WeightBlock*> FluxWeights::VecAndModulationOrder() const {
  std::vector<const WeightBlock*> order = {&vec_embedders};
  for (const auto& block : double_modulation) order.push_back(&block);
  for (const auto& block : single_modulation) order.push_back(&block);
  order.push_back(&final_modulation);
  return order;
}

std::vector<const WeightBlock*> FluxWeights::StepOrder() const {
  std::vector<const WeightBlock*> order = {&input_embedders};
  for (const auto& block : double_blocks) order.push_back(&block);
  for (const auto& block : single_blocks) order.push_back(&block);
  order.push_back(&final_layer);
  return order;
}

std::vector<const WeightBlock*> FluxWeights::ForwardOrder() const {
  std::vector<const WeightBlock*> order = VecAndModulationOrder();
  for (const WeightBlock* block : StepOrder()) order.push_back(block);
  return order;
}

int64_t FluxWeights::nbytes() const {
  int64_t total = 0;
  for (const WeightBlock* block : AllBlocks()) total += block->nbytes();
  return total;
}

FluxWeights LoadFluxWeights(const Checkpoint& checkpoint, const FluxConfig& config) {
  FluxTensorReader reader(checkpoint, config);
  return AssembleFluxWeights(config, [&](const std::string& name, const Shape& shape) {
    return reader.Read(name, shape);
  });
}

FluxWeights AssembleFluxWeights(const FluxConfig& config, const FluxTensorSource& source) {
  FluxWeights weights;
  weights.vec_embedders.name = "vec_embedders";
  weights.input_embedders.name = "input_embedders";
  weights.final_modulation.name = "final_layer.modulation";
  weights.final_layer.name = "final_layer";
  weights.double_modulation.resize(config.depth);
  weights.double_blocks.resize(config.depth);
  weights.single_modulation.resize(config.depth_single_blocks);
  weights.single_blocks.resize(config.depth_single_blocks);
  for (int64_t i = 0; i < config.depth; ++i) {
    weights.double_modulation[i].name = "double_blocks." + std::to_string(i) + ".modulation";
    weights.double_blocks[i].name = "double_blocks." + std::to_string(i);
  }
  for (int64_t i = 0; i < config.depth_single_blocks; ++i) {
    weights.single_modulation[i].name = "single_blocks." + std::to_string(i) + ".modulation";
    weights.single_blocks[i].name = "single_blocks." + std::to_string(i);
  }

  for (const auto& [name, shape] : FluxTensorShapes(config)) {
    StoredTensor tensor = source(name, shape);
    auto strip = [&](const std::string& prefix) { return name.substr(prefix.size()); };
    if (StartsWith(name, "time_in.") || StartsWith(name, "vector_in.") ||
        StartsWith(name, "guidance_in.")) {
      weights.vec_embedders.Add(name, std::move(tensor));
    } else if (StartsWith(name, "img_in.") || StartsWith(name, "txt_in.")) {
      weights.input_embedders.Add(name, std::move(tensor));
    } else if (StartsWith(name, "final_layer.adaLN_modulation.1.")) {
      weights.final_modulation.Add(strip("final_layer."), std::move(tensor));
    } else if (StartsWith(name, "final_layer.linear.")) {
      weights.final_layer.Add(strip("final_layer."), std::move(tensor));
    } else {
      const bool is_double = StartsWith(name, "double_blocks.");
      const std::string stem = is_double ? "double_blocks." : "single_blocks.";
      auto dot = name.find('.', stem.size());
      const std::size_t index = std::stoul(name.substr(stem.size(), dot - stem.size()));
      const std::string rest = name.substr(dot + 1);
      const bool is_modulation =
          rest.find("_mod.lin.") != std::string::npos || StartsWith(rest, "modulation.lin.");
      auto& blocks = is_double
                         ? (is_modulation ? weights.double_modulation : weights.double_blocks)
                         : (is_modulation ? weights.single_modulation : weights.single_blocks);
      blocks[index].Add(rest, std::move(tensor));
    }
  }
  return weights;
}

}  // namespace streamdit::engine
