// Reads the service's configuration (server_config.h holds the reference of every key).
//
// Errors: INVALID_ARGUMENT for a YAML syntax error, an unknown key, a missing required key, a
// value of the wrong type or out of range, or a broken cross-field rule (duplicate device or model
// names, default_model naming no model, model defaults beyond the limits, a percentage budget on
// a CPU device). Each problem is one line "<file>:<line>:<column>: <key path>: <what is wrong and
// what is allowed>", e.g. "config.yaml:14:16: models[0].defaults.steps: \"four\" is not an
// integer"; all problems found are reported together. NOT_FOUND names a missing file.
//
// Loading checks the text only: model folders and TLS files are not opened here (the server
// reports those when it opens them), so a configuration can be checked on any machine.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "server/config/server_config.h"

namespace streamdit::server {

// Reads and parses the file at `path`; relative paths inside it are relative to its folder
// (made absolute). config.source is `path`.
absl::StatusOr<ServerConfig> LoadServerConfig(const std::string& path);

// Parses YAML text. source_name prefixes the error messages (and becomes config.source);
// relative paths in the text are joined with base_dir (left as written when base_dir is empty).
absl::StatusOr<ServerConfig> ParseServerConfig(const std::string& yaml_text,
                                               const std::string& source_name,
                                               const std::string& base_dir);

}  // namespace streamdit::server
