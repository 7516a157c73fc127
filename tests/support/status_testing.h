// Asserting the engine's errors by their status code (engine/status/status_error.h), which is
// what a client sees, rather than by C++ type.
#pragma once

#include <gtest/gtest.h>

#include "absl/status/status.h"
#include "engine/status/status_error.h"

// Expects `statement` to throw a StatusError (or a subclass: CheckpointError, Cancelled) whose code
// is `expected_code`. Any other exception propagates and fails the test.
#define EXPECT_STATUS_ERROR(statement, expected_code)                                            \
  do {                                                                                           \
    try {                                                                                        \
      statement;                                                                                 \
      ADD_FAILURE() << #statement " threw nothing, expected "                                    \
                    << ::absl::StatusCodeToString(expected_code);                                \
    } catch (const ::streamdit::engine::StatusError& status_error) {                             \
      EXPECT_EQ(status_error.code(), (expected_code)) << #statement ": " << status_error.what(); \
    }                                                                                            \
  } while (false)

#define EXPECT_INVALID_ARGUMENT(statement) \
  EXPECT_STATUS_ERROR(statement, ::absl::StatusCode::kInvalidArgument)
