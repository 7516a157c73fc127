#include "engine/text/tokenizer_json.h"

#include <cstdint>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string_view>
#include <vector>

#include "engine/checkpoint/checkpoint_error.h"

namespace streamdit::engine {
namespace {

using Json = nlohmann::json;
using Code = CheckpointError::Code;

Json ReadJsonObject(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw CheckpointError(Code::kIo, path, "", "cannot read the file");
  std::ostringstream text;
  text << in.rdbuf();
  Json json = Json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded() || !json.is_object()) {
    throw CheckpointError(Code::kInvalidJson, path, "",
                          json.is_discarded() ? "not valid JSON" : "not a JSON object");
  }
  return json;
}

// json["model"], which must be of `type`.
const Json& Model(const Json& json, const std::string& path, const std::string& type) {
  const auto model = json.find("model");
  if (model == json.end() || !model->is_object()) {
    throw CheckpointError(Code::kInvalidEntry, path, "model", "missing or not an object");
  }
  const auto found = model->find("type");
  const std::string actual = found == model->end() ? "absent"
                             : found->is_string()  ? found->get<std::string>()
                                                   : found->dump();
  if (actual != type) {
    throw CheckpointError(Code::kUnrecognizedLayout, path, "model.type",
                          "is " + actual + ", expected " + type);
  }
  return *model;
}

// --- protobuf wire format, for the few SentencePiece ModelProto fields written here
// ---------------

void Varint(std::string& out, uint64_t value) {
  while (value >= 0x80) {
    out.push_back(static_cast<char>((value & 0x7F) | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
}

void Tag(std::string& out, int field, int wire_type) {
  Varint(out, (static_cast<uint64_t>(field) << 3) | static_cast<uint64_t>(wire_type));
}

// int32 fields encode negative values sign-extended to 64 bits (10 bytes), as protobuf does.
void Int(std::string& out, int field, int64_t value) {
  Tag(out, field, 0);
  Varint(out, static_cast<uint64_t>(value));
}

void Bytes(std::string& out, int field, std::string_view bytes) {
  Tag(out, field, 2);
  Varint(out, bytes.size());
  out.append(bytes);
}

void Float(std::string& out, int field, float value) {
  Tag(out, field, 5);
  uint32_t bits = 0;
  std::memcpy(&bits, &value, sizeof bits);
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((bits >> (8 * i)) & 0xFF));
}

// sentencepiece_model.proto field numbers and enum values.
namespace sp {
constexpr int kPieces = 1, kTrainerSpec = 2, kNormalizerSpec = 3;
constexpr int kPiece = 1, kScore = 2, kType = 3;
constexpr int kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4;
constexpr int kModelType = 3, kVocabSize = 4, kByteFallback = 35;
constexpr int kUnkId = 40, kBosId = 41, kEosId = 42, kPadId = 43;
constexpr int kUnigram = 1;
constexpr int kName = 1, kCharsmap = 2, kAddDummyPrefix = 3, kRemoveExtraWhitespaces = 4,
              kEscapeWhitespaces = 5;
}  // namespace sp

std::string Base64Decode(const std::string& text, const std::string& path,
                         const std::string& field) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::string out;
  uint32_t buffer = 0;
  int bits = 0;
  for (char c : text) {
    if (c == '=') break;
    const int v = value(c);
    if (v < 0) throw CheckpointError(Code::kInvalidEntry, path, field, "not base64");
    buffer = (buffer << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buffer >> bits) & 0xFF));
    }
  }
  return out;
}

// What the normalizer and pre-tokenizer of a converted SentencePiece tokenizer stand for.
struct Normalization {
  std::string charsmap;  // empty: identity
  bool add_dummy_prefix = false;
  bool remove_extra_whitespaces = false;
  bool escape_whitespaces = false;
  bool metaspace = false;
};

// Flattens {"type": "Sequence", <list_key>: [...]} (any depth) into its parts; null gives none.
void Flatten(const Json& node, const char* list_key, std::vector<const Json*>& parts) {
  if (node.is_null()) return;
  if (node.is_object() && node.value("type", "") == "Sequence" && node.contains(list_key) &&
      node[list_key].is_array()) {
    for (const Json& part : node[list_key]) Flatten(part, list_key, parts);
    return;
  }
  parts.push_back(&node);
}

