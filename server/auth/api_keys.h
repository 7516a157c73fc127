// API keys for both protocols: `Authorization: Bearer KEY` over HTTP and the `authorization`
// metadata over gRPC. Keys are read from a file or from an environment variable that the
// configuration names (never from the command line); with none configured the server is open.
//
// Keys are never logged, and the object keeps only their SHA-256 digests. A presented key is
// hashed and compared with every stored digest by a comparison whose time does not depend on the
// bytes compared nor on which key matched (MatchesAnyDigest), so timing tells an attacker nothing
// about how close a guess was.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace streamdit::server {

using KeyDigest = std::array<uint8_t, 32>;  // SHA-256

KeyDigest DigestOfKey(std::string_view key);

// True when `presented` equals any of `keys`. Reads every byte of every key and never branches on
// them: constant time in the keys' contents (tests/unit/server_auth checks this under memcheck).
bool MatchesAnyDigest(const KeyDigest& presented, const std::vector<KeyDigest>& keys);

class ApiKeys {
 public:
  ApiKeys() = default;  // no keys: every call is let through

  // Keys separated by newlines, commas or spaces; a line starting with '#' is a comment. Each key
  // is 16..512 printable ASCII characters. INVALID_ARGUMENT naming `source` and the key's position
  // (never the key) otherwise, or when the text holds no key.
  static absl::StatusOr<ApiKeys> Parse(std::string_view text, std::string_view source);
  // The file's keys (NOT_FOUND naming the file when it cannot be read).
  static absl::StatusOr<ApiKeys> FromFile(const std::string& path);

  bool enabled() const { return !digests_.empty(); }
  std::size_t size() const { return digests_.size(); }

  // Checks an `Authorization` header's or metadata's value ("Bearer KEY"; the scheme's case is
  // ignored). OK when no keys are configured or the key is one of them; UNAUTHENTICATED saying
  // what was wrong (missing, not a bearer token, unknown key) but never echoing the key.
  absl::Status CheckAuthorization(std::string_view authorization) const;

 private:
  std::vector<KeyDigest> digests_;
};

}  // namespace streamdit::server
