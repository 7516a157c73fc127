// Ctrl-C while a command generates: the first SIGINT asks the job to stop at its next step (the
// pipeline polls InterruptRequested through its `cancelled` callback and throws Cancelled, which
// exits 130); the handler only sets a flag, as a signal handler must.
#pragma once

namespace streamdit::server::cli {

// Installs the SIGINT handler for its lifetime and restores the previous one at destruction.
// Clears any earlier request. One scope at a time.
class InterruptScope {
 public:
  InterruptScope();
  ~InterruptScope();
  InterruptScope(const InterruptScope&) = delete;
  InterruptScope& operator=(const InterruptScope&) = delete;

 private:
  void (*previous_)(int);
};

// True once SIGINT arrived inside the current InterruptScope.
bool InterruptRequested();

}  // namespace streamdit::server::cli