Normalization ReadNormalization(const Json& json, const std::string& path) {
  Normalization n;
  // Flatten keeps pointers into these copies: they must outlive the loops below.
  const Json normalizer = json.value("normalizer", Json());
  const Json pre_tokenizer = json.value("pre_tokenizer", Json());
  std::vector<const Json*> normalizers;
  Flatten(normalizer, "normalizers", normalizers);
  for (const Json* part : normalizers) {
    const std::string type = part->is_object() ? part->value("type", "") : "";
    if (type == "Precompiled") {
      const auto map = part->find("precompiled_charsmap");
      if (map == part->end() || !(map->is_string() || map->is_null())) {
        throw CheckpointError(Code::kInvalidEntry, path, "normalizer.precompiled_charsmap",
                              "expected a base64 string");
      }
      if (map->is_string()) {
        n.charsmap = Base64Decode(map->get<std::string>(), path, "normalizer.precompiled_charsmap");
      }
    } else if (type == "Replace" || type == "Strip") {
      // transformers' converter adds Replace(" {2,}", " ") for SentencePiece's
      // remove_extra_whitespaces; Strip likewise trims what it trims.
      n.remove_extra_whitespaces = true;
    } else {
      throw CheckpointError(
          Code::kUnrecognizedLayout, path, "normalizer",
          "normalizer " + part->dump().substr(0, 80) + " has no SentencePiece equivalent");
    }
  }
  std::vector<const Json*> pre_tokenizers;
  Flatten(pre_tokenizer, "pretokenizers", pre_tokenizers);
  for (const Json* part : pre_tokenizers) {
    const std::string type = part->is_object() ? part->value("type", "") : "";
    if (type == "WhitespaceSplit") {
      n.remove_extra_whitespaces = true;
    } else if (type == "Metaspace") {
      n.metaspace = true;
      n.escape_whitespaces = part->value("replacement", "") == "\xE2\x96\x81";  // U+2581
      // tokenizers >= 0.19 writes prepend_scheme; older files add_prefix_space.
      if (part->contains("prepend_scheme")) {
        n.add_dummy_prefix = part->value("prepend_scheme", "always") != "never";
      } else {
        n.add_dummy_prefix = part->value("add_prefix_space", true);
      }
    } else {
      throw CheckpointError(
          Code::kUnrecognizedLayout, path, "pre_tokenizer",
          "pre-tokenizer " + part->dump().substr(0, 80) + " has no SentencePiece equivalent");
    }
  }
  if (!n.metaspace || !n.escape_whitespaces) {
    throw CheckpointError(Code::kUnrecognizedLayout, path, "pre_tokenizer",
                          "no Metaspace pre-tokenizer with replacement U+2581: not a tokenizer "
                          "converted from a SentencePiece model");
  }
  return n;
}

}  // namespace

ClipBpeText ClipBpeFromTokenizerJson(const std::string& path) {
  const Json json = ReadJsonObject(path);
  const Json& model = Model(json, path, "BPE");
  if (model.value("end_of_word_suffix", Json()).dump() != "\"</w>\"") {
    throw CheckpointError(Code::kUnrecognizedLayout, path, "model.end_of_word_suffix",
                          "CLIP's BPE marks word ends with \"</w>\"");
  }
  const auto vocab = model.find("vocab");
  if (vocab == model.end() || !vocab->is_object()) {
    throw CheckpointError(Code::kInvalidEntry, path, "model.vocab", "expected {token: id}");
  }
  const auto merges = model.find("merges");
  if (merges == model.end() || !merges->is_array()) {
    throw CheckpointError(Code::kInvalidEntry, path, "model.merges", "expected an array");
  }
  ClipBpeText text;
  text.vocab_json = vocab->dump();
  text.merges_txt = "#version: 0.2\n";
  for (std::size_t i = 0; i < merges->size(); ++i) {
    const Json& merge = (*merges)[i];
    const std::string field = "model.merges[" + std::to_string(i) + "]";
    if (merge.is_string()) {
      text.merges_txt += merge.get<std::string>();
    } else if (merge.is_array() && merge.size() == 2 && merge[0].is_string() &&
               merge[1].is_string() && merge[0].get<std::string>().find(' ') == std::string::npos &&
               merge[1].get<std::string>().find(' ') == std::string::npos) {
      text.merges_txt += merge[0].get<std::string>() + " " + merge[1].get<std::string>();
    } else {
      throw CheckpointError(Code::kInvalidEntry, path, field,
                            "expected \"left right\" or [left, right], got " + merge.dump());
    }
    text.merges_txt += "\n";
  }
  return text;
}

