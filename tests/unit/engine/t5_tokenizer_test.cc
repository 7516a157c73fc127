// T5 tokenizer and demo-model trainer: ids equal to Debian's python3-sentencepiece on the same
// model, FLUX's EOS/padding/truncation framing, deterministic training, and clear errors for
// missing or corrupt model files.

#include "engine/text/t5_tokenizer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/checkpoint/checkpoint_error.h"
#include "engine/text/sentencepiece_library.h"
#include "engine/text/t5_tokenizer_trainer.h"
#include "tests/support/python_reference.h"
#include "tests/support/scratch_dir.h"
#include "tests/support/status_testing.h"

namespace streamdit::engine {
namespace {

using test_support::RunPythonReference;
using test_support::ScratchDir;
using test_support::ShellQuote;
using test_support::SourcePath;

std::string CorpusPath() { return SourcePath("assets/demo_corpus.txt"); }

std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void WriteBytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// The demo spiece.model, trained once for the whole suite.
class T5TokenizerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    scratch_ = new ScratchDir();
    model_path_ = new std::string(scratch_->File("spiece.model"));
    TrainT5SentencePieceFile(CorpusPath(), *model_path_);
  }
  static void TearDownTestSuite() {
    delete model_path_;
    delete scratch_;
  }

  static ScratchDir* scratch_;
  static std::string* model_path_;
};

ScratchDir* T5TokenizerTest::scratch_ = nullptr;
std::string* T5TokenizerTest::model_path_ = nullptr;

TEST_F(T5TokenizerTest, TrainingIsByteDeterministic) {
  ScratchDir scratch;
  TrainT5SentencePieceFile(CorpusPath(), scratch.File("again.model"));
  const std::string first = ReadBytes(*model_path_);
  const std::string second = ReadBytes(scratch.File("again.model"));
  ASSERT_GT(first.size(), 1000u);
  EXPECT_TRUE(first == second) << "two trainings on the same corpus gave different bytes";
  // The in-memory entry point gives the same model as the file one: no path is recorded.
  std::vector<std::string> lines;
  std::ifstream corpus(CorpusPath());
  for (std::string line; std::getline(corpus, line);) {
    if (!line.empty()) lines.push_back(line);
  }
  EXPECT_TRUE(TrainT5SentencePiece(lines) == first);
}

TEST_F(T5TokenizerTest, TrainedModelHasT5SpecialIdsAndRequestedSize) {
  const T5Tokenizer tokenizer = T5Tokenizer::Load(*model_path_);
  EXPECT_EQ(tokenizer.piece_count(), kDemoT5VocabSize);
  // Python's view of the same file: T5's pad 0, eos 1, unk 2 and no bos.
  const auto info = nlohmann::json::parse(
      RunPythonReference("t5_tokenizer_reference.py", "info " + ShellQuote(*model_path_)));
  EXPECT_EQ(info["piece_count"].get<int>(), kDemoT5VocabSize);
  EXPECT_EQ(info["pad"].get<int>(), 0);
  EXPECT_EQ(info["eos"].get<int>(), 1);
  EXPECT_EQ(info["unk"].get<int>(), 2);
  EXPECT_EQ(info["bos"].get<int>(), -1);
  // Text outside the corpus' alphabet maps to <unk> rather than failing.
  const auto ids = tokenizer.Pieces("\u6771\u4eac");
  EXPECT_NE(std::find(ids.begin(), ids.end(), 2), ids.end());
}

TEST_F(T5TokenizerTest, MatchesPythonSentencepieceOnShippedStrings) {
  const T5Tokenizer tokenizer = T5Tokenizer::Load(*model_path_);
  const std::string cases_path = SourcePath("tests/data/t5/tokenizer_cases.json");
  const auto cases = nlohmann::json::parse(ReadBytes(cases_path)).get<std::vector<std::string>>();
  ASSERT_GE(cases.size(), 10u);
  for (int64_t max_len : {1, 8, 16, 77, 256}) {
    SCOPED_TRACE("max_len " + std::to_string(max_len));
    const auto expected = nlohmann::json::parse(RunPythonReference(
        "t5_tokenizer_reference.py",
        ShellQuote(*model_path_) + " " + ShellQuote(cases_path) + " " + std::to_string(max_len)));
    ASSERT_EQ(expected.size(), cases.size());
    int truncated_cases = 0;
    for (std::size_t i = 0; i < cases.size(); ++i) {
      SCOPED_TRACE("case " + std::to_string(i) + ": " + cases[i]);
      const T5Encoding encoding = tokenizer.Encode(cases[i], max_len);
      EXPECT_EQ(tokenizer.Pieces(cases[i]), expected[i]["pieces"].get<std::vector<int64_t>>());
      EXPECT_EQ(encoding.ids, expected[i]["ids"].get<std::vector<int64_t>>());
      EXPECT_EQ(encoding.truncated, expected[i]["truncated"].get<bool>());
      truncated_cases += encoding.truncated ? 1 : 0;
    }
    // The lengths chosen cover both regimes: some strings cut, (from 16 up) some padded.
    if (max_len <= 16) {
      EXPECT_GT(truncated_cases, 0);
    }
    if (max_len >= 77) {
      EXPECT_LT(truncated_cases, static_cast<int>(cases.size()));
    }
  }
}

TEST_F(T5TokenizerTest, EmptyStringIsEosThenPadding) {
  const T5Tokenizer tokenizer = T5Tokenizer::Load(*model_path_);
  const T5Encoding encoding = tokenizer.Encode("", 6);
  EXPECT_EQ(encoding.ids, (std::vector<int64_t>{1, 0, 0, 0, 0, 0}));
  EXPECT_EQ(encoding.length, 1);
  EXPECT_FALSE(encoding.truncated);
}

