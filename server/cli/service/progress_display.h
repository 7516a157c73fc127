// How `streamdit generate --server` shows a streamed request's progress: on a terminal one line
// redrawn in place with \r ("queued at position 2", then a bar and "step 3/4"), elsewhere (a log, a
// pipe, a test) one plain line per event ("queued at position 0", "step 1/4", ...).
#pragma once

#include <cstdint>
#include <ostream>
#include <string>

namespace streamdit::server::cli {

class ProgressDisplay {
 public:
  // `terminal`: redraw one line (see IsTerminal).
  ProgressDisplay(std::ostream& stream, bool terminal) : stream_(stream), terminal_(terminal) {}

  void Queued(int position);
  void Started(const std::string& device, uint64_t budget_bytes);
  void Step(int step, int total, double elapsed_seconds);
  // Ends the redrawn line (a no-op for plain lines); call before printing anything else.
  void Finish();

  // True when `stream` is std::cerr and the process's stderr is a terminal.
  static bool IsTerminal(const std::ostream& stream);

 private:
  void Show(const std::string& line);

  std::ostream& stream_;
  bool terminal_;
  std::size_t drawn_ = 0;  // characters of the line on screen (terminal only)
};

}  // namespace streamdit::server::cli
