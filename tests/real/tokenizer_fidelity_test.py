"""floe's tokenizer gives the ids of Hugging Face's `tokenizers` (the Rust crate through
its Python package), line by line, on the real all-MiniLM-L6-v2 folder and a large,
varied corpus (scripts/build-corpus.py: the machine's message catalogs in every
language, documentation, source code, synthetic URLs / e-mail / numbers / emoji /
control characters / long words, and a sweep over the code points of planes 0, 1, 14).

Checked, each over every line, with `floe tokenize` run once per model folder:
  - the model's own limit: sentence_bert_config.json's max_seq_length (256) wins over
    tokenizer_config.json's model_max_length (512), as sentence-transformers cuts;
    sentence-transformers' own tokenize is checked against the reference on the
    longest lines, so the reference is what it feeds the model;
  - max_seq_length 512 and 128 (copies of the folder with that sentence_bert_config);
  - sentence_bert_config 256 over a tokenizer_config model_max_length of 128;
  - no truncation (a folder with only tokenizer.json and a tokenizer_config.json
    saying 2^20), so the tails of lines thousands of tokens long count too.
A difference prints the line, both id lists (around the first difference) and fails.
"""
import json
import os
import subprocess
import sys
import time

from sentence_transformers import SentenceTransformer
from tokenizers import Tokenizer

from realutil import FLOE, MINILM, SCRATCH, SOURCE, check, fail

SHOWN = 20


def build_corpus():
    path = os.path.join(SCRATCH, "corpus.jsonl")
    t = time.time()
    r = subprocess.run([sys.executable, os.path.join(SOURCE, "scripts", "build-corpus.py"), path],
                       capture_output=True, text=True)
    print(r.stderr, end="")
    if r.returncode != 0:
        fail("build-corpus.py failed")
    with open(path, encoding="utf-8") as f:
        texts = [json.loads(line) for line in f]
    nbytes = sum(len(t.encode("utf-8")) for t in texts)
    check(len(texts) >= 20000 and nbytes >= 1 << 20,
          "corpus: %d lines, %d bytes (>= 20,000 and 1 MiB), built in %.1f s"
          % (len(texts), nbytes, time.time() - t))
    return texts


def model_copy(name, sbert=None, tokenizer_config=None):
    """A folder of symlinks to MINILM with some JSON files' keys overridden."""
    d = os.path.join(SCRATCH, name)
    os.mkdir(d)
    edits = {"sentence_bert_config.json": sbert, "tokenizer_config.json": tokenizer_config}
    for f in os.listdir(MINILM):
        src = os.path.join(MINILM, f)
        if edits.get(f):
            with open(src) as fin:
                j = json.load(fin)
            j.update(edits[f])
            with open(os.path.join(d, f), "w") as fout:
                json.dump(j, fout)
        else:
            os.symlink(src, os.path.join(d, f))
    return d


def floe_tokenize(model, texts):
    inp = "".join(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in texts)
    t = time.time()
    r = subprocess.run([FLOE, "tokenize", "--model", model], input=inp.encode("utf-8"),
                       capture_output=True)
    took = time.time() - t
    if r.returncode != 0:
        fail("floe tokenize --model %s: %s" % (model, r.stderr.decode()[-2000:]))
    out = [json.loads(line)["ids"] for line in r.stdout.decode().splitlines()]
    if len(out) != len(texts):
        fail("floe tokenize gave %d lines for %d inputs" % (len(out), len(texts)))
    return out, took


def reference(tok, texts):
    tok.no_padding()
    tok.no_truncation()
    t = time.time()
    ids = [e.ids for e in tok.encode_batch(texts)]
    return ids, time.time() - t


def truncated(tok, texts, full, limit):
    """tokenizers' own truncation (LongestFirst, stride 0, as transformers asks for it)
    on the lines longer than `limit`; the others are their full ids."""
    idx = [i for i, ids in enumerate(full) if len(ids) > limit]
    tok.enable_truncation(limit)
    want = list(full)
    for i, e in zip(idx, tok.encode_batch([texts[i] for i in idx])):
        want[i] = e.ids
    tok.no_truncation()
    return want


