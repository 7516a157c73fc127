#include "engine/vae/vae_checkpoint.h"

#include <nlohmann/json.hpp>
#include <numeric>
#include <optional>
#include <utility>

#include "engine/checkpoint/checkpoint_error.h"
#include "engine/checkpoint/shape_string.h"
#include "engine/status/status_error.h"
#include "engine/tensor/stored_tensor.h"

namespace streamdit::engine {
namespace {

constexpr const char* kConvInProbe = "decoder.conv_in.weight";
// Upper bound on levels and resnets probed; real VAEs have 4 levels of 3 resnets.
constexpr int64_t kMaxProbe = 64;

bool StartsWith(const std::string& text, const std::string& head) {
  return text.compare(0, head.size(), head) == 0;
}

// Maps a BFL decoder key (relative to "decoder.") to its diffusers name (DIF single_file_utils
// convert_ldm_vae_checkpoint, read in reverse).
std::string ToDiffusersKey(const std::string& bfl, int64_t num_levels) {
  static const std::vector<std::pair<std::string, std::string>> kFixed = {
      {"mid.block_1.", "mid_block.resnets.0."},
      {"mid.block_2.", "mid_block.resnets.1."},
      {"mid.attn_1.norm.", "mid_block.attentions.0.group_norm."},
      {"mid.attn_1.q.", "mid_block.attentions.0.to_q."},
      {"mid.attn_1.k.", "mid_block.attentions.0.to_k."},
      {"mid.attn_1.v.", "mid_block.attentions.0.to_v."},
      {"mid.attn_1.proj_out.", "mid_block.attentions.0.to_out.0."},
      {"norm_out.", "conv_norm_out."},
  };
  std::string key = bfl;
  for (const auto& [from, to] : kFixed) {
    if (StartsWith(key, from)) {
      key = to + key.substr(from.size());
      break;
    }
  }
  if (StartsWith(key, "up.")) {
    // up.{level}.block.{j}.rest -> up_blocks.{L-1-level}.resnets.{j}.rest
    // up.{level}.upsample.rest  -> up_blocks.{L-1-level}.upsamplers.0.rest
    const std::size_t level_end = key.find('.', 3);
    const int64_t level = std::stoll(key.substr(3, level_end - 3));
    std::string rest = key.substr(level_end + 1);
    if (StartsWith(rest, "block.")) {
      rest = "resnets." + rest.substr(6);
    } else if (StartsWith(rest, "upsample.")) {
      rest = "upsamplers.0." + rest.substr(9);
    }
    key = "up_blocks." + std::to_string(num_levels - 1 - level) + "." + rest;
  }
  const std::string kShortcut = "nin_shortcut.";
  const std::size_t at = key.find(kShortcut);
  if (at != std::string::npos) key.replace(at, kShortcut.size(), "conv_shortcut.");
  return key;
}

int64_t ParseNormGroups(const Checkpoint& checkpoint) {
  const auto& metadata = checkpoint.metadata();
  const auto it = metadata.find("vae_config");
  if (it == metadata.end()) return 32;
  const auto unreadable = [&](const std::string& why) {
    return CheckpointError(CheckpointError::Code::kInvalidEntry, checkpoint.description(),
                           "__metadata__.vae_config", "unreadable vae_config: " + why);
  };
  int64_t groups = 0;
  try {
    const nlohmann::json config = nlohmann::json::parse(it->second);
    if (!config.is_object()) throw unreadable("not a JSON object");
    if (!config.contains("norm_groups")) return 32;
    groups = config.at("norm_groups").get<int64_t>();
  } catch (const nlohmann::json::exception& e) {
    throw unreadable(e.what());
  }
  if (groups <= 0) throw unreadable("norm_groups must be positive, got " + std::to_string(groups));
  return groups;
}

// Resolves keys for one layout under one prefix and builds the blocks.
class DecoderReader {
 public:
  DecoderReader(Checkpoint checkpoint, std::string prefix, VaeLayout layout)
      : full_(std::move(checkpoint)),
        prefix_(std::move(prefix)),
        view_(full_.WithPrefix(prefix_)),
        layout_(layout) {}

  void set_num_levels(int64_t levels) { num_levels_ = levels; }

  // The checkpoint key (without the file-level prefix) of a BFL decoder key.
  std::string Key(const std::string& bfl) const {
    return "decoder." + (layout_ == VaeLayout::kBfl ? bfl : ToDiffusersKey(bfl, num_levels_));
  }
  bool Has(const std::string& bfl) const { return view_.Has(Key(bfl)); }
  std::vector<int64_t> Shape(const std::string& bfl) const {
    return view_.Require(Key(bfl)).info->shape;
  }

  void Add(WeightBlock& block, const std::string& name, const std::string& bfl,
           const std::vector<int64_t>& shape) const {
    block.Add(name, ViewStored(view_.RequireShape(Key(bfl), shape)));
  }

