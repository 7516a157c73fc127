#include "engine/vae/vae_activation_memory.h"

#include <algorithm>
#include <initializer_list>

#include "engine/memory/cpu_kernel_scratch.h"

namespace streamdit::engine {
namespace {

int64_t Max(std::initializer_list<int64_t> values) { return std::max(values); }

struct Sizes {
  int64_t e;      // compute element bytes
  int64_t stats;  // GroupNorm's element bytes (float32 for 16-bit compute)
  // A 16-bit compute the CPU has no native convolution for: VaeConv convolves in float32.
  bool upcast_conv = false;
};

// A 3x3 convolution's working copies beyond its output: oneDNN reorders its input and its weights
// into blocked layouts. Upcast (16-bit compute without native kernels): the float32 copies of the
// input and weights, and the float32 output before its cast (oneDNN's AVX2 kernels convolve the
// plain float32 input in place: no reorder of it was measured).
int64_t ConvWork(int64_t in_bytes, int64_t in_channels, int64_t out_channels, int64_t e,
                 bool upcast = false, int64_t pixels_out = 0) {
  if (upcast) {
    const int64_t in_f32 = in_bytes / e * 4;
    return in_f32 + in_channels * out_channels * 9 * 4 + out_channels * pixels_out * 4;
  }
  return (e >= 4 ? in_bytes : 0) + in_channels * out_channels * 9 * e;
}

// VaeResnet on `in` channels -> `out` channels at `pixels`, with its input alive; the output
// included.
int64_t ResnetPeak(const Sizes& s, int64_t in, int64_t out, int64_t pixels) {
  const int64_t x = in * pixels * s.e;
  const int64_t y = out * pixels * s.e;
  const int64_t norm_in = in * pixels * s.stats + (s.stats != s.e ? x : 0);
  const int64_t norm_out = out * pixels * s.stats + (s.stats != s.e ? y : 0);
  const int64_t shortcut = in != out ? x + 2 * y : 0;  // contiguous input, linear, contiguous out
  return x +
         Max({
             norm_in + y + ConvWork(x, in, out, s.e, s.upcast_conv, pixels),  // norm1 -> conv1
             y + norm_out,                                                    // norm2
             x + y +
                 ConvWork(y, out, out, s.e, s.upcast_conv, pixels),  // conv2 beside norm2's output
             y + shortcut,  // nin_shortcut and the residual
         });
}

int64_t AttentionPeak(const Sizes& s, int64_t channels, int64_t pixels, int64_t query_chunk) {
  const int64_t x = channels * pixels * s.e;
  const int64_t chunk = std::min(query_chunk, pixels);
  const int64_t scores = chunk * pixels * std::max<int64_t>(s.e, 4);
  return x + Max({
                 2 * x,  // group norm, then its [B, HW, C] copy
                 x + 3 * x + x + 2 * scores + chunk * channels * s.e,  // q k v, a chunk
                 3 * x + x + x + x,  // proj_out, its [B, C, H, W] copy
                 x + x,              // the residual
             });
}

// Peak of one Run over a latent tile of `height` x `width`.
int64_t RunPeak(const VaeDecoderConfig& c, int64_t height, int64_t width, Sizes s,
                int64_t query_chunk) {
  int64_t pixels = height * width;
  const int64_t mid = c.mid_channels();
  const int64_t z = c.z_channels * pixels * s.e;
  // conv_in, mid resnet, attention, mid resnet (the block's input stays alive beside them).
  int64_t peak =
      z + mid * pixels * s.e + ConvWork(z, c.z_channels, mid, s.e, s.upcast_conv, pixels);
  peak = std::max(peak, z + ResnetPeak(s, mid, mid, pixels));
  peak = std::max(peak, z + AttentionPeak(s, mid, pixels, query_chunk));
  int64_t channels = mid;
  for (int64_t level = c.num_levels() - 1; level >= 0; --level) {
    const int64_t input = channels * pixels * s.e;
    const int64_t out = c.level_channels(level);
    for (int64_t j = 0; j < c.resnets_per_level(); ++j) {
      // The first resnet reads the block's input itself; later ones read a newer tensor beside it.
      peak = std::max(peak, (j > 0 ? input : 0) + ResnetPeak(s, channels, out, pixels));
      channels = out;
    }
    if (level != 0) {
      const int64_t h = channels * pixels * s.e;
      pixels *= 4;
      const int64_t up = channels * pixels * s.e;
      peak = std::max(
          peak, input + h + up + up + ConvWork(up, channels, channels, s.e, s.upcast_conv, pixels));
    }
  }
  const int64_t last = channels * pixels * s.e;
  const int64_t rgb = c.out_channels * pixels * 4;
  peak = std::max(peak, last + last + c.out_channels * pixels * s.e +
                            ConvWork(last, channels, c.out_channels, s.e, s.upcast_conv, pixels) +
                            rgb);
  return peak;
}

Sizes SizesFor(torch::ScalarType compute) {
  const int64_t e = static_cast<int64_t>(c10::elementSize(compute));
  const bool half = compute == torch::kHalf || compute == torch::kBFloat16;
  // The decoder runs on the CPU today; a CUDA path (cuDNN's own choices) gets its own terms.
  return {e, half ? 4 : e, half && !CpuRunsNatively(compute)};
}

// GroupNorm statistics, scalar tensors and the blocked-layout padding oneDNN adds: measured at
// well under 0.5% of the peak plus a few KiB.
int64_t WithSmallTensors(int64_t peak) { return peak + 64 * 1024 + peak / 200; }

}  // namespace

int64_t VaeDecodeActivationBytes(const VaeDecoderConfig& config, int64_t height, int64_t width,
                                 torch::ScalarType compute, int64_t attention_query_chunk) {
  const Sizes s = SizesFor(compute);
  // Unscaling makes a float32 copy of the latent, which lives through the run.
  const int64_t unscaled = config.z_channels * height * width * 4;
  return WithSmallTensors(unscaled + RunPeak(config, height, width, s, attention_query_chunk));
}

int64_t VaeDecodeTiledActivationBytes(const VaeDecoderConfig& config, int64_t height, int64_t width,
                                      torch::ScalarType compute, const TileOptions& tiles,
                                      int64_t attention_query_chunk) {
  if (height <= tiles.tile_latent && width <= tiles.tile_latent) {
    return VaeDecodeActivationBytes(config, height, width, compute, attention_query_chunk);
  }
  const Sizes s = SizesFor(compute);
  const int64_t factor = config.upsample_factor();
  const int64_t image = config.out_channels * height * width * factor * factor * 4;
  const int64_t unscaled = config.z_channels * height * width * 4;
  const int64_t tile_h = std::min(tiles.tile_latent, height);
  const int64_t tile_w = std::min(tiles.tile_latent, width);
  const int64_t tile_rgb = config.out_channels * tile_h * tile_w * factor * factor * 4;
  // Blend weights (float32 per pixel row/column and one tile's product) and the weighted tile.
  const int64_t blend = (height + width) * factor * 4 * 4 + tile_h * tile_w * factor * factor * 4;
  return WithSmallTensors(unscaled + image +
                          std::max(RunPeak(config, tile_h, tile_w, s, attention_query_chunk),
                                   tile_rgb + blend + tile_rgb));
}

}  // namespace streamdit::engine
