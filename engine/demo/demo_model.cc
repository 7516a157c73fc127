#include "engine/demo/demo_model.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/types.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "engine/checkpoint/safetensors.h"
#include "engine/demo/demo_corpus.h"
#include "engine/flux/flux_config.h"
#include "engine/flux/flux_weights.h"
#include "engine/status/file_error.h"
#include "engine/status/status_error.h"
#include "engine/tensor/stored_tensor.h"
#include "engine/text/clip_bpe_trainer.h"
#include "engine/text/t5_tokenizer_trainer.h"

namespace streamdit::engine {
namespace fs = std::filesystem;
namespace {

// Draws every tensor of one file from its own generator, in a fixed order, so that each file's
// bytes depend only on the sizes and the seed.
class RandomWeights {
 public:
  explicit RandomWeights(uint64_t seed) : generator_(at::detail::createCPUGenerator(seed)) {}

  torch::Tensor Normal(const std::vector<int64_t>& shape, double std_dev, double mean = 0.0) {
    torch::Tensor value = at::randn(shape, generator_, torch::kFloat);
    return value.mul_(std_dev).add_(mean);
  }
  // Fan-in scaled: the output of x @ W.T keeps x's magnitude (times `gain`).
  torch::Tensor FanIn(const std::vector<int64_t>& shape, double gain = 1.0) {
    int64_t fan_in = 1;
    for (std::size_t i = 1; i < shape.size(); ++i) fan_in *= shape[i];
    return Normal(shape, gain / std::sqrt(static_cast<double>(fan_in)));
  }

