#include "engine/text/clip_pretokenizer.h"

#include <unicode/locid.h>
#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>

#include <cstdint>
#include <limits>

#include "engine/status/status_error.h"

namespace streamdit::engine {
namespace {

using CodePoints = std::u32string;

CodePoints ToCodePoints(const icu::UnicodeString& text) {
  CodePoints out;
  out.reserve(static_cast<std::size_t>(text.length()));
  for (int32_t i = 0; i < text.length(); i = text.moveIndex32(i, 1)) {
    out.push_back(static_cast<char32_t>(text.char32At(i)));
  }
  return out;
}

icu::UnicodeString ToUnicodeString(const CodePoints& text) {
  icu::UnicodeString out;
  for (char32_t c : text) out.append(static_cast<UChar32>(c));
  return out;
}

void AppendUtf8(char32_t c, std::string& out) {
  if (c < 0x80) {
    out.push_back(static_cast<char>(c));
  } else if (c < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (c >> 6)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (c >> 12)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (c >> 18)));
    out.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  }
}

std::string ToUtf8(const char32_t* begin, const char32_t* end) {
  std::string out;
  out.reserve(static_cast<std::size_t>(end - begin));
  for (const char32_t* c = begin; c != end; ++c) AppendUtf8(*c, out);
  return out;
}

// Python's str.isspace (what `\s` means to the `re`/`regex` patterns of the reference tokenizers).
bool IsSpace(char32_t c) {
  if (c < 0x80) return c == ' ' || (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x1F);
  const auto cp = static_cast<UChar32>(c);
  if (u_charType(cp) == U_SPACE_SEPARATOR) return true;
  const UCharDirection direction = u_charDirection(cp);
  return direction == U_WHITE_SPACE_NEUTRAL || direction == U_BLOCK_SEPARATOR ||
         direction == U_SEGMENT_SEPARATOR;
}

bool IsLetter(char32_t c) { return (U_GET_GC_MASK(static_cast<UChar32>(c)) & U_GC_L_MASK) != 0; }
bool IsNumber(char32_t c) { return (U_GET_GC_MASK(static_cast<UChar32>(c)) & U_GC_N_MASK) != 0; }

// Case-insensitive match of an ASCII literal at `pos` (simple case folding, as the `regex`
// module's IGNORECASE does: the long s 'ſ' matches 's', the Kelvin sign matches 'k').
bool MatchesFolded(const CodePoints& text, std::size_t pos, std::string_view literal) {
  if (text.size() - pos < literal.size()) return false;
  for (std::size_t i = 0; i < literal.size(); ++i) {
    const UChar32 folded = u_foldCase(static_cast<UChar32>(text[pos + i]), U_FOLD_CASE_DEFAULT);
    if (folded != static_cast<unsigned char>(literal[i])) return false;
  }
  return true;
}

bool ParseUnsigned(const CodePoints& text, std::size_t begin, std::size_t end, int base,
                   uint32_t& value) {
  if (begin == end) return false;
  value = 0;
  for (std::size_t i = begin; i < end; ++i) {
    const char32_t c = text[i];
    uint32_t digit;
    if (c >= '0' && c <= '9') {
      digit = c - '0';
    } else if (base == 16 && c >= 'a' && c <= 'f') {
      digit = c - 'a' + 10;
    } else if (base == 16 && c >= 'A' && c <= 'F') {
      digit = c - 'A' + 10;
    } else {
      return false;
    }
    value = value * static_cast<uint32_t>(base) + digit;
  }
  return true;
}

// The character a `&...;` reference stands for, or nothing when it is not one we decode.
// Numeric references decode only to printable scalar values (no controls, no surrogates).
bool DecodeEntity(const CodePoints& text, std::size_t begin, std::size_t end, char32_t& out) {
  const std::string name = ToUtf8(text.data() + begin, text.data() + end);
  if (name == "amp")
    out = '&';
  else if (name == "lt")
    out = '<';
  else if (name == "gt")
    out = '>';
  else if (name == "quot")
    out = '"';
  else if (name == "apos")
    out = '\'';
  else if (name == "nbsp")
    out = 0xA0;
  else if (name.size() >= 2 && name[0] == '#') {
    const bool hex = name[1] == 'x' || name[1] == 'X';
    const std::size_t digits_begin = begin + (hex ? 2 : 1);
    const std::size_t max_digits = hex ? 6 : 7;
    if (end - digits_begin > max_digits) return false;
    uint32_t value = 0;
    if (!ParseUnsigned(text, digits_begin, end, hex ? 16 : 10, value)) return false;
    const bool control = value < 0x20 || (value >= 0x7F && value <= 0x9F);
    const bool surrogate = value >= 0xD800 && value <= 0xDFFF;
    if (control || surrogate || value > 0x10FFFF) return false;
    out = value;
  } else {
    return false;
  }
  return true;
}