  // 1x1 convs in BFL ([C, C, 1, 1]), linears in diffusers ([C, C]); either is accepted in either
  // layout and held as [C, C].
  void AddSquare(WeightBlock& block, const std::string& name, const std::string& bfl,
                 int64_t channels) const {
    const TensorRef ref = view_.Require(Key(bfl));
    const std::vector<int64_t>& shape = ref.info->shape;
    const bool is_linear = shape == std::vector<int64_t>{channels, channels};
    const bool is_conv = shape == std::vector<int64_t>{channels, channels, 1, 1};
    if (!is_linear && !is_conv) {
      throw CheckpointError(
          CheckpointError::Code::kBadShape, full_.description(), prefix_ + Key(bfl),
          "expected " + ShapeString({channels, channels}) + " or " +
              ShapeString({channels, channels, 1, 1}) + ", found " + ShapeString(shape));
    }
    StoredTensor stored = ViewStored(ref);
    stored.data = stored.data.reshape({channels, channels});
    block.Add(name, std::move(stored));
  }

  void AddNorm(WeightBlock& block, const std::string& name, const std::string& bfl,
               int64_t channels) const {
    Add(block, name + ".weight", bfl + ".weight", {channels});
    Add(block, name + ".bias", bfl + ".bias", {channels});
  }

  void AddConv(WeightBlock& block, const std::string& name, const std::string& bfl, int64_t out,
               int64_t in, int64_t kernel) const {
    Add(block, name + ".weight", bfl + ".weight", {out, in, kernel, kernel});
    Add(block, name + ".bias", bfl + ".bias", {out});
  }

  // BFL ResnetBlock: norm1, conv1 in->out, norm2, conv2 out->out, nin_shortcut 1x1 when in != out
  // (taken whenever present, so a checkpoint with a redundant shortcut still decodes as stored).
  void AddResnet(WeightBlock& block, const std::string& name, const std::string& bfl, int64_t in,
                 int64_t out) const {
    AddNorm(block, name + ".norm1", bfl + ".norm1", in);
    AddConv(block, name + ".conv1", bfl + ".conv1", out, in, 3);
    AddNorm(block, name + ".norm2", bfl + ".norm2", out);
    AddConv(block, name + ".conv2", bfl + ".conv2", out, out, 3);
    if (in != out || Has(bfl + ".nin_shortcut.weight")) {
      AddConv(block, name + ".nin_shortcut", bfl + ".nin_shortcut", out, in, 1);
    }
  }

  const Checkpoint& full() const { return full_; }
  const std::string& prefix() const { return prefix_; }
  const Checkpoint& view() const { return view_; }

