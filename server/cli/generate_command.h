// `streamdit generate`: text to PNG. Without --server (which arrives with the gRPC server) it runs
// the whole FLUX pipeline in this process; `--local` says so explicitly. Progress goes to `out`
// one line per step and phase; `--batch N` writes N images of one request, image i drawn from
// seed + i, as FILE for one image and STEM-i.EXT for several, each printed with its seed.
#pragma once

#include <CLI/CLI.hpp>

#include "server/cli/command.h"

namespace streamdit::server::cli {

void AddGenerateCommand(CLI::App& app, CommandTable& table, const GlobalOptions& global);

}  // namespace streamdit::server::cli
