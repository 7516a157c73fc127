// `streamdit generate`: text to PNG, in this process (--local, the default; generate_local.h) or
// as the client of a running server (--server ADDR; service/remote_generate.h). The flags of one
// mode are refused with the other's (a parse error, exit 2). `--batch N` writes N images of one
// request, image i drawn from seed + i, as FILE for one image and STEM-i.EXT for several, each
// printed with its seed.
#pragma once

#include <CLI/CLI.hpp>

#include "server/cli/command.h"

namespace streamdit::server::cli {

void AddGenerateCommand(CLI::App& app, CommandTable& table, const GlobalOptions& global);

}  // namespace streamdit::server::cli
