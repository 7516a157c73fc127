// The one place that turns an exception into a Status (as llama.cpp's server maps exceptions in
// one function): the CLI maps the Status to an exit code (server/cli/exit_code.h) and the gRPC
// layer to an RPC status, neither with a table of its own.
#pragma once

#include <exception>

#include "absl/status/status.h"

namespace streamdit::engine {

// StatusError (CheckpointError and Cancelled are ones): its status. libtorch's out-of-memory
// errors and std::bad_alloc: RESOURCE_EXHAUSTED. std::invalid_argument / std::out_of_range
// (thrown by the standard library for a bad argument): INVALID_ARGUMENT. Anything else: INTERNAL
// with the exception's message. A null pointer: OK.
absl::Status StatusFromException(std::exception_ptr exception);

// Runs `body` and returns OK, or the status of what it threw.
template <typename Body>
absl::Status StatusOfCall(Body&& body) {
  try {
    body();
    return absl::OkStatus();
  } catch (...) {
    return StatusFromException(std::current_exception());
  }
}

}  // namespace streamdit::engine
