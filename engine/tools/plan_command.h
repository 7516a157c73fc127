// `streamdit plan`: what a job needs before it runs. For a model (a model folder, or a transformer
// file alone), an image size and a memory budget it prints the residency plan of every component
// (blocks resident and streamed, bytes streamed per step), the predicted peak per phase, and the
// predicted time per step from a transfer bandwidth and a compute rate (measured here, or given).
// Reads only the files' headers, so a full-size model (even a sparse file) plans in milliseconds.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

namespace streamdit::engine {

// args: everything after "plan". Returns the exit code: 0, 1 when the budget is below the job's
// minimum (the message names the minimum), 2 for bad arguments or unreadable models.
int RunPlanCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace streamdit::engine
