#include "server/cli/cli.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <exception>

#include "engine/status/exception_status.h"
#include "server/cli/command.h"
#include "server/cli/demo_model_command.h"
#include "server/cli/exit_code.h"
#include "server/cli/flux_forward_command.h"
#include "server/cli/generate_command.h"
#include "server/cli/plan_command.h"
#if STREAMDIT_CLI_SERVICE
#include "server/cli/service/inspect_commands.h"
#include "server/cli/service/serve_command.h"
#endif

namespace streamdit::server::cli {

int RunCli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  CLI::App app("streamdit: FLUX image generation under a memory budget", "streamdit");
  GlobalOptions global;
  app.add_option("--config", global.config_path, "Configuration file")
      ->type_name("FILE")
      ->capture_default_str()
      ->each([&global](const std::string&) { global.config_given = true; });
  app.require_subcommand(1);
  // `streamdit serve --config F` as well as `streamdit --config F serve`: the subcommands pass the
  // options they do not know (the global --config) up to the app.
  app.fallthrough();
  // A flag given twice takes its last value, so that wrappers (scripts/run) can pass defaults
  // that the user's extra flags override.
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);

  CommandTable table;
  AddGenerateCommand(app, table, global);
  AddPlanCommand(app, table);
  AddDemoModelCommand(app, table);
#if STREAMDIT_CLI_SERVICE
  AddServeCommand(app, table, global);
  AddStatusCommand(app, table, global);
  AddModelsCommand(app, table, global);
#endif
  CLI::App* debug = app.add_subcommand("debug", "Developer tools");
  debug->require_subcommand(1);
  AddFluxForwardCommand(*debug, table);

  try {
    std::vector<std::string> reversed(args.rbegin(), args.rend());  // CLI11 parses from the back
    app.parse(reversed);
  } catch (const CLI::CallForHelp& help) {
    app.exit(help, out, err);
    return kExitOk;
  } catch (const CLI::CallForAllHelp& help) {
    app.exit(help, out, err);
    return kExitOk;
  } catch (const CLI::ParseError& error) {
    // CLI11 reports a misspelt command as a missing one; name what was given instead.
    const std::vector<std::string> unparsed = app.remaining();
    if (table.Parsed() == nullptr && !unparsed.empty()) {
      err << "streamdit: unknown command '" << unparsed.front() << "'\n";
    }
    app.exit(error, out, err);  // the message, then "Run with --help for more information."
    return kExitUsage;
  }

  const CommandTable::Entry* command = table.Parsed();
  if (command == nullptr) {  // unreachable with require_subcommand; kept for a clear failure
    err << app.help();
    return kExitUsage;
  }
  const absl::Status status = engine::StatusOfCall([&] { command->body(out, err); });
  if (!status.ok()) err << "streamdit " << command->name << ": " << status.message() << "\n";
  return ExitCodeFor(status);
}

}  // namespace streamdit::server::cli