def window(ids, pos):
    if len(ids) <= 64:
        return str(ids)
    lo = max(0, pos - 8)
    return "[%s%s%s] (%d ids)" % ("... " if lo else "", ", ".join(map(str, ids[lo:pos + 16])),
                                  " ..." if pos + 16 < len(ids) else "", len(ids))


def compare(what, texts, want, got, tok):
    bad = 0
    for i, (w, g) in enumerate(zip(want, got)):
        if w == g:
            continue
        bad += 1
        if bad > SHOWN:
            continue
        pos = next((k for k in range(min(len(w), len(g))) if w[k] != g[k]), min(len(w), len(g)))
        text = texts[i]
        print("MISMATCH %s, line %d: %s%s" % (what, i + 1, repr(text[:400]),
                                             " ... (%d chars)" % len(text) if len(text) > 400 else ""))
        print("  first difference at id %d: tokenizers %s vs floe %s" % (
            pos, [tok.id_to_token(x) for x in w[pos:pos + 3]], [tok.id_to_token(x) for x in g[pos:pos + 3]]))
        print("  tokenizers:", window(w, pos))
        print("  floe:      ", window(g, pos))
    if bad:
        fail("%s: %d of %d lines differ (%d shown)" % (what, bad, len(texts), min(bad, SHOWN)))
    print("ok: %s: all %d lines equal" % (what, len(texts)), flush=True)


def check_sentence_transformers(folder, texts, want, limit):
    """sentence-transformers' own tokenize gives the reference ids on these texts."""
    st = SentenceTransformer(folder, device="cpu")
    check(st.max_seq_length == limit, "sentence-transformers cuts %s at %d" % (os.path.basename(folder), limit))
    feats = st.tokenize(texts)
    rows = [[int(x) for x, m in zip(ids, mask) if m]
            for ids, mask in zip(feats["input_ids"].tolist(), feats["attention_mask"].tolist())]
    check(rows == want, "sentence-transformers' tokenize == tokenizers at %d on %d lines" % (limit, len(texts)))


def main():
    texts = build_corpus()
    tok = Tokenizer.from_file(os.path.join(MINILM, "tokenizer.json"))
    full, t_ref = reference(tok, texts)
    lengths = sorted(len(ids) for ids in full)
    over = sum(n > 512 for n in lengths)
    check(over >= 100 and lengths[-1] >= 2000,
          "corpus has %d lines over 512 tokens (longest %d)" % (over, lengths[-1]))
    print("tokenizers, untruncated, one thread: %.2f s" % t_ref)

    long_idx = sorted(range(len(texts)), key=lambda i: -len(full[i]))[:200]
    long_texts = [texts[i] for i in long_idx]
    cases = [
        ("model's own limit (256)", MINILM, 256),
        ("max_seq_length 512", model_copy("m512", sbert={"max_seq_length": 512}), 512),
        ("max_seq_length 128", model_copy("m128", sbert={"max_seq_length": 128}), 128),
        ("sentence_bert_config 256 over model_max_length 128",
         model_copy("m256", tokenizer_config={"model_max_length": 128}), 256),
    ]
    for what, folder, limit in cases:
        want = truncated(tok, texts, full, limit)
        if folder == MINILM or "over" in what:
            check_sentence_transformers(folder, long_texts, [want[i] for i in long_idx], limit)
        got, took = floe_tokenize(folder, texts)
        print("%s: floe tokenize %.2f s" % (what, took))
        compare(what, texts, want, got, tok)

    # No truncation at all: a folder holding only the tokenizer (floe tokenize then
    # takes its limit from tokenizer_config.json), so the tails of lines thousands
    # of tokens long count too.
    bare = os.path.join(SCRATCH, "tokenizer-only")
    os.mkdir(bare)
    os.symlink(os.path.join(MINILM, "tokenizer.json"), os.path.join(bare, "tokenizer.json"))
    with open(os.path.join(bare, "tokenizer_config.json"), "w") as f:
        json.dump({"model_max_length": 1 << 20}, f)
    got, took = floe_tokenize(bare, texts)
    print("no truncation: floe tokenize %.2f s" % took)
    compare("no truncation", texts, full, got, tok)

main()
