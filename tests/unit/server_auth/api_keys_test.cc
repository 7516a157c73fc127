// API keys: parsing (file and variable formats, errors that never echo a key), the Authorization
// header's forms, and the digest comparison. Its constant time is checked by
// api_keys_memcheck_probe.cc under valgrind (the ctest `api_keys_constant_time`).
#include "server/auth/api_keys.h"

#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "tests/support/scratch_dir.h"

namespace streamdit::server {
namespace {

constexpr char kKey[] = "sk-first-key-0123456789";
constexpr char kOther[] = "sk-second-key-abcdefghij";

TEST(ApiKeys, NoKeysLetsEveryCallThrough) {
  const ApiKeys open;
  EXPECT_FALSE(open.enabled());
  EXPECT_TRUE(open.CheckAuthorization("").ok());
  EXPECT_TRUE(open.CheckAuthorization("Bearer anything").ok());
}

TEST(ApiKeys, AcceptsEveryListedKeyAndNothingElse) {
  const absl::StatusOr<ApiKeys> keys = ApiKeys::Parse(
      std::string("# production\n") + kKey + "\n\n  " + kOther + " , sk-third-key-zzzzzzzzz\n",
      "test");
  ASSERT_TRUE(keys.ok()) << keys.status();
  EXPECT_EQ(keys->size(), 3u);
  EXPECT_TRUE(keys->CheckAuthorization(std::string("Bearer ") + kKey).ok());
  EXPECT_TRUE(keys->CheckAuthorization(std::string("bearer ") + kOther).ok());  // scheme: any case
  EXPECT_TRUE(keys->CheckAuthorization("Bearer sk-third-key-zzzzzzzzz").ok());
  // A prefix, an extension, another case: other keys.
  for (const std::string& wrong :
       {std::string("Bearer ") + std::string(kKey).substr(0, 20),
        std::string("Bearer ") + kKey + "x", std::string("Bearer SK-FIRST-KEY-0123456789")}) {
    const absl::Status status = keys->CheckAuthorization(wrong);
    EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated) << wrong;
    EXPECT_EQ(std::string(status.message()).find("sk-"), std::string::npos) << status;
  }
}

TEST(ApiKeys, SaysWhatIsWrongWithoutEchoingTheKey) {
  const absl::StatusOr<ApiKeys> keys = ApiKeys::Parse(kKey, "test");
  ASSERT_TRUE(keys.ok());
  EXPECT_NE(keys->CheckAuthorization("").message().find("API key is required"),
            absl::string_view::npos);
  EXPECT_NE(keys->CheckAuthorization(std::string("Basic ") + kKey).message().find("bearer"),
            absl::string_view::npos);
  EXPECT_NE(keys->CheckAuthorization("Bearer").message().find("bearer"), absl::string_view::npos);
  EXPECT_EQ(keys->CheckAuthorization("Bearer sk-guessed-key-000000").message(),
            "the API key is not valid");
}

TEST(ApiKeys, BadKeyTextsAreRefusedNamingTheSourceAndPositionNotTheKey) {
  const absl::StatusOr<ApiKeys> short_key = ApiKeys::Parse(std::string(kKey) + "\nshort", "file k");
  ASSERT_EQ(short_key.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(short_key.status().message().find("file k: API key #2 must be 16..512"),
            absl::string_view::npos)
      << short_key.status();
  EXPECT_EQ(short_key.status().message().find("short"), absl::string_view::npos);
  EXPECT_EQ(ApiKeys::Parse("# only a comment\n\n", "file k").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ApiKeys::Parse(std::string(600, 'k'), "v").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ApiKeys::FromFile("/nonexistent/keys.txt").status().code(),
            absl::StatusCode::kNotFound);
}

TEST(ApiKeys, ReadsAKeyFile) {
  const test_support::ScratchDir dir("streamdit_keys");
  std::ofstream(dir.File("keys.txt")) << "# keys\n" << kKey << "\n";
  const absl::StatusOr<ApiKeys> keys = ApiKeys::FromFile(dir.File("keys.txt"));
  ASSERT_TRUE(keys.ok()) << keys.status();
  EXPECT_TRUE(keys->CheckAuthorization(std::string("Bearer ") + kKey).ok());
}

TEST(ApiKeys, DigestComparisonFindsAMatchAnywhereInTheList) {
  const std::vector<KeyDigest> keys = {DigestOfKey("a-key-number-one"), DigestOfKey(kKey),
                                       DigestOfKey("a-key-number-three")};
  EXPECT_TRUE(MatchesAnyDigest(DigestOfKey(kKey), keys));
  EXPECT_TRUE(MatchesAnyDigest(DigestOfKey("a-key-number-three"), keys));
  EXPECT_FALSE(MatchesAnyDigest(DigestOfKey(kOther), keys));
  EXPECT_FALSE(MatchesAnyDigest(DigestOfKey(kKey), {}));
}

}  // namespace
}  // namespace streamdit::server
