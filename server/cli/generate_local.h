// `streamdit generate --local`: the whole FLUX pipeline in this process. The model is a configured
// one (the configuration's default, or --model NAME; read as the server reads it), or the files of
// --model-dir with the engine's defaults (the family's, inferred from the transformer). Progress
// goes to `out`, one line per step and phase; Ctrl-C stops at the next step (exit 130).
#pragma once

#include <ostream>

#include "server/cli/command.h"
#include "server/cli/generate_options.h"

namespace streamdit::server::cli {

void RunLocalGenerate(const GenerateOptions& o, const GlobalOptions& global, std::ostream& out,
                      std::ostream& err);

}  // namespace streamdit::server::cli
