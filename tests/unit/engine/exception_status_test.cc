// StatusFromException is the one exception -> Status mapping the CLI and the gRPC layer use: each
// kind of failure must reach the client with its own code and the thrower's message.
#include "engine/status/exception_status.h"

#include <c10/util/Exception.h>
#include <gtest/gtest.h>

#include <cerrno>
#include <new>
#include <stdexcept>
#include <string>

#include "engine/checkpoint/checkpoint_error.h"
#include "engine/sampling/cancelled.h"
#include "engine/status/file_error.h"
#include "engine/status/status_error.h"

namespace streamdit::engine {
namespace {

template <typename Exception>
absl::Status StatusOf(const Exception& exception) {
  return StatusFromException(std::make_exception_ptr(exception));
}

TEST(ExceptionStatusTest, NoExceptionIsOk) {
  EXPECT_TRUE(StatusFromException(nullptr).ok());
  EXPECT_TRUE(StatusOfCall([] {}).ok());
}

TEST(ExceptionStatusTest, AStatusErrorKeepsItsCodeAndMessage) {
  const absl::Status status = StatusOf(InvalidArgument("steps must be in [1, 100], got 0"));
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "steps must be in [1, 100], got 0");
  EXPECT_EQ(StatusOf(NotFound("x")).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(StatusOf(DataLoss("x")).code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(StatusOf(FailedPrecondition("x")).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(StatusOf(ResourceExhausted("x")).code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(StatusOf(Internal("x")).code(), absl::StatusCode::kInternal);
}

TEST(ExceptionStatusTest, AStatusErrorNeverCarriesOk) {
  const StatusError error{absl::OkStatus()};
  EXPECT_EQ(error.code(), absl::StatusCode::kInternal);
  EXPECT_EQ(StatusOf(error).code(), absl::StatusCode::kInternal);
}

TEST(ExceptionStatusTest, AMissingModelFileIsNotFoundAndACorruptOneIsDataLoss) {
  const CheckpointError missing(CheckpointError::Code::kIo, "/models/ae.safetensors", "",
                                "cannot open");
  const absl::Status not_found = StatusOf(missing);
  EXPECT_EQ(not_found.code(), absl::StatusCode::kNotFound);
  EXPECT_NE(not_found.message().find("/models/ae.safetensors"), std::string::npos);

  for (CheckpointError::Code code :
       {CheckpointError::Code::kTruncated, CheckpointError::Code::kInvalidJson,
        CheckpointError::Code::kSizeMismatch, CheckpointError::Code::kMissingTensor,
        CheckpointError::Code::kUnrecognizedLayout}) {
    const absl::Status status =
        StatusOf(CheckpointError(code, "/models/ae.safetensors", "decoder.conv_in.weight", "bad"));
    EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << CheckpointError::CodeName(code);
    EXPECT_NE(status.message().find("decoder.conv_in.weight"), std::string::npos)
        << status.message();
  }
}

TEST(ExceptionStatusTest, CancelledIsCancelled) {
  const absl::Status status = StatusOf(Cancelled(3));
  EXPECT_EQ(status.code(), absl::StatusCode::kCancelled);
  EXPECT_NE(status.message().find('3'), std::string::npos) << status.message();
}

TEST(ExceptionStatusTest, OutOfMemoryIsResourceExhausted) {
  EXPECT_EQ(StatusOf(std::bad_alloc()).code(), absl::StatusCode::kResourceExhausted);
  const absl::Status torch_oom =
      StatusOfCall([] { throw c10::OutOfMemoryError("CUDA out of memory. Tried 2 GiB"); });
  EXPECT_EQ(torch_oom.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(torch_oom.message().find("Tried 2 GiB"), std::string::npos) << torch_oom.message();
}

TEST(ExceptionStatusTest, OtherLibtorchErrorsAreInternal) {
  const absl::Status status = StatusOfCall([] { throw c10::Error("shape mismatch"); });
  EXPECT_EQ(status.code(), absl::StatusCode::kInternal);
  EXPECT_NE(status.message().find("shape mismatch"), std::string::npos) << status.message();
}

TEST(ExceptionStatusTest, StandardArgumentErrorsAreInvalidArgument) {
  const absl::Status status = StatusOf(std::invalid_argument("width: got -1"));
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "width: got -1");
  EXPECT_EQ(StatusOf(std::out_of_range("index 9")).code(), absl::StatusCode::kInvalidArgument);
}

TEST(ExceptionStatusTest, AnythingElseIsInternal) {
  const absl::Status runtime = StatusOf(std::runtime_error("worker died"));
  EXPECT_EQ(runtime.code(), absl::StatusCode::kInternal);
  EXPECT_EQ(runtime.message(), "worker died");
  const absl::Status unknown = StatusOfCall([] { throw 42; });
  EXPECT_EQ(unknown.code(), absl::StatusCode::kInternal);
  EXPECT_EQ(unknown.message(), "unknown exception");
}

TEST(ExceptionStatusTest, FileErrorsFollowTheOperatingSystemsError) {
  EXPECT_EQ(StatusOf(FileError("cannot open", "/nope/x", ENOENT)).code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(StatusOf(FileError("cannot create", "/root/x", EACCES)).code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(StatusOf(FileError("cannot write", "/full/x", ENOSPC)).code(),
            absl::StatusCode::kResourceExhausted);
  const absl::Status no_errno = StatusOf(FileError("cannot write", "/x", 0));
  EXPECT_EQ(no_errno.code(), absl::StatusCode::kInternal);
  EXPECT_NE(no_errno.message().find("/x"), std::string::npos) << no_errno.message();
}

}  // namespace
}  // namespace streamdit::engine
