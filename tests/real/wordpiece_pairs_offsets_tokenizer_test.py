"""floe's WordPiece tokenizer against Hugging Face `tokenizers` on pairs (ids and token
type ids, for BERT cross-encoders such as cross-encoder/ms-marco-MiniLM-L-6-v2) and on
offsets (Encoding.offsets and special_tokens_mask), line by line over the multilingual
corpus (scripts/build-corpus.py), untruncated and truncated.

Folders (tokenizer.json only, in FLOE_SCRATCH), from the real all-MiniLM-L6-v2 vocab:
  uncased-template  the model's own tokenizer.json (BertNormalizer lowercase,
                    TemplateProcessing with type_id 1 on B and its [SEP]);
  cased-bert        lowercase and strip_accents off, BertProcessing, and added tokens:
                    a special lstrip/rstrip <mask>, a normalized "hello world", a
                    single_word "ÜBER";
  no-post           no post_processor (B is type 1, no specials).
floe: `floe tokenize` (pairs: "type1_from"; --offsets: byte offsets and special flags).
The Python binding reports character offsets: converted to bytes here.
"""
import json
import os
import shutil
import subprocess
import time

from realutil import FLOE, MINILM, SCRATCH, check, fail
from unigram_fidelity_test import load_corpus

NO_LIMIT = 1 << 20


def folder_for(name, tj, max_len):
    d = os.path.join(SCRATCH, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tj, f, ensure_ascii=False)
    with open(os.path.join(d, "tokenizer_config.json"), "w") as f:
        json.dump({"model_max_length": max_len}, f)
    return d


def floe_tokenize(folder, requests, *flags):
    inp = "".join(json.dumps(r) + "\n" for r in requests).encode()
    start = time.perf_counter()
    r = subprocess.run(["taskset", "-c", "0", FLOE, "tokenize", "--model", folder, *flags],
                       input=inp, capture_output=True)
    secs = time.perf_counter() - start
    if r.returncode != 0:
        fail(f"floe tokenize --model {folder} {flags}: {r.stderr.decode()[-2000:]}")
    return [json.loads(l) for l in r.stdout.decode().splitlines()], secs


def byte_offsets(text, offsets):
    """Character offsets (the Python binding's) as byte offsets (the crate's)."""
    pos = [0]
    for ch in text:
        pos.append(pos[-1] + len(ch.encode("utf-8")))
    return [[pos[s], pos[e]] for s, e in offsets]


def compare(what, inputs, got, want):
    check(len(got) == len(want), f"{what}: {len(got)} answers for {len(want)} inputs")
    bad = [i for i, (g, w) in enumerate(zip(got, want)) if g != w]
    if bad:
        i = bad[0]
        g, w = got[i], want[i]
        k = next((k for k, (a, b) in enumerate(zip(g, w)) if a != b), min(len(g), len(w)))
        fail(f"{what}: {len(bad)} of {len(want)} differ; first: input {inputs[i]!r:.300}\n"
             f"  at item {k}: floe {g[max(0, k - 3):k + 5]}\n"
             f"           crate {w[max(0, k - 3):k + 5]}")
    return len(want)