TEST_F(T5TokenizerTest, PadsAfterEosAndTruncatesToLeaveRoomForEos) {
  const T5Tokenizer tokenizer = T5Tokenizer::Load(*model_path_);
  const std::string text = "A lighthouse on a rocky cliff during a thunderstorm.";
  const std::vector<int64_t> pieces = tokenizer.Pieces(text);
  const auto n = static_cast<int64_t>(pieces.size());
  ASSERT_GE(n, 5);

  // Room to spare: pieces, EOS, then padding.
  T5Encoding padded = tokenizer.Encode(text, n + 4);
  std::vector<int64_t> expected = pieces;
  expected.insert(expected.end(), {1, 0, 0, 0});
  EXPECT_EQ(padded.ids, expected);
  EXPECT_EQ(padded.length, n + 1);
  EXPECT_FALSE(padded.truncated);

  // Exactly full: no padding, nothing dropped.
  T5Encoding full = tokenizer.Encode(text, n + 1);
  expected = pieces;
  expected.push_back(1);
  EXPECT_EQ(full.ids, expected);
  EXPECT_FALSE(full.truncated);

  // One short: the last piece gives way to EOS.
  T5Encoding cut = tokenizer.Encode(text, n);
  expected.assign(pieces.begin(), pieces.end() - 1);
  expected.push_back(1);
  EXPECT_EQ(cut.ids, expected);
  EXPECT_EQ(cut.length, n);
  EXPECT_TRUE(cut.truncated);

  // Length 1 holds only EOS.
  T5Encoding eos_only = tokenizer.Encode(text, 1);
  EXPECT_EQ(eos_only.ids, (std::vector<int64_t>{1}));
  EXPECT_TRUE(eos_only.truncated);
  EXPECT_FALSE(tokenizer.Encode("", 1).truncated);
}

TEST_F(T5TokenizerTest, RejectsLengthWithoutRoomForEos) {
  const T5Tokenizer tokenizer = T5Tokenizer::Load(*model_path_);
  try {
    tokenizer.Encode("hello", 0);
    FAIL() << "max_len 0 accepted";
  } catch (const StatusError& error) {
    EXPECT_EQ(error.code(), absl::StatusCode::kInvalidArgument) << error.what();
    EXPECT_NE(std::string(error.what()).find("max_len"), std::string::npos) << error.what();
  }
  EXPECT_INVALID_ARGUMENT(tokenizer.Encode("hello", -3));
}

// Expects Load(path) to throw CheckpointError with `code`, naming the file.
void ExpectLoadError(const std::string& path, CheckpointError::Code code) {
  try {
    T5Tokenizer::Load(path);
    FAIL() << "loaded " << path;
  } catch (const CheckpointError& error) {
    EXPECT_EQ(error.code(), code) << error.what();
    EXPECT_EQ(error.file(), path);
    EXPECT_NE(std::string(error.what()).find(path), std::string::npos) << error.what();
  }
}

TEST_F(T5TokenizerTest, MissingModelFileIsAnIoErrorNamingIt) {
  ScratchDir scratch;
  ExpectLoadError(scratch.File("no_such_spiece.model"), CheckpointError::Code::kIo);
}

TEST_F(T5TokenizerTest, CorruptModelFilesAreRejectedNamingThem) {
  ScratchDir scratch;
  const std::string model = ReadBytes(*model_path_);

  const std::string empty = scratch.File("empty.model");
  WriteBytes(empty, "");
  ExpectLoadError(empty, CheckpointError::Code::kUnrecognizedLayout);

  const std::string text = scratch.File("text.model");
  WriteBytes(text, "this is not a sentencepiece model\n");
  ExpectLoadError(text, CheckpointError::Code::kUnrecognizedLayout);

  const std::string truncated = scratch.File("truncated.model");
  WriteBytes(truncated, model.substr(0, model.size() / 2));
  ExpectLoadError(truncated, CheckpointError::Code::kUnrecognizedLayout);
}

TEST_F(T5TokenizerTest, ModelWithOtherSpecialIdsIsRejected) {
  // SentencePiece's own defaults (unk 0, bos 1, eos 2, no pad) are not T5's layout.
  std::vector<std::string> lines = {"a small corpus for a model with default special ids",
                                    "another line of text to learn pieces from"};
  const std::string model = TrainSentencePiece(
      lines, {{"vocab_size", "30"}, {"model_type", "unigram"}, {"minloglevel", "2"}});
  ScratchDir scratch;
  const std::string path = scratch.File("default_ids.model");
  WriteBytes(path, model);
  ExpectLoadError(path, CheckpointError::Code::kUnrecognizedLayout);
}

TEST_F(T5TokenizerTest, TrainerRejectsBadArguments) {
  EXPECT_INVALID_ARGUMENT(TrainT5SentencePiece({"some text"}, 3));
  EXPECT_INVALID_ARGUMENT(TrainT5SentencePiece({}, 100));
  // More pieces than the corpus can support: SentencePiece's message comes through.
  EXPECT_INVALID_ARGUMENT(TrainT5SentencePiece({"tiny corpus"}, 5000));
  ScratchDir scratch;
  EXPECT_STATUS_ERROR(
      TrainT5SentencePieceFile(scratch.File("missing.txt"), scratch.File("m.model")),
      absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace streamdit::engine
