// Hugging Face `tokenizers` files (tokenizer.json), read into the forms the engine's tokenizers
// load: transformers 5 saves a tokenizer as tokenizer.json alone (no vocab.json / merges.txt, no
// spiece.model), so a FLUX folder written by diffusers' save_pretrained has nothing else.
//   CLIP: model.type "BPE" -> the vocab.json and merges.txt ClipTokenizer::FromStrings reads
//   (merges
//         as "left right" strings or [left, right] pairs, both of which tokenizers writes).
//   T5:   model.type "Unigram" -> a serialized SentencePiece ModelProto (pieces with their scores,
//         unk/pad/eos ids, and the normalizer: the precompiled character map and the whitespace
//         rules that the Metaspace / WhitespaceSplit pre-tokenizers stand for), which
//         T5Tokenizer::FromSerialized loads: the same segmentation as sentencepiece on the
//         spiece.model the file was converted from.
// Errors are CheckpointError naming the file and the JSON field: kIo (unreadable), kInvalidJson
// (not a JSON object), kUnrecognizedLayout (another model type), kInvalidEntry (a malformed field).
#pragma once

#include <string>

namespace streamdit::engine {

struct ClipBpeText {
  std::string vocab_json;
  std::string merges_txt;
};

ClipBpeText ClipBpeFromTokenizerJson(const std::string& path);

std::string SentencePieceFromTokenizerJson(const std::string& path);

}  // namespace streamdit::engine
