// The `streamdit` command line: `streamdit [--config FILE] COMMAND [flags]`, parsed by CLI11, with
// `--help` on every command. Commands: generate, plan, demo-model, debug flux-forward, and where
// the server is built (STREAMDIT_CLI_SERVICE) serve, status and models (server/cli/service/).
//
// Exit codes come from one table (exit_code.h): a parse error or a bad flag value exits 2, and a
// command's failure exits by the Status of what it threw (engine::StatusFromException); the error
// goes to `err` as "streamdit COMMAND: message".
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace streamdit::server::cli {

// args: argv[1..]. Runs the command in this process (tests call this as users call the binary).
int RunCli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace streamdit::server::cli
