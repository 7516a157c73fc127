// The text side of CLIP's byte-level BPE before any merge is applied (flux-spec.md §5.2): text
// cleanup, the split pattern, and GPT-2's byte-to-symbol map. Shared by the tokenizer and by the
// BPE trainer so that training sees exactly the pieces that encoding will see.
#pragma once

#include <array>
#include <string>
#include <string_view>
#include <vector>

namespace streamdit::engine {

inline constexpr std::string_view kClipStartOfText = "<|startoftext|>";
inline constexpr std::string_view kClipEndOfText = "<|endoftext|>";
inline constexpr std::string_view kClipEndOfWord = "</w>";

// What openai's simple_tokenizer does before splitting, minus ftfy's mojibake repair: NFC
// normalization (ftfy's default), two rounds of HTML unescaping restricted to the common entities
// (&amp; &lt; &gt; &quot; &apos; &nbsp; and numeric &#N; / &#xH;), every whitespace run (Python's
// str.isspace: category Zs or bidi class WS/B/S) collapsed to one space, stripped, then full
// Unicode lower-casing (root locale). Invalid UTF-8 becomes U+FFFD.
std::string CleanClipText(std::string_view text);

// Splits cleaned text with openai's pattern (case-insensitive):
//   <|startoftext|> | <|endoftext|> | 's|'t|'re|'ve|'m|'ll|'d | \p{L}+ | \p{N} | [^\s\p{L}\p{N}]+
// Alternatives are tried in that order at each position; whitespace between matches is skipped.
std::vector<std::string> SplitClipPieces(std::string_view cleaned);

// GPT-2's bytes_to_unicode: the symbol (UTF-8) standing for each byte value. Printable bytes
// ('!'..'~', '¡'..'¬', '®'..'ÿ') map to themselves, the others to U+0100 onwards in byte order.
const std::array<std::string, 256>& ClipByteSymbols();
// The bytes in the order of their symbols in a CLIP vocab: the printable ones first, then the rest.
const std::array<unsigned char, 256>& ClipByteOrder();

}  // namespace streamdit::engine
