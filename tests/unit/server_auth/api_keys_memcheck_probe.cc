// Run under valgrind's memcheck by the ctest `api_keys_constant_time`: the stored key digests are
// marked undefined (secret), so that memcheck reports any branch or memory index that depends on
// them ("Conditional jump or move depends on uninitialised value(s)"), the ctgrind technique.
// MatchesAnyDigest must compare without such a branch; only its final answer is declassified.
// The probe also checks the answers, so a comparison that does no work cannot pass.
#include <valgrind/memcheck.h>

#include <cstdio>
#include <vector>

#include "server/auth/api_keys.h"

int main() {
  using streamdit::server::DigestOfKey;
  using streamdit::server::KeyDigest;
  std::vector<KeyDigest> keys = {DigestOfKey("sk-probe-key-number-one"),
                                 DigestOfKey("sk-probe-key-number-two"),
                                 DigestOfKey("sk-probe-key-number-three")};
  for (KeyDigest& key : keys) VALGRIND_MAKE_MEM_UNDEFINED(key.data(), key.size());

  const KeyDigest guesses[] = {DigestOfKey("sk-probe-key-number-two"),
                               DigestOfKey("sk-probe-key-number-four")};
  const bool expected[] = {true, false};
  int wrong = 0;
  for (int i = 0; i < 2; ++i) {
    bool matched = streamdit::server::MatchesAnyDigest(guesses[i], keys);
    VALGRIND_MAKE_MEM_DEFINED(&matched, sizeof(matched));  // the answer alone is public
    if (matched != expected[i]) {
      std::fprintf(stderr, "guess %d: matched=%d, expected %d\n", i, matched, expected[i]);
      ++wrong;
    }
  }
  std::printf("api_keys_memcheck_probe: %s\n", wrong == 0 ? "answers right" : "WRONG answers");
  return wrong == 0 ? 0 : 1;
}
