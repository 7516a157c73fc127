// `streamdit plan`: what a job needs before it runs. For a model (a model folder, or a transformer
// file alone), an image size and a memory budget it prints the residency plan of every component
// (blocks resident and streamed, bytes streamed per step), the predicted peak per phase, and the
// predicted time per step from a transfer bandwidth and a compute rate (measured here, or given).
// Reads only the files' headers, so a full-size model (even a sparse file) plans in milliseconds.
// A budget below the job's minimum fails naming the minimum (exit code by exit_code.h).
#pragma once

#include <CLI/CLI.hpp>

#include "server/cli/command.h"

namespace streamdit::server::cli {

void AddPlanCommand(CLI::App& app, CommandTable& table);

}  // namespace streamdit::server::cli
