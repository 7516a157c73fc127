#!/usr/bin/python3
"""Independent reference for the CLIP byte-level BPE tokenizer (engine/text/clip_*).

Written from the algorithm description (openai simple_tokenizer as summarised in flux-spec.md
§5.2), with Python's own Unicode database (unicodedata categories, str.isspace, str.lower,
unicodedata.normalize) instead of ICU, and the textbook quadratic BPE loop instead of the C++
heap. Never uses our C++ output.

  encode VOCAB MERGES STRINGS OUT     STRINGS: one JSON string per line. OUT: a JSON list with,
                                      per string, {"content": ids, "encoded": 77 ids,
                                      "truncated": bool, "tokens": vocab strings}
  train CORPUS NUM_MERGES OUT_DIR     trains on CORPUS (UTF-8 text) and writes OUT_DIR/vocab.json
                                      and OUT_DIR/merges.txt
"""
import collections
import json
import re
import sys
import unicodedata

START, END, END_OF_WORD = "<|startoftext|>", "<|endoftext|>", "</w>"
CONTRACTIONS = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d"]
MAX_LENGTH = 77

# --- text cleanup ---------------------------------------------------------------------------

NAMED_ENTITIES = {"amp": "&", "lt": "<", "gt": ">", "quot": '"', "apos": "'", "nbsp": "\u00a0"}
ENTITY = re.compile(r"&(#[xX][0-9a-fA-F]{1,6}|#[0-9]{1,7}|[a-z]+);")


def unescape_common_entities(text):
    def replace(match):
        name = match.group(1)
        if name in NAMED_ENTITIES:
            return NAMED_ENTITIES[name]
        if not name.startswith("#"):
            return match.group(0)
        value = int(name[2:], 16) if name[1] in "xX" else int(name[1:])
        if value < 0x20 or 0x7F <= value <= 0x9F or 0xD800 <= value <= 0xDFFF or value > 0x10FFFF:
            return match.group(0)
        return chr(value)
    return ENTITY.sub(replace, text)


def clean(text):
    text = unicodedata.normalize("NFC", text)
    text = unescape_common_entities(unescape_common_entities(text))
    text = " ".join(text.split())  # str.split(): runs of str.isspace characters, ends dropped
    return text.lower()


# --- split ----------------------------------------------------------------------------------

def is_letter(c):
    return unicodedata.category(c)[0] == "L"


def is_number(c):
    return unicodedata.category(c)[0] == "N"


def matches_ignoring_case(text, pos, literal):
    if len(text) - pos < len(literal):
        return False
    return all(text[pos + k].casefold() == literal[k] for k in range(len(literal)))


def split(text):
    pieces, i = [], 0
    while i < len(text):
        c = text[i]
        if c.isspace():
            i += 1
            continue
        end = None
        for literal in [START, END] + CONTRACTIONS:
            if matches_ignoring_case(text, i, literal):
                end = i + len(literal)
                break
        if end is None:
            end = i + 1
            if is_letter(c):
                while end < len(text) and is_letter(text[end]):
                    end += 1
            elif not is_number(c):
                while end < len(text) and not (text[end].isspace() or is_letter(text[end])
                                               or is_number(text[end])):
                    end += 1
        pieces.append(text[i:end])
        i = end
    return pieces


# --- bytes and BPE --------------------------------------------------------------------------

def byte_symbols():
    """GPT-2 bytes_to_unicode, as a list of (byte, symbol) in vocab order."""
    printable = (list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAC + 1))
                 + list(range(0xAE, 0xFF + 1)))
    others = [b for b in range(256) if b not in printable]
    return ([(b, chr(b)) for b in printable]
            + [(b, chr(0x100 + k)) for k, b in enumerate(others)])


SYMBOL_OF_BYTE = dict(byte_symbols())


def initial_symbols(piece):
    symbols = [SYMBOL_OF_BYTE[b] for b in piece.encode("utf-8")]
    symbols[-1] += END_OF_WORD
    return symbols


