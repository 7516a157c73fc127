// `streamdit generate --local`: text to PNG with the whole FLUX pipeline in this process.
// (Without --local, generate will be the gRPC client of a running server.)
#pragma once

#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace streamdit::engine {

// What the configuration file (config/default.yaml, read by the server layer) supplies; flags
// override it.
struct GenerateCommandDefaults {
  std::string model_dir;  // default --model-dir; created with the demo model if missing
  // Component files relative to model_dir, by role (transformer, ae, t5, clip, t5_tokenizer,
  // clip_vocab, clip_merges); empty: found by their usual names (FindModelFiles).
  std::map<std::string, std::string> paths;
  std::string model_name;     // recorded in the PNG; default: the folder's name
  std::string family;         // "dev"/"schnell"; empty: inferred from the transformer
  std::string dtype = "f32";  // compute dtype
  std::optional<int> steps;   // model defaults overriding the family's
  std::optional<int> width;
  std::optional<int> height;
  std::optional<int> t5_max_length;
};

// args: everything after "generate". Returns the process exit code (0 ok, 1 failure, 2 bad
// arguments or request, 130 interrupted); progress goes to `out`, errors and warnings to `err`.
int RunGenerateCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
                       const GenerateCommandDefaults& defaults = {});

}  // namespace streamdit::engine
