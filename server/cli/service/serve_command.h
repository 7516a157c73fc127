// `streamdit serve [--listen HOST:PORT] [--metrics-listen HOST:PORT] [--log-level L]
// [--grace-period D]`: the service (server/serve/serve.h) on the configuration (--config, default
// config/default.yaml). Precedence: flags over environment variables (STREAMDIT_LISTEN, ...) over
// the file. Once it serves it prints how to call it and how to stop it; it runs until SIGTERM or
// SIGINT, drains and exits 0. A bad configuration, variable or flag exits 2 naming the key (or
// variable, or flag); a missing or corrupt model file exits 1 naming the file; an address that
// cannot be bound exits 1 naming it.
#pragma once

#include <CLI/CLI.hpp>

#include "server/cli/command.h"

namespace streamdit::server::cli {

void AddServeCommand(CLI::App& app, CommandTable& table, const GlobalOptions& global);

}  // namespace streamdit::server::cli