 private:
  at::Generator generator_;
};

bool EndsWith(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() &&
         text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

FluxConfig TransformerConfig(const DemoModelSizes& s) {
  if (s.hidden % s.head_dim != 0) {
    throw InvalidArgument("hidden (" + std::to_string(s.hidden) +
                          ") must be a multiple of head_dim (" + std::to_string(s.head_dim) + ")");
  }
  int64_t axes_sum = 0;
  for (int64_t axis : s.axes_dim) axes_sum += axis;
  if (axes_sum != s.head_dim) {
    throw InvalidArgument("axes_dim must sum to head_dim " + std::to_string(s.head_dim));
  }
  FluxConfig c;
  c.in_channels = 64;
  c.out_channels = 64;
  c.vec_in_dim = s.clip_hidden;
  c.context_in_dim = s.t5_d_model;
  c.hidden_size = s.hidden;
  c.head_dim = s.head_dim;
  c.num_heads = s.hidden / s.head_dim;
  c.mlp_hidden = s.hidden * s.mlp_ratio;
  c.depth = s.double_blocks;
  c.depth_single_blocks = s.single_blocks;
  c.guidance_embed = s.guidance_embed;
  c.qkv_bias = true;
  c.axes_dim = s.axes_dim;
  c.theta = 10000;
  return c;
}

void WriteTransformer(const std::string& path, const DemoModelSizes& s) {
  const FluxConfig config = TransformerConfig(s);
  RandomWeights random(s.seed + 1);
  SafetensorsWriter writer;
  writer.SetMetadata(kFluxConfigMetadataKey, config.RopeMetadataJson());
  writer.SetMetadata("streamdit_demo", "random weights; see engine/demo/demo_model.h");
  for (const auto& [name, shape] : FluxTensorShapes(config)) {
    torch::Tensor value;
    if (EndsWith(name, ".scale")) {
      value = torch::ones(shape);  // RMSNorm scales of the QK norms
    } else if (EndsWith(name, ".bias")) {
      value = random.Normal(shape, 0.02);
    } else if (name.find("final_layer.linear") == 0) {
      value = random.FanIn(shape, 0.5);
    } else {
      value = random.FanIn(shape);
    }
    AddTensor(writer, name, value, DType::kBF16);
  }
  writer.Write(path);
}

void WriteT5(const std::string& path, const DemoModelSizes& s) {
  RandomWeights random(s.seed + 2);
  SafetensorsWriter writer;
  const int64_t d = s.t5_d_model;
  const int64_t inner = s.t5_heads * s.t5_d_kv;
  // Like T5's 32128 rows for 32100 usable ids: the table rounds the pieces up.
  const int64_t vocab_rows = (s.t5_vocab_pieces + 127) / 128 * 128;
  auto add = [&](const std::string& name, const torch::Tensor& value) {
    AddTensor(writer, name, value, DType::kF16);
  };
  add("shared.weight", random.Normal({vocab_rows, d}, 1.0));
  for (int64_t i = 0; i < s.t5_layers; ++i) {
    const std::string block = "encoder.block." + std::to_string(i) + ".";
    add(block + "layer.0.SelfAttention.q.weight", random.FanIn({inner, d}));
    add(block + "layer.0.SelfAttention.k.weight", random.FanIn({inner, d}));
    add(block + "layer.0.SelfAttention.v.weight", random.FanIn({inner, d}));
    add(block + "layer.0.SelfAttention.o.weight", random.FanIn({d, inner}, 0.5));
    if (i == 0) {
      add(block + "layer.0.SelfAttention.relative_attention_bias.weight",
          random.Normal({32, s.t5_heads}, 0.5));
    }
    add(block + "layer.0.layer_norm.weight", torch::ones({d}));
    add(block + "layer.1.DenseReluDense.wi_0.weight", random.FanIn({s.t5_d_ff, d}));
    add(block + "layer.1.DenseReluDense.wi_1.weight", random.FanIn({s.t5_d_ff, d}));
    add(block + "layer.1.DenseReluDense.wo.weight", random.FanIn({d, s.t5_d_ff}, 0.5));
    add(block + "layer.1.layer_norm.weight", torch::ones({d}));
  }
  add("encoder.final_layer_norm.weight", torch::ones({d}));
  writer.Write(path);
}

void WriteClip(const std::string& path, int64_t vocab, const DemoModelSizes& s) {
  if (s.clip_hidden % 64 != 0) {
    throw InvalidArgument("clip_hidden must be a multiple of CLIP's head size 64");
  }
  RandomWeights random(s.seed + 3);
  SafetensorsWriter writer;
  const int64_t h = s.clip_hidden;
  auto add = [&](const std::string& name, const torch::Tensor& value) {
    AddTensor(writer, "text_model." + name, value, DType::kF16);
  };
  add("embeddings.token_embedding.weight", random.Normal({vocab, h}, 0.5));
  add("embeddings.position_embedding.weight", random.Normal({77, h}, 0.1));
  for (int64_t i = 0; i < s.clip_layers; ++i) {
    const std::string layer = "encoder.layers." + std::to_string(i) + ".";
    for (const char* projection : {"k_proj", "v_proj", "q_proj", "out_proj"}) {
      add(layer + "self_attn." + projection + ".weight", random.FanIn({h, h}));
      add(layer + "self_attn." + projection + ".bias", random.Normal({h}, 0.02));
    }
    add(layer + "layer_norm1.weight", torch::ones({h}));
    add(layer + "layer_norm1.bias", torch::zeros({h}));
    add(layer + "mlp.fc1.weight", random.FanIn({s.clip_intermediate, h}));
    add(layer + "mlp.fc1.bias", random.Normal({s.clip_intermediate}, 0.02));
    add(layer + "mlp.fc2.weight", random.FanIn({h, s.clip_intermediate}, 0.5));
    add(layer + "mlp.fc2.bias", random.Normal({h}, 0.02));
    add(layer + "layer_norm2.weight", torch::ones({h}));
    add(layer + "layer_norm2.bias", torch::zeros({h}));
  }
  add("final_layer_norm.weight", torch::ones({h}));
  add("final_layer_norm.bias", torch::zeros({h}));
  writer.Write(path);
}

// The autoencoder in BFL's ae.safetensors layout (flux-spec.md §4): encoder and decoder, although
// only the decoder runs for text-to-image.
class AeWriter {
 public:
  AeWriter(const DemoModelSizes& s) : s_(s), random_(s.seed + 4) {}

  void Write(const std::string& path) {
    const int64_t levels = static_cast<int64_t>(s_.vae_ch_mult.size());
    auto width = [&](int64_t level) { return s_.vae_ch * s_.vae_ch_mult[level]; };
    const int64_t mid = width(levels - 1);
    const int64_t z = 16;

    // Encoder: conv_in, down levels (resnets + downsample but at the last), mid, norm, conv_out
    // to mean and log-variance.
    Conv("encoder.conv_in", s_.vae_ch, 3, 3);
    int64_t in = s_.vae_ch;
    for (int64_t level = 0; level < levels; ++level) {
      const std::string down = "encoder.down." + std::to_string(level);
      for (int64_t j = 0; j < s_.vae_num_res_blocks; ++j) {
        Resnet(down + ".block." + std::to_string(j), in, width(level));
        in = width(level);
      }
      if (level != levels - 1) Conv(down + ".downsample.conv", in, in, 3);
    }
    Mid("encoder.mid", mid);
    Norm("encoder.norm_out", mid);
    Conv("encoder.conv_out", 2 * z, mid, 3);

    // Decoder: conv_in, mid, up levels from the deepest, norm, conv_out.
    Conv("decoder.conv_in", mid, z, 3);
    Mid("decoder.mid", mid);
    in = mid;
    for (int64_t level = levels - 1; level >= 0; --level) {
      const std::string up = "decoder.up." + std::to_string(level);
      for (int64_t j = 0; j < s_.vae_num_res_blocks + 1; ++j) {
        Resnet(up + ".block." + std::to_string(j), in, width(level));
        in = width(level);
      }
      if (level != 0) Conv(up + ".upsample.conv", in, in, 3);
    }
    Norm("decoder.norm_out", width(0));
    Conv("decoder.conv_out", 3, width(0), 3, 0.5);
    writer_.Write(path);
  }

 private:
  void Add(const std::string& name, const torch::Tensor& value) {
    AddTensor(writer_, name, value, DType::kF32);
  }
  void Conv(const std::string& name, int64_t out, int64_t in, int64_t kernel, double gain = 1.0) {
    Add(name + ".weight", random_.FanIn({out, in, kernel, kernel}, gain));
    Add(name + ".bias", random_.Normal({out}, 0.05));
  }
  void Norm(const std::string& name, int64_t channels) {
    Add(name + ".weight", random_.Normal({channels}, 0.1, 1.0));
    Add(name + ".bias", random_.Normal({channels}, 0.1));
  }
  void Resnet(const std::string& name, int64_t in, int64_t out) {
    Norm(name + ".norm1", in);
    Conv(name + ".conv1", out, in, 3);
    Norm(name + ".norm2", out);
    Conv(name + ".conv2", out, out, 3, 0.5);
    if (in != out) Conv(name + ".nin_shortcut", out, in, 1);
  }
  void Mid(const std::string& name, int64_t channels) {
    Resnet(name + ".block_1", channels, channels);
    Norm(name + ".attn_1.norm", channels);
    for (const char* projection : {"q", "k", "v", "proj_out"}) {
      Conv(name + ".attn_1." + projection, channels, channels, 1);
    }
    Resnet(name + ".block_2", channels, channels);
  }

  const DemoModelSizes& s_;
  RandomWeights random_;
  SafetensorsWriter writer_;
};

// The corpus text: the file at `path`, or the embedded corpus when `path` is empty.
std::string ReadCorpus(const std::string& path) {
  if (path.empty()) return std::string(EmbeddedDemoCorpus());
  std::ifstream in(path, std::ios::binary);
  if (!in) throw NotFound("cannot read the demo corpus " + path);
  std::ostringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

std::vector<std::string> NonEmptyLines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream stream(text);
  for (std::string line; std::getline(stream, line);) {
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

void WriteText(const std::string& path, const std::string& text) {
  const std::string temporary = path + ".tmp";
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out.flush()) throw FileError("cannot write", temporary, errno);
  }
  std::error_code error;
  fs::rename(temporary, path, error);
  if (error) throw FileError("cannot rename " + temporary + " to", path, error);
}

const std::vector<std::string>& DemoFiles() {
  static const std::vector<std::string> files = {kDemoTransformerFile, kDemoAeFile,    kDemoT5File,
                                                 kDemoClipFile,        "spiece.model", "vocab.json",
                                                 "merges.txt"};
  return files;
}

}  // namespace

std::vector<std::string> WriteDemoModel(const std::string& directory,
                                        const std::string& corpus_path,
                                        const DemoModelSizes& sizes) {
  std::error_code error;
  fs::create_directories(directory, error);
  if (error) throw FileError("cannot create", directory, error);
  const fs::path dir(directory);
  const std::string corpus = ReadCorpus(corpus_path);
  const std::vector<std::string> sentences = NonEmptyLines(corpus);

  const std::string spiece = TrainT5SentencePiece(sentences, sizes.t5_vocab_pieces);
  WriteText((dir / "spiece.model").string(), spiece);
  const ClipBpeFiles bpe = TrainClipBpe(corpus, sizes.clip_merges);
  WriteText((dir / "vocab.json").string(), bpe.vocab_json);
  WriteText((dir / "merges.txt").string(), bpe.merges_txt);
  // 256 bytes, 256 bytes + </w>, one token per merge, then the two specials.
  const int64_t clip_vocab = 512 + bpe.num_merges + 2;

  WriteTransformer((dir / kDemoTransformerFile).string(), sizes);
  AeWriter(sizes).Write((dir / kDemoAeFile).string());
  WriteT5((dir / kDemoT5File).string(), sizes);
  WriteClip((dir / kDemoClipFile).string(), clip_vocab, sizes);

  std::vector<std::string> written;
  for (const std::string& name : DemoFiles()) written.push_back((dir / name).string());
  return written;
}

bool DemoModelExists(const std::string& directory) {
  std::error_code error;
  for (const std::string& name : DemoFiles()) {
    if (!fs::is_regular_file(fs::path(directory) / name, error)) return false;
  }
  return true;
}

}  // namespace streamdit::engine