def check_folder(name, tj, texts, pairs, max_len):
    from tokenizers import Tokenizer
    n = 0
    all_texts, all_pairs = texts, pairs
    for limit in (NO_LIMIT, max_len):
        # Truncated: the first 5,000 lines (the long ones are spread through).
        texts = all_texts if limit == NO_LIMIT else all_texts[:5000]
        pairs = all_pairs if limit == NO_LIMIT else all_pairs[:2000]
        d = folder_for(name, tj, limit)
        tok = Tokenizer.from_file(os.path.join(d, "tokenizer.json"))
        tok.no_padding()
        tok.no_truncation()
        if limit != NO_LIMIT:
            tok.enable_truncation(limit, strategy="longest_first")
        tag = f"{name} (limit {limit})"
        enc = tok.encode_batch(texts)
        got, _ = floe_tokenize(d, [{"text": t} for t in texts], "--offsets")
        n += compare(f"{tag} single ids", texts, [g["ids"] for g in got], [e.ids for e in enc])
        n += compare(f"{tag} offsets", texts, [g["offsets"] for g in got],
                     [byte_offsets(t, e.offsets) for t, e in zip(texts, enc)])
        n += compare(f"{tag} special flags", texts, [g["special"] for g in got],
                     [e.special_tokens_mask for e in enc])
        enc = tok.encode_batch(pairs)
        got, _ = floe_tokenize(d, [{"text": a, "text_pair": b} for a, b in pairs])
        n += compare(f"{tag} pair ids", pairs, [g["ids"] for g in got], [e.ids for e in enc])
        types = [[0] * g["type1_from"] + [1] * (len(g["ids"]) - g["type1_from"]) for g in got]
        n += compare(f"{tag} pair type ids", pairs, types, [e.type_ids for e in enc])
    return n


def main():
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    texts, scripts = load_corpus()
    check(len(texts) >= 20000, f"corpus has {len(texts)} lines")
    extra = ["", " ", "[CLS] x [SEP]", "a [MASK] b", "x<mask>y", " <mask> ", "a\t<mask>\nb",
             "Hello World!", "hello world", "HELLO WORLD", "ÜBER alles", "xÜBERx", "über",
             "İstanbul", "ǅ", "ﬁ ﬂ", "e\u0301\u0301", "中文字符 and 日本語", "\u00a0\u3000x",
             "don't ' s do not ,.!?", "a" * 150, "x" * 99 + "é"]
    texts = extra + texts
    pairs = [(texts[i], texts[(i * 7 + 3) % len(texts)]) for i in range(0, len(texts), 5)]
    with open(os.path.join(MINILM, "tokenizer.json"), encoding="utf-8") as f:
        base = json.load(f)

    folders = {"uncased-template": base}
    cased = json.loads(json.dumps(base))
    cased["normalizer"].update({"lowercase": False, "strip_accents": None})
    cased["post_processor"] = {"type": "BertProcessing", "sep": ["[SEP]", 102],
                               "cls": ["[CLS]", 101]}
    vocab_size = len(cased["model"]["vocab"])
    for k, (content, flags) in enumerate([
            ("<mask>", {"special": True, "lstrip": True, "rstrip": True, "normalized": False}),
            ("hello world", {"special": False, "normalized": True}),
            ("ÜBER", {"special": False, "single_word": True, "normalized": False})]):
        cased["added_tokens"].append({"id": vocab_size + k, "content": content,
                                      "single_word": False, "lstrip": False, "rstrip": False,
                                      **flags})
    folders["cased-bert"] = cased
    nopost = json.loads(json.dumps(base))
    nopost["post_processor"] = None
    folders["no-post"] = nopost

    checked = 0
    for name, tj in folders.items():
        checked += check_folder(name, tj, texts, pairs, 40)

    # Speed, one core, same run: the fast path (ids only), the offsets path, the crate.
    from tokenizers import Tokenizer
    d = folder_for("uncased-template", base, NO_LIMIT)
    tok = Tokenizer.from_file(os.path.join(d, "tokenizer.json"))
    tok.no_padding()
    tok.no_truncation()
    _, fast = floe_tokenize(d, [{"text": t} for t in texts])
    _, with_offsets = floe_tokenize(d, [{"text": t} for t in texts], "--offsets")
    start = time.perf_counter()
    tok.encode_batch(texts)
    crate = time.perf_counter() - start
    print(f"one core, {len(texts)} lines: floe tokenize {fast:.2f} s, with --offsets "
          f"{with_offsets:.2f} s (process, JSON in/out included); tokenizers encode_batch "
          f"{crate:.2f} s")
    print(f"wordpiece pairs/offsets: {checked} comparisons identical over {len(texts)} lines, "
          f"{len(pairs)} pairs, {len(scripts)} scripts")
    check(len(scripts) >= 30, f"{len(scripts)} scripts in the corpus")
    shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
