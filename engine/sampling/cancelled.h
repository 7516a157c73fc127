#pragma once

#include <string>

#include "engine/status/status_error.h"

namespace streamdit::engine {

// Thrown when a job is cancelled between two denoising steps. A dedicated type (not a plain
// StatusError) so that the pipeline can release the job's memory; its status is CANCELLED,
// which the server reports as is.
class Cancelled : public StatusError {
 public:
  // `completed_steps`: how many steps had finished when cancellation was noticed.
  explicit Cancelled(int completed_steps)
      : StatusError(absl::CancelledError("cancelled after " + std::to_string(completed_steps) +
                                         " step(s)")),
        completed_steps_(completed_steps) {}

  int completed_steps() const { return completed_steps_; }

 private:
  int completed_steps_;
};

}  // namespace streamdit::engine
