// `streamdit debug flux-forward`: one transformer forward pass from tensors in a safetensors file.
// Other tools (reference comparisons, GPU checks) rely on this interface; keep it stable.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace streamdit::engine {

// args: everything after "flux-forward". Returns the process exit code; errors go to `err`.
int RunFluxForwardCommand(const std::vector<std::string>& args, std::ostream& out,
                          std::ostream& err);

}  // namespace streamdit::engine
