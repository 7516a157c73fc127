#include "engine/vae/vae_config.h"

#include <sstream>

namespace streamdit::engine {

std::string VaeDecoderConfig::ToString() const {
  std::ostringstream out;
  out << "ch " << ch << ", ch_mult [";
  for (std::size_t i = 0; i < ch_mult.size(); ++i) out << (i ? "," : "") << ch_mult[i];
  out << "], num_res_blocks " << num_res_blocks << ", z_channels " << z_channels
      << ", out_channels " << out_channels << ", norm_groups " << norm_groups;
  return out.str();
}

}  // namespace streamdit::engine