def bpe(piece, ranks):
    word = initial_symbols(piece)
    while len(word) > 1:
        pairs = set(zip(word, word[1:]))
        best = min(pairs, key=lambda pair: ranks.get(pair, float("inf")))
        if best not in ranks:
            break
        merged, i = [], 0
        while i < len(word):
            if i + 1 < len(word) and (word[i], word[i + 1]) == best:
                merged.append(word[i] + word[i + 1])
                i += 2
            else:
                merged.append(word[i])
                i += 1
        word = merged
    return word


def load(vocab_path, merges_path):
    with open(vocab_path, encoding="utf-8") as f:
        vocab = json.load(f)
    with open(merges_path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    if lines and lines[0].startswith("#version"):
        lines = lines[1:]
    merges = [tuple(line.split(" ")) for line in lines if line]
    merges = merges[:max(0, len(vocab) - 514)]
    return vocab, {pair: rank for rank, pair in enumerate(merges)}


def tokenize(text, vocab, ranks):
    tokens = []
    for piece in split(clean(text)):
        if piece in (START, END):
            tokens.append(piece)
        else:
            tokens.extend(bpe(piece, ranks))
    return tokens


def encode(vocab_path, merges_path, strings_path, out_path):
    vocab, ranks = load(vocab_path, merges_path)
    results = []
    with open(strings_path, encoding="utf-8") as f:
        strings = [json.loads(line) for line in f if line.strip()]
    for text in strings:
        tokens = tokenize(text, vocab, ranks)
        content = [vocab[token] for token in tokens]
        kept = content[:MAX_LENGTH - 2]
        encoded = [vocab[START]] + kept + [vocab[END]]
        encoded += [vocab[END]] * (MAX_LENGTH - len(encoded))
        results.append({"content": content, "encoded": encoded,
                        "truncated": len(content) > len(kept), "tokens": tokens})
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump(results, f)


# --- training -------------------------------------------------------------------------------

def train(corpus_path, num_merges, out_dir):
    with open(corpus_path, encoding="utf-8") as f:
        corpus = f.read()
    counts = collections.Counter(p for p in split(clean(corpus)) if p not in (START, END))
    words = {piece: initial_symbols(piece) for piece in counts}
    tokens = [s for _, s in byte_symbols()] + [s + END_OF_WORD for _, s in byte_symbols()]
    known = set(tokens)
    merges = []
    for _ in range(num_merges):
        pair_counts = collections.Counter()
        for piece, symbols in words.items():
            for pair in zip(symbols, symbols[1:]):
                pair_counts[pair] += counts[piece]
        # Most frequent first; ties to the smallest (left, right) in UTF-8 byte order; a pair
        # whose concatenation is already a token is never merged (tokens stay distinct).
        candidates = [(-n, a.encode("utf-8"), b.encode("utf-8"), a, b)
                      for (a, b), n in pair_counts.items() if a + b not in known]
        if not candidates:
            break
        _, _, _, a, b = min(candidates)
        merges.append((a, b))
        tokens.append(a + b)
        known.add(a + b)
        for piece, symbols in words.items():
            merged, i = [], 0
            while i < len(symbols):
                if i + 1 < len(symbols) and symbols[i] == a and symbols[i + 1] == b:
                    merged.append(a + b)
                    i += 2
                else:
                    merged.append(symbols[i])
                    i += 1
            words[piece] = merged
    tokens += [START, END]
    with open(out_dir + "/vocab.json", "w", encoding="utf-8") as f:
        json.dump({token: i for i, token in enumerate(tokens)}, f, ensure_ascii=False)
    with open(out_dir + "/merges.txt", "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n" + "".join("%s %s\n" % pair for pair in merges))


def main(argv):
    if len(argv) == 6 and argv[1] == "encode":
        encode(argv[2], argv[3], argv[4], argv[5])
    elif len(argv) == 5 and argv[1] == "train":
        train(argv[2], int(argv[3]), argv[4])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
