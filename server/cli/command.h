// How a subcommand joins the `streamdit` CLI: it declares its flags on a CLI11 subcommand and
// registers a body that runs after a successful parse. A body reports failure by throwing (an
// engine StatusError, or any exception); RunCli (cli.h) turns what it threw into a Status with
// engine::StatusFromException and exits by ExitCodeFor (exit_code.h). No command keeps its own
// table of exit codes or catches at its top.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <ostream>
#include <string>
#include <vector>

namespace streamdit::server::cli {

// Options before the subcommand, shared by every command.
struct GlobalOptions {
  std::string config_path = "config/default.yaml";
  bool config_given = false;  // --config was passed: a missing file is then an error
};

using CommandBody = std::function<void(std::ostream& out, std::ostream& err)>;

class CommandTable {
 public:
  // `name`: how errors are prefixed ("streamdit plan: ..."); `app`: the subcommand's parser.
  void Add(std::string name, CLI::App* app, CommandBody body);

  struct Entry {
    std::string name;
    CLI::App* app = nullptr;
    CommandBody body;
  };
  // The command the parse selected; nullptr when none was.
  const Entry* Parsed() const;

 private:
  std::vector<Entry> entries_;
};

}  // namespace streamdit::server::cli
