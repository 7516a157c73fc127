// The `streamdit` binary: one CLI for every tool (server/cli/cli.h). The commands run in library
// code so that tests exercise the same paths as users.
#include <iostream>
#include <string>
#include <vector>

#include "server/cli/cli.h"

int main(int argc, char** argv) {
  return streamdit::server::cli::RunCli(std::vector<std::string>(argv + 1, argv + argc), std::cout,
                                        std::cerr);
}
