// A model of the service's configuration (config/default.yaml) as the engine's PipelineConfig,
// for `streamdit generate --local`: the same reading (LoadServerConfig) and the same mapping
// (ModelSettingsFromConfig) as `streamdit serve`, so that a model generates alike in both.
#pragma once

#include <ostream>
#include <string>

#include "engine/pipeline/model_paths.h"

namespace streamdit::server::cli {

// The model `model_name` (empty: the configuration's default model) of the configuration at
// `config_path`. `model_dir`, when not empty, replaces the model's folder (its files are found by
// their usual names; no demo model is created there). A model with create_demo whose folder lacks
// the demo model gets it written first, saying so on `out`. Only the chosen model is described, so
// another configured model's missing files do not matter here.
// Throws StatusError: the loader's INVALID_ARGUMENT (key named) or NOT_FOUND (file named);
// NOT_FOUND for a model name the configuration lacks; the engine's NOT_FOUND / DATA_LOSS for the
// model's files.
engine::PipelineConfig ConfiguredPipeline(const std::string& config_path,
                                          const std::string& model_name,
                                          const std::string& model_dir, std::ostream& out);

}  // namespace streamdit::server::cli
