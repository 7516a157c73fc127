#include "server/cli/command.h"

#include <utility>

namespace streamdit::server::cli {

void CommandTable::Add(std::string name, CLI::App* app, CommandBody body) {
  entries_.push_back(Entry{std::move(name), app, std::move(body)});
}

const CommandTable::Entry* CommandTable::Parsed() const {
  for (const Entry& entry : entries_) {
    if (entry.app->parsed()) return &entry;
  }
  return nullptr;
}

}  // namespace streamdit::server::cli
