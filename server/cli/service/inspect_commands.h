// `streamdit status [--server ADDR]` (GetServerStatus) and `streamdit models [--server ADDR]`
// (ListModels) as readable tables. ADDR defaults to the configuration's listen address, a wildcard
// host read as the loopback one. A server that is still loading its models (or unreachable)
// answers UNAVAILABLE: exit 1, so scripts poll `streamdit status` until it exits 0.
#pragma once

#include <CLI/CLI.hpp>

#include "server/cli/command.h"

namespace streamdit::server::cli {

void AddStatusCommand(CLI::App& app, CommandTable& table, const GlobalOptions& global);
void AddModelsCommand(CLI::App& app, CommandTable& table, const GlobalOptions& global);

}  // namespace streamdit::server::cli
