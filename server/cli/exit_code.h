// The process exit code of every `streamdit` command, from the absl::Status its work ended with
// (engine::StatusFromException turns whatever a command threw into one; a server's gRPC status
// becomes the absl::Status with the same code number, service/grpc_client.h). The only table:
//
//   OK                                    0
//   INVALID_ARGUMENT, OUT_OF_RANGE        2  (a bad flag value or request; the message names it)
//   flag parse errors (CLI11)             2  (unknown flag, missing value, value not a number)
//   CANCELLED                           130  (interrupted with Ctrl-C, as a shell reports SIGINT)
//   every other code                      1  (NOT_FOUND and DATA_LOSS: a missing or corrupt model
//                                             file; RESOURCE_EXHAUSTED: a budget below the job's
//                                             minimum; UNAVAILABLE: a server unreachable,
//                                             loading or draining; FAILED_PRECONDITION, ...)
#pragma once

#include "absl/status/status.h"

namespace streamdit::server::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;  // what a flag parse error exits with
inline constexpr int kExitCancelled = 130;

int ExitCodeFor(const absl::Status& status);

}  // namespace streamdit::server::cli