std::string SentencePieceFromTokenizerJson(const std::string& path) {
  const Json json = ReadJsonObject(path);
  const Json& model = Model(json, path, "Unigram");
  const auto vocab = model.find("vocab");
  if (vocab == model.end() || !vocab->is_array() || vocab->empty()) {
    throw CheckpointError(Code::kInvalidEntry, path, "model.vocab",
                          "expected a non-empty array of [piece, score]");
  }
  const Json unk = model.value("unk_id", Json());
  if (!unk.is_null() && (!unk.is_number_integer() || unk.get<int64_t>() < 0 ||
                         unk.get<std::size_t>() >= vocab->size())) {
    throw CheckpointError(Code::kInvalidEntry, path, "model.unk_id",
                          "expected an index into model.vocab, got " + unk.dump());
  }
  const int64_t unk_id = unk.is_null() ? -1 : unk.get<int64_t>();
  // Added tokens: special ones are SentencePiece's control symbols, the others user-defined.
  std::set<int64_t> control, user_defined;
  const Json added = json.value("added_tokens", Json::array());
  if (!added.is_array()) {
    throw CheckpointError(Code::kInvalidEntry, path, "added_tokens", "expected an array");
  }
  for (const Json& token : added) {
    if (!token.is_object() || !token.contains("id") || !token["id"].is_number_integer()) {
      throw CheckpointError(Code::kInvalidEntry, path, "added_tokens",
                            "expected {id, content, special}, got " + token.dump());
    }
    (token.value("special", false) ? control : user_defined).insert(token["id"].get<int64_t>());
  }
  const Normalization normalization = ReadNormalization(json, path);

  std::string proto;
  int64_t pad_id = -1, eos_id = -1, bos_id = -1;
  for (std::size_t i = 0; i < vocab->size(); ++i) {
    const Json& entry = (*vocab)[i];
    if (!entry.is_array() || entry.size() != 2 || !entry[0].is_string() || !entry[1].is_number()) {
      throw CheckpointError(Code::kInvalidEntry, path, "model.vocab[" + std::to_string(i) + "]",
                            "expected [piece, score], got " + entry.dump());
    }
    const auto id = static_cast<int64_t>(i);
    const std::string piece = entry[0].get<std::string>();
    int type = sp::kNormal;
    if (id == unk_id) {
      type = sp::kUnknown;
    } else if (control.count(id)) {
      type = sp::kControl;
      if (piece == "<pad>") pad_id = id;
      if (piece == "</s>") eos_id = id;
      if (piece == "<s>") bos_id = id;
    } else if (user_defined.count(id)) {
      type = sp::kUserDefined;
    }
    std::string message;
    Bytes(message, sp::kPiece, piece);
    Float(message, sp::kScore, entry[1].get<float>());
    Int(message, sp::kType, type);
    Bytes(proto, sp::kPieces, message);
  }
  std::string trainer;
  Int(trainer, sp::kModelType, sp::kUnigram);
  Int(trainer, sp::kVocabSize, static_cast<int64_t>(vocab->size()));
  Int(trainer, sp::kByteFallback, model.value("byte_fallback", false) ? 1 : 0);
  Int(trainer, sp::kUnkId, unk_id);
  Int(trainer, sp::kBosId, bos_id);
  Int(trainer, sp::kEosId, eos_id);
  Int(trainer, sp::kPadId, pad_id);
  Bytes(proto, sp::kTrainerSpec, trainer);
  std::string normalizer;
  Bytes(normalizer, sp::kName, normalization.charsmap.empty() ? "identity" : "nmt_nfkc");
  if (!normalization.charsmap.empty()) Bytes(normalizer, sp::kCharsmap, normalization.charsmap);
  Int(normalizer, sp::kAddDummyPrefix, normalization.add_dummy_prefix ? 1 : 0);
  Int(normalizer, sp::kRemoveExtraWhitespaces, normalization.remove_extra_whitespaces ? 1 : 0);
  Int(normalizer, sp::kEscapeWhitespaces, normalization.escape_whitespaces ? 1 : 0);
  Bytes(proto, sp::kNormalizerSpec, normalizer);
  return proto;
}

}  // namespace streamdit::engine
