#include "server/auth/api_keys.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace streamdit::server {
namespace {

constexpr std::size_t kMinKeyLength = 16;
constexpr std::size_t kMaxKeyLength = 512;

// Debian's absl has a string_view of its own: the texts are viewed as absl's inside this file.
absl::string_view View(std::string_view text) {
  return absl::string_view(text.data(), text.size());
}

bool IsPrintableKey(absl::string_view key) {
  for (char c : key) {
    if (c <= 0x20 || c >= 0x7f) return false;
  }
  return true;
}

}  // namespace

KeyDigest DigestOfKey(std::string_view key) {
  KeyDigest digest;
  SHA256(reinterpret_cast<const unsigned char*>(key.data()), key.size(), digest.data());
  return digest;
}

bool MatchesAnyDigest(const KeyDigest& presented, const std::vector<KeyDigest>& keys) {
  // CRYPTO_memcmp reads every byte whatever it finds; the results are OR-ed without a branch, so
  // neither the position of a difference nor which key matched changes the work done.
  unsigned matched = 0;
  for (const KeyDigest& key : keys) {
    const unsigned differs = CRYPTO_memcmp(presented.data(), key.data(), key.size()) != 0;
    matched |= differs ^ 1u;
  }
  return matched != 0;
}

absl::StatusOr<ApiKeys> ApiKeys::Parse(std::string_view text, std::string_view source_name) {
  const std::string source(source_name);
  ApiKeys keys;
  int position = 0;
  for (absl::string_view line : absl::StrSplit(View(text), '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line.front() == '#') continue;
    for (absl::string_view key :
         absl::StrSplit(line, absl::ByAnyChar(", \t\r"), absl::SkipEmpty())) {
      ++position;
      if (key.size() < kMinKeyLength || key.size() > kMaxKeyLength || !IsPrintableKey(key)) {
        return absl::InvalidArgumentError(
            absl::StrCat(source, ": API key #", position, " must be ", kMinKeyLength, "..",
                         kMaxKeyLength, " printable ASCII characters (it has ", key.size(), ")"));
      }
      keys.digests_.push_back(DigestOfKey(std::string_view(key.data(), key.size())));
    }
  }
  if (keys.digests_.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": holds no API key"));
  }
  return keys;
}

absl::StatusOr<ApiKeys> ApiKeys::FromFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError("API key file " + path + " cannot be read");
  std::ostringstream text;
  text << in.rdbuf();
  return Parse(text.str(), "API key file " + path);
}

absl::Status ApiKeys::CheckAuthorization(std::string_view header) const {
  if (!enabled()) return absl::OkStatus();
  const absl::string_view authorization = absl::StripAsciiWhitespace(View(header));
  if (authorization.empty()) {
    return absl::UnauthenticatedError(
        "an API key is required: send it as 'Authorization: Bearer KEY'");
  }
  constexpr absl::string_view kScheme = "bearer ";
  if (authorization.size() <= kScheme.size() ||
      !absl::StartsWithIgnoreCase(authorization, kScheme)) {
    return absl::UnauthenticatedError(
        "the authorization is not a bearer token: send 'Authorization: Bearer KEY'");
  }
  const absl::string_view key =
      absl::StripLeadingAsciiWhitespace(authorization.substr(kScheme.size()));
  if (!MatchesAnyDigest(DigestOfKey(std::string_view(key.data(), key.size())), digests_)) {
    return absl::UnauthenticatedError("the API key is not valid");
  }
  return absl::OkStatus();
}

}  // namespace streamdit::server