 private:
  Checkpoint full_;
  std::string prefix_;
  Checkpoint view_;
  VaeLayout layout_;
  int64_t num_levels_ = 0;
};

void CheckGroups(const DecoderReader& reader, const VaeDecoderConfig& config) {
  std::vector<int64_t> widths = {config.mid_channels()};
  for (int64_t level = 0; level < config.num_levels(); ++level) {
    widths.push_back(config.level_channels(level));
  }
  for (int64_t width : widths) {
    if (width % config.norm_groups != 0) {
      throw CheckpointError(
          CheckpointError::Code::kBadShape, reader.full().description(),
          reader.prefix() + "decoder",
          "GroupNorm groups " + std::to_string(config.norm_groups) + " do not divide " +
              std::to_string(width) +
              " channels (a small test VAE may set vae_config.norm_groups in __metadata__)");
    }
  }
}

}  // namespace

std::string VaeUpBlockName(int64_t level) { return "up." + std::to_string(level); }

const char* VaeLayoutName(VaeLayout layout) {
  return layout == VaeLayout::kBfl ? "bfl" : "diffusers";
}

int64_t VaeDecoderWeights::parameter_count() const {
  int64_t count = 0;
  for (const WeightBlock& block : blocks) {
    for (const auto& entry : block.tensors) count += entry.second.numel();
  }
  return count;
}

VaeDecoderWeights LoadVaeDecoderWeights(const Checkpoint& checkpoint,
                                        std::optional<int64_t> norm_groups) {
  const std::optional<std::string> prefix = checkpoint.DetectPrefix(key_prefix::kVae, kConvInProbe);
  if (!prefix) {
    throw CheckpointError(CheckpointError::Code::kUnrecognizedLayout, checkpoint.description(),
                          kConvInProbe,
                          "no VAE decoder: decoder.conv_in.weight not found under any of the "
                          "prefixes '', 'vae.', 'first_stage_model.'");
  }
  const Checkpoint view = checkpoint.WithPrefix(*prefix);
  VaeLayout layout;
  if (view.Has("decoder.up.0.block.0.conv1.weight")) {
    layout = VaeLayout::kBfl;
  } else if (view.Has("decoder.up_blocks.0.resnets.0.conv1.weight")) {
    layout = VaeLayout::kDiffusers;
  } else {
    throw CheckpointError(CheckpointError::Code::kUnrecognizedLayout, checkpoint.description(),
                          *prefix + "decoder.up",
                          "neither decoder.up.0.block.0.* (BFL) nor "
                          "decoder.up_blocks.0.resnets.0.* (diffusers) is present");
  }
  DecoderReader reader(checkpoint, *prefix, layout);

  // Levels: BFL up.{level} and diffusers up_blocks.{i} are both numbered densely from 0.
  const std::string level_stem = layout == VaeLayout::kBfl ? "decoder.up." : "decoder.up_blocks.";
  const std::string level_probe =
      layout == VaeLayout::kBfl ? ".block.0.conv1.weight" : ".resnets.0.conv1.weight";
  int64_t num_levels = 0;
  while (num_levels < kMaxProbe &&
         view.Has(level_stem + std::to_string(num_levels) + level_probe)) {
    ++num_levels;
  }
  reader.set_num_levels(num_levels);

  VaeDecoderConfig config;
  const std::vector<int64_t> conv_in = reader.Shape("conv_in.weight");
  if (conv_in.size() != 4 || conv_in[2] != 3 || conv_in[3] != 3) {
    throw CheckpointError(CheckpointError::Code::kBadShape, checkpoint.description(),
                          *prefix + reader.Key("conv_in.weight"),
                          "expected [C, z, 3, 3], found " + ShapeString(conv_in));
  }
  config.z_channels = conv_in[1];

  std::vector<int64_t> widths;
  for (int64_t level = 0; level < num_levels; ++level) {
    const std::vector<int64_t> conv1 =
        reader.Shape(VaeUpBlockName(level) + ".block.0.conv1.weight");
    if (conv1.empty() || conv1[0] <= 0) {
      throw CheckpointError(CheckpointError::Code::kBadShape, checkpoint.description(),
                            *prefix + reader.Key(VaeUpBlockName(level) + ".block.0.conv1.weight"),
                            "unexpected shape " + ShapeString(conv1));
    }
    widths.push_back(conv1[0]);
  }
  // ch_mult is only defined up to a common factor; like BFL (ch_mult[0] = 1 for FLUX), take ch as
  // the greatest common divisor of the level widths.
  config.ch = 0;
  for (int64_t width : widths) config.ch = std::gcd(config.ch, width);
  config.ch_mult.clear();
  for (int64_t width : widths) config.ch_mult.push_back(width / config.ch);

  int64_t resnets = 0;
  while (resnets < kMaxProbe &&
         reader.Has("up.0.block." + std::to_string(resnets) + ".conv1.weight")) {
    ++resnets;
  }
  config.num_res_blocks = resnets - 1;
  config.out_channels = reader.Shape("conv_out.weight").at(0);
  if (norm_groups && *norm_groups < 1) {
    throw InvalidArgument("norm_groups must be positive, got " + std::to_string(*norm_groups));
  }
  config.norm_groups = norm_groups ? *norm_groups : ParseNormGroups(checkpoint);
  CheckGroups(reader, config);

  const int64_t mid = config.mid_channels();
  VaeDecoderWeights weights;
  weights.layout = layout;
  weights.key_prefix = *prefix;
  weights.checkpoint = checkpoint;

  WeightBlock head;
  head.name = kVaeConvInMidBlock;
  reader.AddConv(head, "conv_in", "conv_in", mid, config.z_channels, 3);
  reader.AddResnet(head, "mid.block_1", "mid.block_1", mid, mid);
  reader.AddNorm(head, "mid.attn_1.norm", "mid.attn_1.norm", mid);
  for (const char* proj : {"q", "k", "v", "proj_out"}) {
    const std::string name = std::string("mid.attn_1.") + proj;
    reader.AddSquare(head, name + ".weight", name + ".weight", mid);
    reader.Add(head, name + ".bias", name + ".bias", {mid});
  }
  reader.AddResnet(head, "mid.block_2", "mid.block_2", mid, mid);
  weights.blocks.push_back(std::move(head));

  for (int64_t level = num_levels - 1; level >= 0; --level) {
    WeightBlock up;
    up.name = VaeUpBlockName(level);
    const std::string stem = up.name + ".";
    const int64_t out = config.level_channels(level);
    int64_t in = level == num_levels - 1 ? mid : config.level_channels(level + 1);
    for (int64_t j = 0; j < config.resnets_per_level(); ++j) {
      const std::string name = "block." + std::to_string(j);
      reader.AddResnet(up, name, stem + name, in, out);
      in = out;
    }
    if (level != 0) reader.AddConv(up, "upsample.conv", stem + "upsample.conv", out, out, 3);
    weights.blocks.push_back(std::move(up));
  }

  WeightBlock tail;
  tail.name = kVaeOutBlock;
  reader.AddNorm(tail, "norm_out", "norm_out", config.level_channels(0));
  reader.AddConv(tail, "conv_out", "conv_out", config.out_channels, config.level_channels(0), 3);
  weights.blocks.push_back(std::move(tail));

  weights.config = std::move(config);
  return weights;
}

}  // namespace streamdit::engine
