#!/usr/bin/python3
"""Reference T5 encoding for FLUX with Debian's python3-sentencepiece (flux-spec.md section 5.1).

usage: t5_tokenizer_reference.py info MODEL
  prints {"piece_count": n, "pad": id, "eos": id, "unk": id, "bos": id} as JSON

usage: t5_tokenizer_reference.py MODEL CASES MAX_LEN
  MODEL    a SentencePiece model file (spiece.model)
  CASES    JSON array of strings
  MAX_LEN  the sequence length

Prints a JSON array with one object per string: {"pieces": [...], "ids": [...], "truncated": b}
where pieces are sp.encode(text) and ids the FLUX sequence (pieces truncated to MAX_LEN - 1,
then EOS 1, then <pad> 0 up to MAX_LEN), as BFL's T5Tokenizer(padding="max_length",
truncation=True) produces it.
"""

import json
import sys

import sentencepiece

EOS_ID = 1
PAD_ID = 0


def main(argv):
    if len(argv) == 3 and argv[1] == "info":
        processor = sentencepiece.SentencePieceProcessor(model_file=argv[2])
        print(json.dumps({"piece_count": processor.get_piece_size(), "pad": processor.pad_id(),
                          "eos": processor.eos_id(), "unk": processor.unk_id(),
                          "bos": processor.bos_id()}))
        return 0
    if len(argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    processor = sentencepiece.SentencePieceProcessor(model_file=argv[1])
    with open(argv[2], encoding="utf-8") as f:
        cases = json.load(f)
    max_len = int(argv[3])
    results = []
    for text in cases:
        pieces = processor.encode(text)
        kept = pieces[:max_len - 1]
        ids = kept + [EOS_ID] + [PAD_ID] * (max_len - 1 - len(kept))
        results.append({"pieces": pieces, "ids": ids, "truncated": len(pieces) > max_len - 1})
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