CodePoints UnescapeHtml(const CodePoints& text) {
  constexpr std::size_t kLongestReference = 10;  // "&#x10FFFF;"
  CodePoints out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '&') {
      std::size_t semicolon = i + 1;
      while (semicolon < text.size() && semicolon - i < kLongestReference &&
             text[semicolon] != ';') {
        ++semicolon;
      }
      char32_t decoded;
      if (semicolon < text.size() && text[semicolon] == ';' &&
          DecodeEntity(text, i + 1, semicolon, decoded)) {
        out.push_back(decoded);
        i = semicolon;
        continue;
      }
    }
    out.push_back(text[i]);
  }
  return out;
}

CodePoints CollapseWhitespace(const CodePoints& text) {
  CodePoints out;
  out.reserve(text.size());
  bool pending_space = false;
  for (char32_t c : text) {
    if (IsSpace(c)) {
      pending_space = true;
      continue;
    }
    if (pending_space && !out.empty()) out.push_back(' ');
    pending_space = false;
    out.push_back(c);
  }
  return out;
}

// Bytes that GPT-2's bytes_to_unicode keeps as themselves (as Latin-1 code points): '!'..'~',
// '¡'..'¬', '®'..'ÿ'. The others are substituted with U+0100 onwards in increasing byte order.
bool IsPrintableByte(int b) {
  return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

}  // namespace

std::string CleanClipText(std::string_view text) {
  if (text.size() > static_cast<std::size_t>(std::numeric_limits<int32_t>::max())) {
    throw InvalidArgument("prompt: longer than 2^31-1 bytes");
  }
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* nfc = icu::Normalizer2::getNFCInstance(status);
  if (U_FAILURE(status)) throw Internal("ICU NFC normalizer unavailable");
  const icu::UnicodeString decoded = icu::UnicodeString::fromUTF8(
      icu::StringPiece(text.data(), static_cast<int32_t>(text.size())));
  const icu::UnicodeString normalized = nfc->normalize(decoded, status);
  if (U_FAILURE(status)) throw Internal("ICU NFC normalization failed");

  CodePoints code_points = ToCodePoints(normalized);
  // openai unescapes twice so that doubly escaped text ("&amp;lt;") comes out as the character.
  code_points = UnescapeHtml(UnescapeHtml(code_points));
  icu::UnicodeString collapsed = ToUnicodeString(CollapseWhitespace(code_points));
  collapsed.toLower(icu::Locale::getRoot());
  std::string out;
  collapsed.toUTF8String(out);
  return out;
}

std::vector<std::string> SplitClipPieces(std::string_view cleaned) {
  const CodePoints text = ToCodePoints(icu::UnicodeString::fromUTF8(
      icu::StringPiece(cleaned.data(), static_cast<int32_t>(cleaned.size()))));
  static constexpr std::string_view kContractions[] = {"'s", "'t", "'re", "'ve", "'m", "'ll", "'d"};
  std::vector<std::string> pieces;
  std::size_t i = 0;
  while (i < text.size()) {
    if (IsSpace(text[i])) {
      ++i;
      continue;
    }
    std::size_t end = i;
    for (std::string_view literal : {kClipStartOfText, kClipEndOfText}) {
      if (MatchesFolded(text, i, literal)) {
        end = i + literal.size();
        break;
      }
    }
    if (end == i) {
      for (std::string_view contraction : kContractions) {
        if (MatchesFolded(text, i, contraction)) {
          end = i + contraction.size();
          break;
        }
      }
    }
    if (end == i) {
      if (IsLetter(text[i])) {
        while (end < text.size() && IsLetter(text[end])) ++end;
      } else if (IsNumber(text[i])) {
        end = i + 1;
      } else {
        while (end < text.size() && !IsSpace(text[end]) && !IsLetter(text[end]) &&
               !IsNumber(text[end])) {
          ++end;
        }
      }
    }
    pieces.push_back(ToUtf8(text.data() + i, text.data() + end));
    i = end;
  }
  return pieces;
}

const std::array<unsigned char, 256>& ClipByteOrder() {
  static const std::array<unsigned char, 256> order = [] {
    std::array<unsigned char, 256> result{};
    std::size_t next = 0;
    for (int b = 0; b < 256; ++b) {
      if (IsPrintableByte(b)) result[next++] = static_cast<unsigned char>(b);
    }
    for (int b = 0; b < 256; ++b) {
      if (!IsPrintableByte(b)) result[next++] = static_cast<unsigned char>(b);
    }
    return result;
  }();
  return order;
}

const std::array<std::string, 256>& ClipByteSymbols() {
  static const std::array<std::string, 256> symbols = [] {
    std::array<std::string, 256> result;
    char32_t next_substitute = 0x100;
    for (int b = 0; b < 256; ++b) {
      AppendUtf8(IsPrintableByte(b) ? static_cast<char32_t>(b) : next_substitute++, result[b]);
    }
    return result;
  }();
  return symbols;
}

}  // namespace streamdit::engine
