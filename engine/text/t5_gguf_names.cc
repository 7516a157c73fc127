#include "engine/text/t5_gguf_names.h"

#include <array>
#include <cstdlib>
#include <utility>

#include "engine/checkpoint/checkpoint_error.h"

namespace streamdit::engine {
namespace {

constexpr char kBlockPrefix[] = "enc.blk.";

// llama.cpp's per-block tensor names (after "enc.blk.N.") and HF's (after "encoder.block.N.").
constexpr std::array<std::pair<const char*, const char*>, 10> kBlockNames = {{
    {"attn_norm.weight", "layer.0.layer_norm.weight"},
    {"attn_q.weight", "layer.0.SelfAttention.q.weight"},
    {"attn_k.weight", "layer.0.SelfAttention.k.weight"},
    {"attn_v.weight", "layer.0.SelfAttention.v.weight"},
    {"attn_o.weight", "layer.0.SelfAttention.o.weight"},
    {"attn_rel_b.weight", "layer.0.SelfAttention.relative_attention_bias.weight"},
    {"ffn_norm.weight", "layer.1.layer_norm.weight"},
    {"ffn_gate.weight", "layer.1.DenseReluDense.wi_0.weight"},
    {"ffn_up.weight", "layer.1.DenseReluDense.wi_1.weight"},
    {"ffn_down.weight", "layer.1.DenseReluDense.wo.weight"},
}};

bool StartsWith(const std::string& text, const char* prefix) { return text.rfind(prefix, 0) == 0; }

}  // namespace

std::string HfT5NameOf(const std::string& name) {
  if (name == "token_embd.weight") return "shared.weight";
  if (name == "enc.output_norm.weight") return "encoder.final_layer_norm.weight";
  if (!StartsWith(name, kBlockPrefix)) return "";
  const char* digits = name.c_str() + sizeof(kBlockPrefix) - 1;
  char* end = nullptr;
  const long long index = std::strtoll(digits, &end, 10);
  if (end == digits || *end != '.' || index < 0 || digits[0] == '+' || digits[0] == '-') return "";
  const std::string tensor(end + 1);
  for (const auto& [llama_cpp, hf] : kBlockNames) {
    if (tensor == llama_cpp) return "encoder.block." + std::to_string(index) + "." + hf;
  }
  return "";
}

Checkpoint WithHfT5Names(const Checkpoint& checkpoint) {
  const GgufFile* gguf = checkpoint.gguf();
  if (gguf == nullptr) return checkpoint;
  constexpr char kKey[] = "general.architecture";
  if (gguf->FindMetadata(kKey) != nullptr) {
    const std::string architecture = gguf->GetString(kKey);  // names file and key if no string
    if (architecture != "t5encoder" && architecture != "t5") {
      throw CheckpointError(CheckpointError::Code::kUnrecognizedLayout, checkpoint.description(),
                            kKey,
                            "GGUF architecture is '" + architecture +
                                "', not a T5 encoder (expected 't5encoder' or 't5')");
    }
  }
  if (!checkpoint.Has("enc.blk.0.attn_q.weight")) return checkpoint;  // HF's names already
  return checkpoint.Renamed(HfT5NameOf);
}

}  // namespace streamdit::engine
