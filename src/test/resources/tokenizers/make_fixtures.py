"""Writes the tokenizer fixtures of src/test/.../tokenize (see README.md here) with Hugging Face's `tokenizers`.

    python -m venv /tmp/tok && /tmp/tok/bin/pip install tokenizers && /tmp/tok/bin/python make_fixtures.py

Trains three small tokenizers on train.txt (plus IOI sentences built from the first names below) and saves each as
NAME/tokenizer.json, then writes expected.json: for every tokenizer and test string, the ids that
`Tokenizer.from_file(f).encode(text, add_special_tokens=False)` gives (truncation and padding off), and each id's
`decode([id], skip_special_tokens=False)`; and the corpus bags of docs.jsonl (first distinct ids per document).
The BPE trains the same on every run; the WordPiece and Unigram trainers break ties differently from run to run, so
a rerun may change their files, and rewrites expected.json with them (the files and their expected ids always go
together). The Java tests need no Python.
"""
import json
import os

import tokenizers
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

HERE = os.path.dirname(os.path.abspath(__file__))

# io.headscan.circuits.IoiNames.DEFAULT, in its order (a Java test checks that the two lists are the same)
NAMES = [
    "Aaron", "Adam", "Alan", "Alex", "Alice", "Amy", "Andrew", "Anna", "Anthony", "Arthur",
    "Austin", "Ben", "Brian", "Carl", "Charlie", "Chris", "Daniel", "David", "Dean", "Edward",
    "Emily", "Emma", "Eric", "Frank", "George", "Grace", "Henry", "Ian", "Jack", "Jacob",
    "Jake", "James", "Jane", "Jason", "Jeff", "Jennifer", "Jessica", "Jim", "Joe", "John",
    "Jordan", "Joseph", "Josh", "Julia", "Justin", "Kate", "Kelly", "Kevin", "Laura", "Leo",
    "Lisa", "Luke", "Maria", "Mark", "Martin", "Mary", "Matt", "Max", "Michael", "Mike",
    "Morgan", "Nick", "Paul", "Peter", "Rachel", "Richard", "Robert", "Rose", "Ryan", "Sam",
    "Sarah", "Scott", "Sean", "Simon", "Steve", "Taylor", "Thomas", "Tim", "Tom", "Tony",
    "Victoria", "William"]

# the word a name follows where IoiNames looks its token up
BEFORE = "and"

TEMPLATES = [
    "Then, {a} and {b} went to the store. {b} gave a drink to {a}.",
    "When {a} and {b} got a snack at the park, {b} decided to give it to {a}.",
    "After the lunch, {a} and {b} went to the office, and {b} gave a book to {a}.",
]

STRINGS = [
    "Hello world", "Hello, world!", " Mary", "Mary", "and Mary", "mary MARY Mary", " John", "  two  spaces",
    "tabs\tand\nnew\r\nlines", "", " ", "don't you'll I'm we've they'd", "3.14159 and 12345 and 1,000,000",
    "naïve café", "Zürich São Paulo", "Ελληνικά русский", "日本語のテキスト", "한국어", "emoji 🙂👍🏽 and 👨‍👩‍👧",
    "combining e\u0301 and \u00e9", "zero\u200bwidth", "\u00a0no-break space", "Ǆ ǅ ǆ ﬁ ligature",
    "<|endoftext|>", "text<|endoftext|>more text", "[UNK] [CLS] [SEP]",
    "When Mary and John went to the store, John gave a drink to Mary",
    "The effective embedding of a token is what the first block makes of it.",
]


def training_lines():
    with open(os.path.join(HERE, "train.txt"), encoding="utf-8") as f:
        lines = [line.strip() for line in f if line.strip()]
    # IOI sentences with the first 40 names only: those become single tokens, most of the others do not
    first = NAMES[:40]
    for i, a in enumerate(first):
        for j, t in enumerate(TEMPLATES):
            b = first[(i + 7 * j + 1) % len(first)]
            lines.append(t.format(a=a, b=b))
    return lines


def byte_level_bpe(lines):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(lines, trainers.BpeTrainer(vocab_size=700, special_tokens=["<|endoftext|>"],
                                                       initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    return tok


def word_piece(lines):
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    tok.train_from_iterator(lines, trainers.WordPieceTrainer(vocab_size=500, special_tokens=["[UNK]", "[CLS]", "[SEP]"], show_progress=False))
    return tok


def unigram(lines):
    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always")
    tok.train_from_iterator(lines, trainers.UnigramTrainer(vocab_size=500, special_tokens=["<unk>"], unk_token="<unk>", show_progress=False))
    return tok


def documents():
    with open(os.path.join(HERE, "docs.jsonl"), encoding="utf-8") as f:
        return [json.loads(line)["text"] for line in f if line.strip()]


def first_distinct(ids, size):
    seen = []
    for i in ids:
        if i not in seen:
            seen.append(i)
            if len(seen) == size:
                return seen
    return None


def main():
    lines = training_lines()
    out = {"tokenizers_version": tokenizers.__version__, "names": NAMES, "before": BEFORE, "bag_size": 8, "tokenizers": {}}
    for name, make in [("bpe", byte_level_bpe), ("wordpiece", word_piece), ("unigram", unigram)]:
        os.makedirs(os.path.join(HERE, name), exist_ok=True)
        path = os.path.join(HERE, name, "tokenizer.json")
        make(lines).save(path)
        tok = Tokenizer.from_file(path)   # as a user's file is read: from disk
        tok.no_truncation()
        tok.no_padding()
        cases = []
        for text in STRINGS + [BEFORE] + [BEFORE + " " + n for n in NAMES] + [" " + n for n in NAMES]:
            ids = tok.encode(text, add_special_tokens=False).ids
            cases.append({"text": text, "ids": ids, "decoded": [tok.decode([i], skip_special_tokens=False) for i in ids]})
        bags = []
        for doc in documents():
            bag = first_distinct(tok.encode(doc, add_special_tokens=False).ids, out["bag_size"])
            if bag is not None:
                bags.append(bag)
        out["tokenizers"][name] = {"file": name + "/tokenizer.json", "model": tok.model.__class__.__name__,
                                   "vocab_size": tok.get_vocab_size(with_added_tokens=True), "cases": cases, "corpus_bags": bags}
    with open(os.path.join(HERE, "expected.json"), "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
