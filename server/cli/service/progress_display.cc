#include "server/cli/service/progress_display.h"

#include <unistd.h>

#include <iomanip>
#include <iostream>
#include <sstream>

namespace streamdit::server::cli {

bool ProgressDisplay::IsTerminal(const std::ostream& stream) {
  return &stream == &std::cerr && isatty(STDERR_FILENO) == 1;
}

void ProgressDisplay::Queued(int position) {
  Show("queued at position " + std::to_string(position));
}

void ProgressDisplay::Started(const std::string& device, uint64_t budget_bytes) {
  std::ostringstream line;
  line << "started on " << device << " under " << std::fixed << std::setprecision(1)
       << static_cast<double>(budget_bytes) / (1 << 20) << " MiB";
  Show(line.str());
}

void ProgressDisplay::Step(int step, int total, double elapsed_seconds) {
  std::ostringstream line;
  if (terminal_) {
    constexpr int kWidth = 24;
    const int filled = total > 0 ? kWidth * step / total : 0;
    line << "[" << std::string(filled, '#') << std::string(kWidth - filled, '.') << "] ";
  }
  line << "step " << step << "/" << total << "  " << std::fixed << std::setprecision(1)
       << elapsed_seconds << " s";
  Show(line.str());
}

void ProgressDisplay::Show(const std::string& line) {
  if (!terminal_) {
    stream_ << line << "\n" << std::flush;
    return;
  }
  // Pad with spaces over what a longer previous line left on screen.
  stream_ << "\r" << line;
  if (line.size() < drawn_) stream_ << std::string(drawn_ - line.size(), ' ');
  stream_ << std::flush;
  drawn_ = line.size();
}

void ProgressDisplay::Finish() {
  if (terminal_ && drawn_ > 0) stream_ << "\n" << std::flush;
  drawn_ = 0;
}

}  // namespace streamdit::server::cli
