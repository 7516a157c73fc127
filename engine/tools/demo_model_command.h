// `streamdit demo-model DIR`: writes the demo model set (engine/demo/demo_model.h) into DIR.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace streamdit::engine {

// args: everything after "demo-model". Returns the process exit code; errors go to `err`.
int RunDemoModelCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace streamdit::engine
