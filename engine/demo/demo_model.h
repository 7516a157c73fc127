// The demo model: a complete, small FLUX.1 model set with the real files' names and layouts, so
// that the whole pipeline (and the server) runs on a laptop CPU without downloading 30 GB:
//   flux1-demo.safetensors   transformer, BFL layout, BF16 (as flux1-dev.safetensors)
//   ae.safetensors           autoencoder (encoder + decoder), BFL layout, F32
//   t5xxl_fp16.safetensors   T5 v1.1 encoder, HF T5EncoderModel layout, F16
//   clip_l.safetensors       CLIP text model, HF CLIPTextModel layout, F16
//   spiece.model             SentencePiece unigram trained on assets/demo_corpus.txt (compiled
//                            into the engine: engine/demo/demo_corpus.h)
//   vocab.json, merges.txt   CLIP byte-level BPE trained on the same corpus
// Weights are random (fan-in scaled so activations stay O(1)): the demo shows the machinery, not
// art. Everything is deterministic: the same sizes and corpus give the same bytes on every run.
// What the shapes cannot tell (RoPE axes and theta) is recorded in the transformer's metadata.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace streamdit::engine {

struct DemoModelSizes {
  // Transformer: 4 heads of 64, RoPE axes summing to 64.
  int64_t hidden = 256;
  int64_t head_dim = 64;
  std::vector<int64_t> axes_dim = {8, 28, 28};
  int64_t mlp_ratio = 4;
  int64_t double_blocks = 2;
  int64_t single_blocks = 4;
  bool guidance_embed = true;  // dev-like
  // T5 v1.1 encoder.
  int64_t t5_d_model = 128;
  int64_t t5_heads = 4;
  int64_t t5_d_kv = 32;
  int64_t t5_d_ff = 256;
  int64_t t5_layers = 2;
  int t5_vocab_pieces = 1000;  // SentencePiece pieces; embedding rows round up to 128
  // CLIP text model (head size 64 is fixed by the layout).
  int64_t clip_hidden = 128;
  int64_t clip_layers = 2;
  int64_t clip_intermediate = 512;
  int clip_merges = 2000;
  // VAE: the real level structure (ch_mult [1,2,4,4] -> 8x upsampling) at a small width.
  int64_t vae_ch = 32;
  std::vector<int64_t> vae_ch_mult = {1, 2, 4, 4};
  int64_t vae_num_res_blocks = 1;
  uint64_t seed = 20240801;
};

inline constexpr const char* kDemoTransformerFile = "flux1-demo.safetensors";
inline constexpr const char* kDemoAeFile = "ae.safetensors";
inline constexpr const char* kDemoT5File = "t5xxl_fp16.safetensors";
inline constexpr const char* kDemoClipFile = "clip_l.safetensors";

// Writes the model set into `directory` (created if needed; existing files are replaced
// atomically). The tokenizers are trained on the text of `corpus_path`, or on the corpus compiled
// into the engine when it is empty (so no file lookup: this works from any folder). Returns the
// paths written. Throws a StatusError naming the file on I/O failure (NOT_FOUND for a corpus file
// that cannot be read), INVALID_ARGUMENT for inconsistent sizes.
std::vector<std::string> WriteDemoModel(const std::string& directory,
                                        const std::string& corpus_path = "",
                                        const DemoModelSizes& sizes = {});

// True when `directory` holds every file WriteDemoModel writes.
bool DemoModelExists(const std::string& directory);

}  // namespace streamdit::engine
