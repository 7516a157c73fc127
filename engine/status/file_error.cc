#include "engine/status/file_error.h"

#include <string>

#include "absl/status/status.h"

namespace streamdit::engine {

StatusError FileError(std::string_view what, std::string_view path, int error_number) {
  std::string message(what);
  message += " ";
  message += path;
  // ErrnoToStatus appends ": <strerror>"; errno 0 (a stream failed without a system error) would
  // map to OK, which a StatusError must not carry.
  if (error_number == 0) return Internal(message);
  return StatusError(absl::ErrnoToStatus(error_number, message));
}

StatusError FileError(std::string_view what, std::string_view path, const std::error_code& error) {
  return FileError(what, path, error.value());
}

}  // namespace streamdit::engine
