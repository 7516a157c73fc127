#include "server/cli/interrupt.h"

#include <atomic>
#include <csignal>

namespace streamdit::server::cli {
namespace {

// Lock-free, so that the handler may touch it.
std::atomic<bool> interrupted{false};
static_assert(std::atomic<bool>::is_always_lock_free);

extern "C" void OnInterrupt(int) { interrupted.store(true); }

}  // namespace

InterruptScope::InterruptScope() {
  interrupted.store(false);
  previous_ = std::signal(SIGINT, OnInterrupt);
}

InterruptScope::~InterruptScope() { std::signal(SIGINT, previous_); }

bool InterruptRequested() { return interrupted.load(); }

}  // namespace streamdit::server::cli
