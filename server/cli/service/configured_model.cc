#include "server/cli/service/configured_model.h"

#include "engine/demo/demo_model.h"
#include "engine/status/status_error.h"
#include "server/config/config_loader.h"
#include "server/serve/serve.h"

namespace streamdit::server::cli {

engine::PipelineConfig ConfiguredPipeline(const std::string& config_path,
                                          const std::string& model_name,
                                          const std::string& model_dir, std::ostream& out) {
  absl::StatusOr<ServerConfig> loaded = LoadServerConfig(config_path);
  if (!loaded.ok()) throw engine::StatusError(loaded.status());
  ServerConfig config = *std::move(loaded);
  const std::string name = model_name.empty() ? config.default_model : model_name;
  const ModelSpec* found = config.FindModel(name);
  if (found == nullptr) {
    std::string names;
    for (const ModelSpec& spec : config.models) names += (names.empty() ? "" : ", ") + spec.name;
    throw engine::NotFound("model '" + name + "' is not in " + config_path + " (it has " + names +
                           ")");
  }
  ModelSpec spec = *found;
  if (!model_dir.empty()) {
    spec.dir = model_dir;
    spec.paths = {};
    spec.create_demo = false;
  }
  // Created here rather than by ModelSettingsFromConfig, so that the user reads why it waits.
  if (spec.create_demo && !engine::DemoModelExists(spec.dir)) {
    out << "creating the demo model in " << spec.dir << " ...\n" << std::flush;
    engine::WriteDemoModel(spec.dir);
  }
  config.models = {spec};
  config.default_model = spec.name;
  absl::StatusOr<std::vector<ModelSettings>> settings = ModelSettingsFromConfig(config);
  if (!settings.ok()) throw engine::StatusError(settings.status());
  engine::PipelineConfig pipeline = settings->front().pipeline;
  pipeline.model_name = spec.name;  // recorded in the PNG, as the server records it
  return pipeline;
}

}  // namespace streamdit::server::cli
