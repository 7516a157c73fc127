// The one byte-size parser and the one dtype parser behind every command's flags.
#include "server/cli/flag_values.h"

#include <gtest/gtest.h>

#include "engine/status/status_error.h"

namespace streamdit::server::cli {
namespace {

void ExpectInvalid(const std::string& text) {
  try {
    ParseByteSize("--budget", text);
    ADD_FAILURE() << "'" << text << "' was accepted";
  } catch (const engine::StatusError& error) {
    EXPECT_EQ(error.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(std::string(error.what()).find("--budget"), std::string::npos) << error.what();
  }
}

TEST(ParseByteSize, BinaryAndDecimalUnits) {
  EXPECT_EQ(ParseByteSize("--budget", "24GiB"), 24ll << 30);
  EXPECT_EQ(ParseByteSize("--budget", "24G"), 24ll << 30);
  EXPECT_EQ(ParseByteSize("--budget", "24GB"), 24000000000ll);
  EXPECT_EQ(ParseByteSize("--budget", "512MiB"), 512ll << 20);
  EXPECT_EQ(ParseByteSize("--budget", "256mib"), 256ll << 20);
  EXPECT_EQ(ParseByteSize("--budget", "1.5GiB"), 3ll << 29);
  EXPECT_EQ(ParseByteSize("--budget", "1048576"), 1048576);
  ExpectInvalid("-1G");
  ExpectInvalid("0");
  ExpectInvalid("12 parsecs");
  ExpectInvalid("");
  ExpectInvalid("lots");
}

TEST(ParseDtype, ShortAndLongNamesRoundTrip) {
  EXPECT_EQ(ParseDtype("--dtype", "f32"), torch::kFloat);
  EXPECT_EQ(ParseDtype("--dtype", "float32"), torch::kFloat);
  EXPECT_EQ(ParseDtype("--dtype", "bf16"), torch::kBFloat16);
  EXPECT_EQ(ParseDtype("--dtype", "bfloat16"), torch::kBFloat16);
  EXPECT_EQ(ParseDtype("--dtype", "f16"), torch::kHalf);
  for (torch::ScalarType dtype : {torch::kFloat, torch::kBFloat16, torch::kHalf}) {
    EXPECT_EQ(ParseDtype("--dtype", DtypeName(dtype)), dtype);
  }
  try {
    ParseDtype("--dtype", "fp4");
    ADD_FAILURE() << "fp4 was accepted";
  } catch (const engine::StatusError& error) {
    EXPECT_EQ(error.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(std::string(error.what()).find("fp4"), std::string::npos) << error.what();
  }
}

}  // namespace
}  // namespace streamdit::server::cli
