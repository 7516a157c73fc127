// `streamdit demo-model DIR`: writes the demo model set (engine/demo/demo_model.h) into DIR. The
// tokenizers' corpus is compiled into the binary, so this works from any folder; --corpus FILE
// trains them on another text instead.
#pragma once

#include <CLI/CLI.hpp>

#include "server/cli/command.h"

namespace streamdit::server::cli {

void AddDemoModelCommand(CLI::App& app, CommandTable& table);

}  // namespace streamdit::server::cli
