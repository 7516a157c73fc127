// A failed file-system operation as a StatusError whose code follows the operating system's error
// (absl::ErrnoToStatus): NOT_FOUND for a missing file or directory, PERMISSION_DENIED, and
// RESOURCE_EXHAUSTED for a full disk, so that "the directory does not exist" and "the disk is
// full" reach the client as different codes. Model files that exist but cannot be parsed are
// CheckpointErrors (engine/checkpoint/checkpoint_error.h), not FileErrors.
#pragma once

#include <string_view>
#include <system_error>

#include "engine/status/status_error.h"

namespace streamdit::engine {

// The message reads "<what> <path>: <strerror>", e.g. "cannot create /x/y.tmp: Permission denied".
StatusError FileError(std::string_view what, std::string_view path, int error_number);
// For std::filesystem's error codes (their value is an errno in the generic/system categories).
StatusError FileError(std::string_view what, std::string_view path, const std::error_code& error);

}  // namespace streamdit::engine
