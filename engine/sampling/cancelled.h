#pragma once

#include <stdexcept>
#include <string>

namespace streamdit {

// Thrown when a job is cancelled between two denoising steps. A dedicated type (not
// std::runtime_error) so that the pipeline can release the job's memory and the server can map it
// to the CANCELLED status without confusing it with a real failure.
class Cancelled : public std::runtime_error {
 public:
  // `completed_steps`: how many steps had finished when cancellation was noticed.
  explicit Cancelled(int completed_steps)
      : std::runtime_error("cancelled after " + std::to_string(completed_steps) + " step(s)"),
        completed_steps_(completed_steps) {}

  int completed_steps() const { return completed_steps_; }

 private:
  int completed_steps_;
};

}  // namespace streamdit
