"""floe's Unigram (SentencePiece) tokenizer against Hugging Face `tokenizers`.

Builds, in FLOE_SCRATCH, a multilingual corpus (scripts/build-corpus.py) and
tokenizer.json folders that hold nothing else (no config.json, no weights):
  hf-*   a Unigram model trained here by `tokenizers` itself, under several
         normalizer / pre-tokenizer / post-processor / byte-fallback setups;
  spm    a SentencePiece unigram model trained here by `sentencepiece`, converted
         as transformers converts XLM-RoBERTa's (XLMRobertaConverter: Precompiled
         nmt_nfkc charsmap, Metaspace, <s> A </s></s> B </s>).
Then `floe tokenize` must give the crate's ids on every line, single and paired
("text_pair"), untruncated and truncated (the folder's tokenizer_config.json
model_max_length; pairs longest-first), and the crate's offsets and special flags
(`--offsets`: every line on spm, offsets_sample's on the others). Decoding is pinned in
tests/text.
Prints the script count and, per folder, floe tokenize's time on one core
against the crate's encode_batch (TOKENIZERS_PARALLELISM=false) in the same run:
a report, not a check (floe's includes process start and JSON in and out).
"""
import json
import os
import re
import subprocess
import sys
import time

from realutil import check, fail

SRC = os.environ["FLOE_SOURCE"]
SCRATCH = os.environ["FLOE_SCRATCH"]
FLOE = os.environ["FLOE_BINARY"]
SPECIALS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]


def load_corpus():
    """The corpus's texts, and the scripts build-corpus.py counts in it (those with
    letters in >= 3 lines, not counting its sweep over all code points)."""
    path = os.path.join(SCRATCH, "corpus.jsonl")
    r = subprocess.run([sys.executable, os.path.join(SRC, "scripts", "build-corpus.py"), path],
                       check=True, stderr=subprocess.PIPE, text=True)
    m = re.search(r"; (\d+) scripts in >= 3 lines\): (.*)", r.stderr)
    check(m is not None, "build-corpus.py reports its scripts")
    scripts = [s.rsplit(" ", 1)[0] for s in m.group(2).split(", ")]
    texts = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            t = json.loads(line)
            try:
                t.encode("utf-8")
            except UnicodeEncodeError:
                continue  # a lone surrogate: not a string Rust can hold
            texts.append(t)
    return texts, scripts


def train_texts(texts, limit=1_000_000):
    """Every other line of the message catalogs (the corpus's first part): the
    code point sweep and synthetic lines stay unseen, so unknowns get tested."""
    out, size = [], 0
    for i, t in enumerate(texts[:20000]):
        if i % 2 == 0 and len(t) < 2000 and len(set(t)) < 200:
            out.append(t)
            size += len(t)
            if size > limit:
                break
    return out


def train_hf(texts):
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    trainer = trainers.UnigramTrainer(vocab_size=3000, special_tokens=SPECIALS,
                                      unk_token="<unk>", max_piece_length=12,
                                      show_progress=False)
    tok.train_from_iterator(texts, trainer)
    return json.loads(tok.to_str())


