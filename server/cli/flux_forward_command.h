// `streamdit debug flux-forward`: one FLUX transformer forward pass from tensors in a safetensors
// file (engine/flux/flux_forward_files.h). Reference comparisons and GPU checks rely on this
// interface; keep it stable. --model names a transformer file here (not a model folder).
#pragma once

#include <CLI/CLI.hpp>
#include <ostream>
#include <string>
#include <vector>

#include "server/cli/command.h"

namespace streamdit::server::cli {

// Adds `flux-forward` under the `debug` subcommand `debug`.
void AddFluxForwardCommand(CLI::App& debug, CommandTable& table);

// `streamdit debug flux-forward ARGS...` in this process: the exit code (exit_code.h).
int RunFluxForwardCommand(const std::vector<std::string>& args, std::ostream& out,
                          std::ostream& err);

}  // namespace streamdit::server::cli
