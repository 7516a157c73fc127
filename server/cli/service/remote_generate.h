// `streamdit generate --server ADDR`: the client of a running `streamdit serve`. It calls
// StreamGenerateImage, shows the queue position and each step (progress_display.h) on `err`,
// writes the images as the in-process mode does (FILE, or STEM-i.EXT for a batch, each printed
// with its seed) and prints a summary: device, queue wait, measured/predicted peak and budget,
// phase times. A failed call exits by its status through the one table (exit_code.h): the
// server's INVALID_ARGUMENT naming a field exits 2, UNAVAILABLE (unreachable, loading, draining)
// exits 1, Ctrl-C cancels the call and exits 130, --timeout past exits 1 (DEADLINE_EXCEEDED).
#pragma once

#include <ostream>

#include "server/cli/command.h"
#include "server/cli/generate_options.h"
#include "server/cli/service/grpc_client.h"

namespace streamdit::server::cli {

void RunRemoteGenerate(const GenerateOptions& o, const ClientOptions& client,
                       const GlobalOptions& global, std::ostream& out, std::ostream& err);

}  // namespace streamdit::server::cli
