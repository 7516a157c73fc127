// What the configuration file (config/default.yaml) supplies to `streamdit generate`: the first
// configured model and its defaults. Flags override it.
#pragma once

#include <map>
#include <optional>
#include <string>

namespace streamdit::server::cli {

struct GenerateDefaults {
  std::string model_dir;  // default --model-dir; created with the demo model if missing
  // Component files relative to model_dir, by role (transformer, ae, t5, clip, t5_tokenizer,
  // clip_vocab, clip_merges); empty: found by their usual names (engine::FindModelFiles).
  std::map<std::string, std::string> paths;
  std::string model_name;     // recorded in the PNG; default: the transformer file's stem
  std::string family;         // "dev"/"schnell"; empty: inferred from the transformer
  std::string dtype = "f32";  // compute dtype
  std::optional<int> steps;   // model defaults overriding the family's
  std::optional<int> width;
  std::optional<int> height;
  std::optional<int> t5_max_length;
};

// Reads `path`. A missing file is not an error unless `must_exist` (an explicit --config): flags
// can say everything. Throws INVALID_ARGUMENT naming the file for a file that cannot be parsed,
// NOT_FOUND for a missing file that must exist.
GenerateDefaults ReadGenerateDefaults(const std::string& path, bool must_exist);

}  // namespace streamdit::server::cli
