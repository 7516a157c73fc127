// A LoRA file as the engine applies it: every low-rank pair mapped onto a linear layer of the
// model it was checked against (component, weight block, module within the block, and the rows of
// a fused layer it adds to), whatever the file's format (lora_loader.h). The tensors are views of
// the memory-mapped file in its own dtype; a job converts the ones it uses to its compute dtype
// on its device (lora_job_adapters.h). Immutable once loaded: any number of jobs share one.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "engine/checkpoint/checkpoint.h"
#include "engine/pipeline/weight_provider_factory.h"

namespace streamdit::engine {

enum class LoraFormat {
  kKohya,      // sd-scripts / ComfyUI: lora_unet_*, lora_te1_*, lora_te3_*; lora_down/lora_up/alpha
  kDiffusers,  // diffusers / PEFT: transformer.*, text_encoder.*, text_encoder_2.*; lora_A/lora_B
  kBfl,        // Black Forest Labs: <BFL module>.lora_A/.lora_B(+ .lora_B.bias), scale 1
};
const char* LoraFormatName(LoraFormat format);

struct LoraModule {
  PipelineComponent component = PipelineComponent::kTransformer;
  std::string block;       // WeightBlock::name, e.g. "double_blocks.0" or "encoder.layers.3"
  std::string module;      // the linear within the block, e.g. "img_attn.qkv"
  std::string key;         // the file's key stem, for messages ("lora_unet_double_blocks_0_...")
  int64_t row_offset = 0;  // the first output feature it adds to (to_k of a fused qkv: hidden)
  torch::Tensor down;      // [rank, in] (lora_down / lora_A)
  torch::Tensor up;        // [rows, rank] (lora_up / lora_B)
  torch::Tensor up_bias;   // [rows] (BFL's lora_B.bias), or undefined
  double scale = 1.0;      // alpha / rank (kohya, PEFT); 1 (BFL)

  int64_t rank() const { return down.size(0); }
};

class LoraAdapter {
 public:
  LoraAdapter(std::string name, std::string path, LoraFormat format, Checkpoint file,
              std::vector<LoraModule> modules);

  const std::string& name() const { return name_; }
  // Unique in the process: every load of a file (for each model) is another adapter. Names what
  // the adapter holds for caches keyed across rescans.
  uint64_t serial() const { return serial_; }
  const std::string& path() const { return path_; }
  LoraFormat format() const { return format_; }
  const std::vector<LoraModule>& modules() const { return modules_; }

  // The largest rank among its modules.
  int64_t max_rank() const;
  // The modules of a component, and whether it has any.
  bool targets(PipelineComponent component) const;
  // The bytes of its tensors for `component` in `compute` dtype on `device`, as the device's
  // allocator counts them (ResidentWeights' rule: each tensor with the allocator's overhead).
  int64_t DeviceBytes(PipelineComponent component, torch::ScalarType compute,
                      torch::Device device) const;
  // Bytes of the file's tensors as stored.
  int64_t stored_bytes() const;
  // The kinds of layer it targets, e.g. {"double_blocks", "single_blocks", "t5"}: for listings.
  std::vector<std::string> TargetSummary() const;
  // Identifies what it does to the text encoders (content hash of their tensors and scales);
  // empty when it has none. Part of the prompt-embedding cache key.
  const std::string& text_fingerprint() const { return text_fingerprint_; }

 private:
  std::string name_;
  uint64_t serial_ = 0;
  std::string path_;
  LoraFormat format_;
  Checkpoint file_;  // keeps the mapping behind the tensor views alive
  std::vector<LoraModule> modules_;
  std::string text_fingerprint_;
};

}  // namespace streamdit::engine