def hf_variants(base):
    """Several pipelines over one trained vocabulary."""
    from tokenizers import AddedToken, Tokenizer
    specials_map = {t: {"id": t, "ids": [SPECIALS.index(t)], "tokens": [t]} for t in ["<s>", "</s>"]}
    template = {
        "type": "TemplateProcessing",
        "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                   {"Sequence": {"id": "A", "type_id": 0}},
                   {"SpecialToken": {"id": "</s>", "type_id": 0}}],
        "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                 {"Sequence": {"id": "A", "type_id": 0}},
                 {"SpecialToken": {"id": "</s>", "type_id": 0}},
                 {"SpecialToken": {"id": "</s>", "type_id": 0}},
                 {"Sequence": {"id": "B", "type_id": 1}},
                 {"SpecialToken": {"id": "</s>", "type_id": 1}}],
        "special_tokens": specials_map,
    }
    roberta = {"type": "RobertaProcessing", "sep": ["</s>", 2], "cls": ["<s>", 0],
               "trim_offsets": True, "add_prefix_space": True}
    out = {}

    def ms(scheme, split=True):
        return {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": scheme,
                "split": split}

    v = json.loads(json.dumps(base))
    v["post_processor"] = template
    v["decoder"] = ms("always")
    out["hf-nfkc-always"] = v

    v = json.loads(json.dumps(base))
    v["normalizer"] = {"type": "Sequence", "normalizers": [
        {"type": "Strip", "strip_left": True, "strip_right": True},
        {"type": "Lowercase"}, {"type": "NFC"},
        {"type": "Replace", "pattern": {"String": "``"}, "content": "\""},
        {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "}]}
    v["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
        {"type": "WhitespaceSplit"}, ms("first")]}
    v["post_processor"] = roberta
    # Byte fallback: the 256 <0xXX> pieces appended, lowest score.
    low = min(s for _, s in v["model"]["vocab"]) - 1.0
    v["model"]["vocab"] += [[f"<0x{b:02X}>", low] for b in range(256)]
    v["model"]["byte_fallback"] = True
    out["hf-seq-first-bytes"] = v

    v = json.loads(json.dumps(base))
    v["normalizer"] = {"type": "NFKD"}
    v["pre_tokenizer"] = ms("never", split=False)
    v["post_processor"] = template
    out["hf-nfkd-never-nosplit"] = v

    # Added tokens: a lstrip special <mask>, a normalized word, a single_word one.
    for name in list(out):
        t = Tokenizer.from_str(json.dumps(out[name]))
        t.add_special_tokens([AddedToken("<mask>", lstrip=True, special=True)])
        t.add_tokens([AddedToken("Hello World", normalized=True),
                      AddedToken("ÜBER", single_word=True, normalized=False)])
        out[name] = json.loads(t.to_str())
    return out


def train_spm(texts):
    import sentencepiece as spm
    from transformers import XLMRobertaTokenizer
    from transformers.convert_slow_tokenizer import XLMRobertaConverter
    txt = os.path.join(SCRATCH, "spm-train.txt")
    with open(txt, "w", encoding="utf-8") as f:
        for t in texts:
            t = t.replace("\n", " ").replace("\r", " ").strip()
            if t:
                f.write(t + "\n")
    prefix = os.path.join(SCRATCH, "spm")
    spm.SentencePieceTrainer.train(
        input=txt, model_prefix=prefix, vocab_size=8000, model_type="unigram",
        character_coverage=0.9995, input_sentence_size=200000, shuffle_input_sentence=True,
        normalization_rule_name="nmt_nfkc", num_threads=2, minloglevel=2, seed_sentencepiece_size=200000)
    slow = XLMRobertaTokenizer(vocab_file=prefix + ".model")
    return json.loads(XLMRobertaConverter(slow).converted().to_str())


def floe_tokenize(folder, requests, flags=()):
    inp = "".join(json.dumps(r) + "\n" for r in requests).encode()
    start = time.perf_counter()
    r = subprocess.run(["taskset", "-c", "0", FLOE, "tokenize", "--model", folder, *flags],
                       input=inp, capture_output=True)
    secs = time.perf_counter() - start
    if r.returncode != 0:
        fail(f"floe tokenize --model {folder}: {r.stderr.decode()[-2000:]}")
    answers = [json.loads(l) for l in r.stdout.decode().splitlines()]
    if "--offsets" in flags:
        return [(a["ids"], [tuple(o) for o in a["offsets"]], a["special"]) for a in answers], secs
    # Pairs: the token type ids floe's type1_from stands for.
    return [(a["ids"], [0] * a["type1_from"] + [1] * (len(a["ids"]) - a["type1_from"]))
            if "type1_from" in a else a["ids"] for a in answers], secs


def compare(name, got, want, inputs, what):
    bad = [i for i, (g, w) in enumerate(zip(got, want)) if g != w]
    check(len(got) == len(want), f"{name} {what}: {len(got)} answers for {len(want)} inputs")
    if bad:
        i = bad[0]
        fail(f"{name} {what}: {len(bad)} of {len(want)} differ; first: input {inputs[i]!r:.300}\n"
             f"  floe   {got[i][:60]}\n  crate  {want[i][:60]}")
    return len(want)


def byte_offsets(text, offsets):
    """The crate's char offsets as byte offsets into text's UTF-8."""
    at = [0]
    for c in text:
        at.append(at[-1] + len(c.encode("utf-8")))
    return [(at[a], at[b]) for a, b in offsets]


def check_offsets(name, folder, tok, texts):
    """floe tokenize --offsets: ids, byte offsets and special flags of every line
    equal the crate's (Encoding.offsets, special_tokens_mask)."""
    got, _ = floe_tokenize(folder, [{"text": t} for t in texts], ["--offsets"])
    want = [(e.ids, byte_offsets(t, e.offsets), e.special_tokens_mask)
            for t, e in zip(texts, tok.encode_batch(texts))]
    return compare(name, got, want, texts, "offsets and special flags")


def offsets_sample(texts, n_extra):
    """The lines offsets are compared on (the crate's Python encode is the slow
    side): the first n_extra (hand-picked), every 16th corpus line, and all of
    the code point sweep (the corpus's last part, from its line at U+0080)."""
    start = next((i for i, t in enumerate(texts) if t.startswith("\x80 \x81")), len(texts))
    return texts[:n_extra] + texts[n_extra:start:16] + texts[start:]


def run_folder(name, tj, texts, pairs, max_len, offsets=None):
    """ids of texts and pairs, untruncated and truncated; and when `offsets` (a
    list of lines), their offsets and special flags."""
    from tokenizers import Tokenizer
    folder = os.path.join(SCRATCH, name)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tj, f, ensure_ascii=False)
    tok = Tokenizer.from_file(os.path.join(folder, "tokenizer.json"))
    n = 0
    got, floe_secs = floe_tokenize(folder, [{"text": t} for t in texts])
    start = time.perf_counter()
    want = [e.ids for e in tok.encode_batch(texts)]
    hf_secs = time.perf_counter() - start
    n += compare(name, got, want, texts, "single")
    if offsets:
        n += check_offsets(name, folder, tok, offsets)
    got, _ = floe_tokenize(folder, [{"text": a, "text_pair": b} for a, b in pairs])
    want = [(e.ids, e.type_ids) for e in tok.encode_batch(pairs)]
    n += compare(name, got, want, pairs, "pairs (ids, type ids)")
    # Truncated: the folder's tokenizer_config.json sets the limit.
    with open(os.path.join(folder, "tokenizer_config.json"), "w") as f:
        json.dump({"model_max_length": max_len}, f)
    tok.enable_truncation(max_len, strategy="longest_first")
    short = texts[:5000]
    got, _ = floe_tokenize(folder, [{"text": t} for t in short] +
                           [{"text": a, "text_pair": b} for a, b in pairs])
    want = [e.ids for e in tok.encode_batch(short)]
    n += compare(name, got[:len(short)], want, short, f"single truncated to {max_len}")
    want = [(e.ids, e.type_ids) for e in tok.encode_batch(pairs)]
    n += compare(name, got[len(short):], want, pairs, f"pairs truncated to {max_len}")
    return n, floe_secs, hf_secs


def main():
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    texts, scripts = load_corpus()
    check(len(texts) >= 20000, f"corpus has {len(texts)} lines")
    extra = ["", " ", "  a  b  ", "<s>", "x<mask>y", "Hello World!", "hello world", "ÜBER alles",
             "xÜBERx", "``quoted''", "\u2581\u2581", "a\u2581b", "e\u0301\u0301", "\r\n\t",
             "\u00a0\u3000", "\U0001F469\u200D\U0001F4BB", "ｆｕｌｌ　ｗｉｄｔｈ", "①②③", "ﬁ ﬂ",
             "a\u0323\u0302 \u1100\u1161\u11a8 \u2add\u0338 \u0915\u093c \u212b"]
    texts = extra + texts
    sample = offsets_sample(texts, len(extra))
    pairs = [(texts[i], texts[(i * 7 + 3) % len(texts)]) for i in range(0, len(texts), 7)]
    start = time.perf_counter()
    folders = hf_variants(train_hf(train_texts(texts, 150_000)))
    folders["spm"] = train_spm(train_texts(texts, 300_000))
    print(f"trained in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    checked = 0
    for name, tj in folders.items():
        # Offsets: the crate's alignments through every normalizer here (NFKC, NFC
        # and NFKD included) and the pre-tokenizers; XLM-R's pipeline on every line.
        n, floe_secs, hf_secs = run_folder(name, tj, texts, pairs, 40,
                                           offsets=texts if name == "spm" else sample)
        checked += n
        print(f"{name}: {n} encodings identical; one core, {len(texts)} lines: floe tokenize "
              f"{floe_secs:.2f} s (process, JSON in/out included), tokenizers encode_batch "
              f"{hf_secs:.2f} s: ratio {hf_secs / floe_secs:.2f}x")
    print(f"unigram fidelity: {checked} encodings identical over {len(texts)} lines, "
          f"{len(pairs)} pairs, {len(scripts)} scripts: {', '.join(scripts)}; offsets on "
          f"{len(sample)} lines per hf-* folder, every line on spm")
    check(len(scripts) >= 30, f"{len(scripts)} scripts in the corpus")


if __name__ == "__main__":
    main()
