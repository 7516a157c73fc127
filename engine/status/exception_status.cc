#include "engine/status/exception_status.h"

#include <c10/util/Exception.h>

#include <new>
#include <stdexcept>
#include <string>

#include "engine/status/status_error.h"

namespace streamdit::engine {

absl::Status StatusFromException(std::exception_ptr exception) {
  if (!exception) return absl::OkStatus();
  try {
    std::rethrow_exception(exception);
  } catch (const StatusError& error) {
    return error.status();
  } catch (const c10::OutOfMemoryError& error) {
    return absl::ResourceExhaustedError(error.what_without_backtrace());
  } catch (const c10::Error& error) {
    return absl::InternalError(error.what_without_backtrace());
  } catch (const std::bad_alloc& error) {
    return absl::ResourceExhaustedError(std::string("out of memory: ") + error.what());
  } catch (const std::invalid_argument& error) {
    return absl::InvalidArgumentError(error.what());
  } catch (const std::out_of_range& error) {
    return absl::InvalidArgumentError(error.what());
  } catch (const std::exception& error) {
    return absl::InternalError(error.what());
  } catch (...) {
    return absl::InternalError("unknown exception");
  }
}

}  // namespace streamdit::engine
