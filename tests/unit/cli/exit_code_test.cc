// The one Status -> exit code table (server/cli/exit_code.h), as scripts rely on it.
#include "server/cli/exit_code.h"

#include <gtest/gtest.h>

namespace streamdit::server::cli {
namespace {

TEST(ExitCode, OneCodePerKindOfOutcome) {
  EXPECT_EQ(ExitCodeFor(absl::OkStatus()), 0);
  EXPECT_EQ(ExitCodeFor(absl::InvalidArgumentError("width")), 2);
  EXPECT_EQ(ExitCodeFor(absl::OutOfRangeError("steps")), 2);
  EXPECT_EQ(ExitCodeFor(absl::CancelledError("interrupted")), 130);
  for (const absl::Status& status :
       {absl::NotFoundError(""), absl::DataLossError(""), absl::ResourceExhaustedError(""),
        absl::FailedPreconditionError(""), absl::InternalError(""), absl::UnavailableError(""),
        absl::DeadlineExceededError(""), absl::PermissionDeniedError(""), absl::UnknownError("")}) {
    EXPECT_EQ(ExitCodeFor(status), 1) << status;
  }
  EXPECT_EQ(kExitUsage, 2);  // what a flag parse error exits with
}

}  // namespace
}  // namespace streamdit::server::cli
