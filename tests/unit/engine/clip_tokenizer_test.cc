// CLIP byte-level BPE: hand-derived expectations under a tiny hand-written vocab, and id-for-id
// agreement with the independent Python reference (tests/reference/clip_bpe_reference.py) on the
// shipped tricky strings, under a vocab trained on the shipped corpus.

#include "engine/text/clip_tokenizer.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "engine/checkpoint/checkpoint_error.h"
#include "engine/text/clip_bpe_trainer.h"
#include "tests/support/status_testing.h"
#include "tests/unit/engine/clip_test_support.h"

namespace streamdit::engine {
namespace {

using clip_testing::ReadText;
using clip_testing::RunPythonReference;
using clip_testing::ScratchDir;
using clip_testing::SourcePath;

constexpr int kTrainedMerges = 400;

// GPT-2's byte symbols in vocab order, written out here from the definition rather than taken
// from the code under test: '!'..'~', '¡'..'¬', '®'..'ÿ' as themselves, then the remaining bytes
// in increasing order as U+0100, U+0101, ...
std::vector<std::string> HandByteSymbols() {
  auto utf8 = [](unsigned code) {
    std::string s;
    if (code < 0x80) {
      s.push_back(static_cast<char>(code));
    } else {
      s.push_back(static_cast<char>(0xC0 | (code >> 6)));
      s.push_back(static_cast<char>(0x80 | (code & 0x3F)));
    }
    return s;
  };
  std::vector<std::string> symbols;
  std::vector<bool> printable(256, false);
  for (unsigned b = 0; b < 256; ++b) {
    printable[b] = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
    if (printable[b]) symbols.push_back(utf8(b));
  }
  unsigned next = 0x100;
  for (unsigned b = 0; b < 256; ++b) {
    if (!printable[b]) symbols.push_back(utf8(next++));
  }
  return symbols;
}

// 512 byte symbols, 8 merges (ids 512..519), then <|startoftext|> = 520, <|endoftext|> = 521.
struct HandVocab {
  std::string vocab_json;
  std::string merges_txt;
};

HandVocab MakeHandVocab(const std::vector<std::string>& extra_merge_lines = {}) {
  const std::vector<std::pair<std::string, std::string>> merges = {
      {"h", "e"}, {"l", "l"}, {"he", "ll"}, {"hell", "o</w>"},
      {"w", "o"}, {"r", "l"}, {"wo", "rl"}, {"worl", "d</w>"}};
  nlohmann::ordered_json vocab;
  int id = 0;
  for (const std::string& symbol : HandByteSymbols()) vocab[symbol] = id++;
  for (const std::string& symbol : HandByteSymbols()) vocab[symbol + "</w>"] = id++;
  std::string merges_txt = "#version: 0.2\n";
  for (const auto& [left, right] : merges) {
    vocab[left + right] = id++;
    merges_txt += left + " " + right + "\n";
  }
  for (const std::string& line : extra_merge_lines) merges_txt += line + "\n";
  vocab["<|startoftext|>"] = id++;
  vocab["<|endoftext|>"] = id++;
  return {vocab.dump(), merges_txt};
}

ClipTokenizer HandTokenizer(ClipTokenizerOptions options = {}) {
  const HandVocab hand = MakeHandVocab();
  return ClipTokenizer::FromStrings(hand.vocab_json, hand.merges_txt, options);
}

TEST(ClipTokenizerTest, HandVocabByteSymbolsSitWhereGpt2PutsThem) {
  const ClipTokenizer tokenizer = HandTokenizer();
  EXPECT_EQ(tokenizer.vocab_size(), 522);
  EXPECT_EQ(tokenizer.token(0), "!");
  EXPECT_EQ(tokenizer.token(71), "h");               // 'h' = 104 = 33 + 71
  EXPECT_EQ(tokenizer.token(188 + 32), "\xC4\xA0");  // space -> 'Ġ' (U+0120)
  EXPECT_EQ(tokenizer.token(256 + 11), ",</w>");
  EXPECT_EQ(tokenizer.bos_id(), 520);  // read from the vocab, not assumed to be 49406
  EXPECT_EQ(tokenizer.eos_id(), 521);
  EXPECT_EQ(tokenizer.pad_id(), 521);
}

TEST(ClipTokenizerTest, HelloWorldPiecesAndIds) {
  const ClipTokenizer tokenizer = HandTokenizer();
  EXPECT_EQ(tokenizer.TokenizeToStrings("Hello, world!"),
            (std::vector<std::string>{"hello</w>", ",</w>", "world</w>", "!</w>"}));
  // hello</w> = 515, ",</w>" = 256 + (',' - 33), world</w> = 519, "!</w>" = 256 + 0.
  EXPECT_EQ(tokenizer.Tokenize("Hello, world!"), (std::vector<int64_t>{515, 267, 519, 256}));
  EXPECT_EQ(tokenizer.Tokenize("  HELLO \t\n  hello  "), (std::vector<int64_t>{515, 515}));
}

TEST(ClipTokenizerTest, EveryOccurrenceOfTheBestPairMergesBeforeTheNextRank) {
  const ClipTokenizer tokenizer = HandTokenizer();
  // h e l l o h e l l o</w> -> he,ll,hell apply to both halves; only the final "o</w>" merges.
  EXPECT_EQ(tokenizer.TokenizeToStrings("hellohello"),
            (std::vector<std::string>{"hell", "o", "hello</w>"}));
  EXPECT_EQ(tokenizer.Tokenize("hellohello"), (std::vector<int64_t>{514, 'o' - 33, 515}));
  // (l,l) merges left to right without overlap: l l l l l x</w> -> ll ll l x</w>.
  EXPECT_EQ(tokenizer.TokenizeToStrings("lllllx"),
            (std::vector<std::string>{"ll", "ll", "l", "x</w>"}));
}

TEST(ClipTokenizerTest, ContractionsDigitsAndPunctuationSplitLikeOpenai) {
  const ClipTokenizer tokenizer = HandTokenizer();
  EXPECT_EQ(tokenizer.TokenizeToStrings("it's"),
            (std::vector<std::string>{"i", "t</w>", "'", "s</w>"}));
  EXPECT_EQ(tokenizer.Tokenize("it's"), (std::vector<int64_t>{72, 256 + 83, 6, 256 + 82}));
  EXPECT_EQ(tokenizer.Tokenize("2024"), (std::vector<int64_t>{273, 271, 273, 275}));
  // A run of punctuation is one piece; ?! have no merges so each byte is a symbol.
  EXPECT_EQ(tokenizer.TokenizeToStrings("?!?"), (std::vector<std::string>{"?", "!", "?</w>"}));
  // Written-out special tokens become the special ids (openai seeds its cache with them).
  EXPECT_EQ(tokenizer.Tokenize("<|endoftext|> <|StartOfText|>"), (std::vector<int64_t>{521, 520}));
}

TEST(ClipTokenizerTest, EncodePadsWithEosAndTruncatesTo75ContentTokens) {
  const ClipTokenizer tokenizer = HandTokenizer();
  bool truncated = true;
  std::vector<int64_t> ids = tokenizer.Encode("Hello, world!", &truncated);
  EXPECT_FALSE(truncated);
  ASSERT_EQ(ids.size(), 77u);
  EXPECT_EQ(std::vector<int64_t>(ids.begin(), ids.begin() + 6),
            (std::vector<int64_t>{520, 515, 267, 519, 256, 521}));
  for (std::size_t i = 6; i < ids.size(); ++i) EXPECT_EQ(ids[i], 521) << i;

  std::string seventy_five;
  for (int i = 0; i < 75; ++i) seventy_five += "a ";
  ids = tokenizer.Encode(seventy_five, &truncated);
  EXPECT_FALSE(truncated);
  EXPECT_EQ(ids[75], 256 + ('a' - 33));
  EXPECT_EQ(ids[76], 521);

  ids = tokenizer.Encode(seventy_five + "b", &truncated);
  EXPECT_TRUE(truncated);
  ASSERT_EQ(ids.size(), 77u);
  EXPECT_EQ(ids[75], 256 + ('a' - 33));  // "b" was dropped, EOS still closes the sequence
  EXPECT_EQ(ids[76], 521);

  EXPECT_EQ(tokenizer.Encode(""), [] {
    std::vector<int64_t> expected(77, 521);
    expected[0] = 520;
    return expected;
  }());
}

TEST(ClipTokenizerTest, PadIdAndLengthAreConfigurable) {
  ClipTokenizerOptions options;
  options.max_length = 8;
  options.pad_id = 0;
  const ClipTokenizer tokenizer = HandTokenizer(options);
  bool truncated = false;
  EXPECT_EQ(tokenizer.Encode("hello", &truncated),
            (std::vector<int64_t>{520, 515, 521, 0, 0, 0, 0, 0}));
  EXPECT_FALSE(truncated);
  EXPECT_EQ(tokenizer.Encode("a b c d e f g", &truncated).size(), 8u);
  EXPECT_TRUE(truncated);

  options.max_length = 1;
  EXPECT_INVALID_ARGUMENT(HandTokenizer(options));
  options.max_length = 77;
  options.pad_id = 522;
  EXPECT_INVALID_ARGUMENT(HandTokenizer(options));
}

TEST(ClipTokenizerTest, MergesBeyondTheVocabsMergeCountAreIgnored) {
  // openai's merges file is longer than the merges its vocab was built from; the extra lines
  // (whose results are not tokens) must not be used.
  const HandVocab hand = MakeHandVocab({"o r", "a b"});
  const ClipTokenizer tokenizer = ClipTokenizer::FromStrings(hand.vocab_json, hand.merges_txt);
  EXPECT_EQ(tokenizer.TokenizeToStrings("or"), (std::vector<std::string>{"o", "r</w>"}));
}

TEST(ClipTokenizerTest, InvalidUtf8BecomesReplacementCharacter) {
  const ClipTokenizer tokenizer = HandTokenizer();
  EXPECT_EQ(tokenizer.Tokenize("a\xff\xfe b"), tokenizer.Tokenize("a\xEF\xBF\xBD\xEF\xBF\xBD b"));
}

TEST(ClipTokenizerTest, MalformedFilesAreCheckpointErrors) {
  const HandVocab hand = MakeHandVocab();
  auto code_of = [](auto&& load) {
    try {
      load();
    } catch (const CheckpointError& error) {
      return error.code();
    }
    ADD_FAILURE() << "no CheckpointError";
    return CheckpointError::Code::kIo;
  };
  EXPECT_EQ(code_of([&] { ClipTokenizer::FromStrings("[1, 2", hand.merges_txt); }),
            CheckpointError::Code::kInvalidJson);
  nlohmann::json no_eos = nlohmann::json::parse(hand.vocab_json);
  no_eos.erase("<|endoftext|>");
  EXPECT_EQ(code_of([&] { ClipTokenizer::FromStrings(no_eos.dump(), hand.merges_txt); }),
            CheckpointError::Code::kMissingTensor);
  nlohmann::json gap = nlohmann::json::parse(hand.vocab_json);
  gap["<|endoftext|>"] = 600;
  EXPECT_EQ(code_of([&] { ClipTokenizer::FromStrings(gap.dump(), hand.merges_txt); }),
            CheckpointError::Code::kInvalidEntry);
  EXPECT_EQ(code_of([&] { ClipTokenizer::FromStrings(hand.vocab_json, "#version: 0.2\nh e x\n"); }),
            CheckpointError::Code::kInvalidEntry);
  EXPECT_EQ(code_of([&] { ClipTokenizer::FromStrings(hand.vocab_json, "#version: 0.2\nq z\n"); }),
            CheckpointError::Code::kMissingTensor);  // "qz" is not a token
  EXPECT_EQ(code_of([&] { ClipTokenizer::FromFiles("/nonexistent/vocab.json", "/x"); }),
            CheckpointError::Code::kIo);
}

TEST(ClipBpeTrainerTest, LayoutIsBytesThenMergesThenSpecials) {
  const ClipBpeFiles files = TrainClipBpe(ReadText(SourcePath("tests/data/clip/corpus.txt")), 50);
  EXPECT_EQ(files.num_merges, 50);
  const nlohmann::json vocab = nlohmann::json::parse(files.vocab_json);
  ASSERT_EQ(vocab.size(), 512u + 50u + 2u);
  const std::vector<std::string> bytes = HandByteSymbols();
  for (int i = 0; i < 256; ++i) {
    EXPECT_EQ(vocab.at(bytes[i]).get<int>(), i);
    EXPECT_EQ(vocab.at(bytes[i] + "</w>").get<int>(), 256 + i);
  }
  EXPECT_EQ(vocab.at("<|startoftext|>").get<int>(), 562);
  EXPECT_EQ(vocab.at("<|endoftext|>").get<int>(), 563);
  // The corpus' most frequent pair is merged first; training is deterministic.
  EXPECT_EQ(files.merges_txt.substr(0, 14), "#version: 0.2\n");
  const ClipBpeFiles again = TrainClipBpe(ReadText(SourcePath("tests/data/clip/corpus.txt")), 50);
  EXPECT_EQ(again.vocab_json, files.vocab_json);
  EXPECT_EQ(again.merges_txt, files.merges_txt);

  const ClipBpeFiles tiny = TrainClipBpe("ab ab", 100);  // runs out of pairs after "ab</w>"
  EXPECT_EQ(tiny.num_merges, 1);
  EXPECT_EQ(tiny.merges_txt, "#version: 0.2\na b</w>\n");
  EXPECT_INVALID_ARGUMENT(TrainClipBpe("x", -1));
}

TEST(ClipBpeTrainerTest, MatchesPythonReferenceTrainer) {
  ScratchDir dir;
  RunPythonReference("clip_bpe_reference.py", "train " + SourcePath("tests/data/clip/corpus.txt") +
                                                  " " + std::to_string(kTrainedMerges) + " " +
                                                  dir.path());
  const ClipBpeFiles ours =
      TrainClipBpe(ReadText(SourcePath("tests/data/clip/corpus.txt")), kTrainedMerges);
  EXPECT_EQ(ours.num_merges, kTrainedMerges);
  EXPECT_EQ(ours.merges_txt, ReadText(dir.File("merges.txt")));
  EXPECT_EQ(nlohmann::json::parse(ours.vocab_json),
            nlohmann::json::parse(ReadText(dir.File("vocab.json"))));
}

TEST(ClipTokenizerTest, MatchesPythonReferenceOnTrickyStrings) {
  ScratchDir dir;
  WriteClipBpeFiles(
      TrainClipBpe(ReadText(SourcePath("tests/data/clip/corpus.txt")), kTrainedMerges), dir.path());
  const std::string strings_path = SourcePath("tests/data/clip/strings.txt");
  RunPythonReference("clip_bpe_reference.py", "encode " + dir.File("vocab.json") + " " +
                                                  dir.File("merges.txt") + " " + strings_path +
                                                  " " + dir.File("reference.json"));
  const nlohmann::json reference = nlohmann::json::parse(ReadText(dir.File("reference.json")));
  const ClipTokenizer tokenizer =
      ClipTokenizer::FromFiles(dir.File("vocab.json"), dir.File("merges.txt"));
  EXPECT_EQ(tokenizer.vocab_size(), 512 + kTrainedMerges + 2);

  std::vector<std::string> strings;
  std::istringstream lines(ReadText(strings_path));
  for (std::string line; std::getline(lines, line);) {
    if (!line.empty()) strings.push_back(nlohmann::json::parse(line).get<std::string>());
  }
  ASSERT_EQ(strings.size(), reference.size());
  ASSERT_GE(strings.size(), 25u);
  int truncated_count = 0;
  for (std::size_t i = 0; i < strings.size(); ++i) {
    SCOPED_TRACE("string " + std::to_string(i) + ": " + strings[i].substr(0, 80));
    EXPECT_EQ(tokenizer.TokenizeToStrings(strings[i]),
              reference[i].at("tokens").get<std::vector<std::string>>());
    EXPECT_EQ(tokenizer.Tokenize(strings[i]),
              reference[i].at("content").get<std::vector<int64_t>>());
    bool truncated = false;
    EXPECT_EQ(tokenizer.Encode(strings[i], &truncated),
              reference[i].at("encoded").get<std::vector<int64_t>>());
    EXPECT_EQ(truncated, reference[i].at("truncated").get<bool>());
    truncated_count += truncated;
  }
  EXPECT_GE(truncated_count, 3);                            // the long strings exercise truncation
  EXPECT_GT(reference.back().at("content").size(), 2000u);  // the 10 000-character input
}

TEST(ClipTokenizerTest, ConcurrentCallersShareTheWordCache) {
  const ClipBpeFiles files =
      TrainClipBpe(ReadText(SourcePath("tests/data/clip/corpus.txt")), kTrainedMerges);
  const ClipTokenizer tokenizer = ClipTokenizer::FromStrings(files.vocab_json, files.merges_txt);
  const std::string text = ReadText(SourcePath("tests/data/clip/corpus.txt"));
  const std::vector<int64_t> expected =
      ClipTokenizer::FromStrings(files.vocab_json, files.merges_txt).Tokenize(text);
  std::vector<std::vector<int64_t>> results(4);
  std::vector<std::thread> threads;
  for (auto& result : results) {
    threads.emplace_back([&tokenizer, &text, &result] {
      for (int round = 0; round < 3; ++round) result = tokenizer.Tokenize(text);
    });
  }
  for (auto& thread : threads) thread.join();
  for (const auto& result : results) EXPECT_EQ(result, expected);
}

}  // namespace
}  // namespace streamdit::engine
