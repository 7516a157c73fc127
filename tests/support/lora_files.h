// LoRA files for tests, written in each format's exact key names (flux-spec.md §7) from random
// low-rank pairs, and the reference they are checked against: the same deltas merged into float32
// copies of the model files (W += scale * up @ down on the pair's rows), computed here from the
// pairs alone, independently of the engine's LoRA code.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "engine/checkpoint/checkpoint.h"
#include "engine/checkpoint/safetensors.h"
#include "engine/tensor/stored_tensor.h"

namespace streamdit::test_support {

enum class LoraFileFormat { kKohya, kDiffusers, kBfl };

// One low-rank pair: its key stem in the file, and where it lands in the model files.
struct LoraPair {
  std::string stem;        // "lora_unet_double_blocks_0_img_attn_qkv", "transformer.x_embedder"
  std::string model_file;  // the model file holding the layer (e.g. "flux1-demo.safetensors")
  std::string weight;      // the layer's weight there ("double_blocks.0.img_attn.qkv.weight")
  int64_t in = 0;          // the layer's inputs
  int64_t rows = 0;        // rows of the layer the pair covers
  int64_t row_offset = 0;  // from this row on
  int64_t rank = 4;
  std::optional<float> alpha;  // kohya: the ".alpha" tensor
  bool bias = false;           // BFL: a ".lora_B.bias"
  bool swap_halves = false;    // diffusers' norm_out: the file's halves are the model's swapped
  int64_t split = 1;  // kohya split_qkv: n sub-pairs saved as down [n*r, in], up block-diagonal
};

struct WrittenPair {
  LoraPair pair;
  torch::Tensor down, up, bias;  // float32, as written (up block-diagonal for split files)
  double scale = 1.0;            // the format's scale (alpha / rows of down, or 1)
};

// Writes the pairs as a LoRA file of `format`; `peft_alpha` goes into the diffusers metadata as
// "<component>.lora_alpha" for every component. Tensors are stored as `storage` (F32 or BF16;
// the returned tensors hold the stored values).
inline std::vector<WrittenPair> WriteLoraFile(const std::string& path, LoraFileFormat format,
                                              const std::vector<LoraPair>& pairs, uint64_t seed,
                                              std::optional<double> peft_alpha = std::nullopt,
                                              engine::DType storage = engine::DType::kF32) {
  torch::manual_seed(seed);
  engine::SafetensorsWriter writer;
  std::vector<WrittenPair> written;
  const bool kohya = format == LoraFileFormat::kKohya;
  for (const LoraPair& pair : pairs) {
    WrittenPair w;
    w.pair = pair;
    const int64_t r = pair.rank * pair.split;
    w.down = torch::randn({r, pair.in}) * 0.2;
    if (pair.split == 1) {
      w.up = torch::randn({pair.rows, r}) * 0.2;
    } else {  // n sub-pairs: sub-pair i maps rows [i * rows/n, (i+1) * rows/n) from its own rank
      w.up = torch::zeros({pair.rows, r});
      const int64_t part = pair.rows / pair.split;
      for (int64_t i = 0; i < pair.split; ++i) {
        w.up.slice(0, i * part, (i + 1) * part).slice(1, i * pair.rank, (i + 1) * pair.rank) =
            torch::randn({part, pair.rank}) * 0.2;
      }
    }
    if (pair.bias) w.bias = torch::randn({pair.rows}) * 0.1;
    if (storage != engine::DType::kF32) {  // the values the file holds
      auto round = [&](torch::Tensor& t) {
        if (t.defined()) t = t.to(engine::ToScalarType(storage)).to(torch::kFloat);
      };
      round(w.down);
      round(w.up);
      round(w.bias);
    }
    const std::string down_key = pair.stem + (kohya ? ".lora_down.weight" : ".lora_A.weight");
    const std::string up_key = pair.stem + (kohya ? ".lora_up.weight" : ".lora_B.weight");
    engine::AddTensor(writer, down_key, w.down, storage);
    engine::AddTensor(writer, up_key, w.up, storage);
    if (pair.bias) engine::AddTensor(writer, pair.stem + ".lora_B.bias", w.bias, storage);
    if (kohya && pair.alpha) {
      engine::AddTensor(writer, pair.stem + ".alpha", torch::tensor({*pair.alpha}),
                        engine::DType::kF32);
    }
    if (kohya && pair.alpha && *pair.alpha != 0) w.scale = *pair.alpha / double(r);
    if (format == LoraFileFormat::kDiffusers && peft_alpha) w.scale = *peft_alpha / double(r);
    written.push_back(std::move(w));
  }
  if (format == LoraFileFormat::kDiffusers && peft_alpha) {
    const std::string a = std::to_string(*peft_alpha);
    writer.SetMetadata("lora_adapter_metadata", "{\"transformer.lora_alpha\": " + a +
                                                    ", \"text_encoder.lora_alpha\": " + a +
                                                    ", \"text_encoder_2.lora_alpha\": " + a + "}");
  }
  writer.Write(path);
  return written;
}

// Copies the model folder `from` into `to` with every pair of `loras` (each at its strength)
// merged into float32 copies of the layers it targets; every other tensor and file is copied as
// it is.
inline void WriteMergedModel(
    const std::string& from, const std::string& to,
    const std::vector<std::pair<std::vector<WrittenPair>, double>>& loras) {
  namespace fs = std::filesystem;
  fs::create_directories(to);
  std::map<std::string, std::map<std::string, torch::Tensor>> merged;  // file -> tensor -> value
  for (const auto& [pairs, strength] : loras) {
    for (const WrittenPair& w : pairs) {
      const std::string& file = w.pair.model_file;
      if (!merged[file].count(w.pair.weight)) {
        engine::Checkpoint model = engine::Checkpoint::Open((fs::path(from) / file).string());
        merged[file][w.pair.weight] =
            engine::Materialize(engine::ViewStored(model.Require(w.pair.weight)), torch::kFloat,
                                torch::kCPU)
                .clone();
        const std::string bias = w.pair.weight.substr(0, w.pair.weight.size() - 7) + ".bias";
        if (w.bias.defined()) {
          merged[file][bias] = engine::Materialize(engine::ViewStored(model.Require(bias)),
                                                   torch::kFloat, torch::kCPU)
                                   .clone();
        }
      }
      torch::Tensor delta =
          (w.up.to(torch::kDouble).matmul(w.down.to(torch::kDouble)) * (w.scale * strength))
              .to(torch::kFloat);
      torch::Tensor bias_delta =
          w.bias.defined() ? (w.bias.to(torch::kDouble) * (w.scale * strength)).to(torch::kFloat)
                           : torch::Tensor();
      if (w.pair.swap_halves) {
        auto halves = delta.chunk(2, 0);
        delta = torch::cat({halves[1], halves[0]}, 0);
      }
      merged[file][w.pair.weight].slice(0, w.pair.row_offset, w.pair.row_offset + w.pair.rows) +=
          delta;
      if (bias_delta.defined()) {
        const std::string bias = w.pair.weight.substr(0, w.pair.weight.size() - 7) + ".bias";
        merged[file][bias].slice(0, w.pair.row_offset, w.pair.row_offset + w.pair.rows) +=
            bias_delta;
      }
    }
  }
  for (const auto& entry : fs::directory_iterator(from)) {
    const std::string name = entry.path().filename().string();
    const fs::path target = fs::path(to) / name;
    auto changed = merged.find(name);
    if (changed == merged.end()) {
      fs::copy_file(entry.path(), target, fs::copy_options::overwrite_existing);
      continue;
    }
    engine::Checkpoint model = engine::Checkpoint::Open(entry.path().string());
    engine::SafetensorsWriter writer;
    for (const auto& [key, value] : model.metadata()) writer.SetMetadata(key, value);
    for (const std::string& tensor : model.Names()) {
      auto value = changed->second.find(tensor);
      if (value != changed->second.end()) {
        engine::AddTensor(writer, tensor, value->second, engine::DType::kF32);
        continue;
      }
      const engine::TensorRef ref = model.Require(tensor);
      writer.Add(tensor, ref.info->dtype, ref.info->shape, ref.file->Data(*ref.info),
                 ref.info->nbytes());
    }
    writer.Write(target.string());
  }
}

}  // namespace streamdit::test_support
