"""floe's byte-level BPE tokenizer against Hugging Face `tokenizers`, line by line over
the multilingual corpus (scripts/build-corpus.py), single texts and pairs, untruncated
and truncated, and byte offsets with special flags (`floe tokenize --offsets` against
Encoding.offsets in bytes, on offsets_sample's lines: the code point sweep and one
line of 16) (tests/real/unigram_fidelity_test.py's run_folder).

BPE models are trained here, in FLOE_SCRATCH, by `tokenizers`' BpeTrainer (vocab 5,000)
in two published configurations, then varied:
  qwen2      Qwen2/Qwen3-Embedding's: NFC, Split with Qwen2's regex (Isolated) then
             ByteLevel(add_prefix_space false, use_regex false), post_processor
             Sequence[ByteLevel, TemplateProcessing "$A <|endoftext|>"], specials
             <|endoftext|> <|im_start|> <|im_end|>;
  modernbert ModernBERT's / GPT-2's: NFC, ByteLevel(use_regex true: GPT-2's regex),
             TemplateProcessing [CLS] $A [SEP] / [CLS] $A [SEP] $B:1 [SEP]:1;
  gpt2-prefix-strings  GPT-2's regex with add_prefix_space true, no normalizer,
             merges as "a b" strings, ignore_merges true, post_processor ByteLevel,
             an added non-special token.
Prints, per folder, floe tokenize's time on one core against the crate's encode_batch
(TOKENIZERS_PARALLELISM=false) in the same run.
"""
import json
import os
import sys
import time

from realutil import check
from unigram_fidelity_test import load_corpus, offsets_sample, run_folder, train_texts

QWEN2_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+"
               r"[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")


def train(texts, normalizer, pre_tokenizer, specials):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizer
    tok.pre_tokenizer = pre_tokenizer
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=5000, special_tokens=specials, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(texts, trainer)
    return json.loads(tok.to_str())


def template(single, pair, specials):
    return {"type": "TemplateProcessing", "single": single, "pair": pair,
            "special_tokens": {t: {"id": t, "ids": [i], "tokens": [t]} for t, i in specials}}


def seq(id_, type_id=0):
    return {"Sequence": {"id": id_, "type_id": type_id}}


def special(id_, type_id=0):
    return {"SpecialToken": {"id": id_, "type_id": type_id}}


def folders(texts):
    from tokenizers import AddedToken, Tokenizer, normalizers, pre_tokenizers
    out = {}
    qs = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    q = train(texts, normalizers.NFC(), pre_tokenizers.Sequence([
        pre_tokenizers.Split(__import__("tokenizers").Regex(QWEN2_REGEX), "isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)]), qs)
    eot = q["model"]["vocab"]["<|endoftext|>"]
    q["post_processor"] = {"type": "Sequence", "processors": [
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False},
        template([seq("A"), special("<|endoftext|>")],
                 [seq("A"), seq("B", 1), special("<|endoftext|>", 1)],
                 [("<|endoftext|>", eot)])]}
    out["qwen2"] = q

    ms = ["[UNK]", "[CLS]", "[SEP]", "[PAD]", "[MASK]"]
    m = train(texts, normalizers.NFC(),
              pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True), ms)
    v = m["model"]["vocab"]
    m["post_processor"] = template(
        [special("[CLS]"), seq("A"), special("[SEP]")],
        [special("[CLS]"), seq("A"), special("[SEP]"), seq("B", 1), special("[SEP]", 1)],
        [("[CLS]", v["[CLS]"]), ("[SEP]", v["[SEP]"])])
    t = Tokenizer.from_str(json.dumps(m))
    t.add_special_tokens([AddedToken("[MASK]", lstrip=True, special=True)])
    out["modernbert"] = json.loads(t.to_str())

    g = json.loads(json.dumps(m))
    g["normalizer"] = None
    g["pre_tokenizer"] = {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True,
                          "use_regex": True}
    g["post_processor"] = {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True,
                           "use_regex": True}
    g["model"]["merges"] = [" ".join(p) if isinstance(p, list) else p
                            for p in g["model"]["merges"]]
    g["model"]["ignore_merges"] = True
    t = Tokenizer.from_str(json.dumps(g))
    t.add_tokens([AddedToken("hello world", normalized=True)])
    out["gpt2-prefix-strings"] = json.loads(t.to_str())
    return out


def main():
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    texts, scripts = load_corpus()
    check(len(texts) >= 20000, f"corpus has {len(texts)} lines")
    extra = ["", " ", "  a  b  ", "\n\n x\r\n", "it's IT'S I'M we'LL 'ſ", "don't\tstop",
             "<|endoftext|>", "a<|im_start|>b", " [MASK] x", "hello world", "Hello World",
             "123456 ١٢٣ ½", "e\u0301", "\u00a0\u3000 \u2003x", "\U0001F469\u200D\U0001F4BB",
             "中文字符和日本語のテキスト", "a" * 300, "  x\u0301  ", "\u2add\u0338 \U0001d15e \u1100\u1161"]
    texts = extra + texts
    sample = offsets_sample(texts, len(extra))
    pairs = [(texts[i], texts[(i * 7 + 3) % len(texts)]) for i in range(0, len(texts), 7)]
    start = time.perf_counter()
    fs = folders(train_texts(texts, 300_000))
    print(f"trained in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    checked = 0
    for name, tj in fs.items():
        n, floe_secs, hf_secs = run_folder(name, tj, texts, pairs, 40, offsets=sample)
        checked += n
        print(f"{name}: {n} encodings identical; one core, {len(texts)} lines: floe tokenize "
              f"{floe_secs:.2f} s (process, JSON in/out included), tokenizers encode_batch "
              f"{hf_secs:.2f} s: ratio {hf_secs / floe_secs:.2f}x")
    print(f"bpe fidelity: {checked} encodings identical over {len(texts)} lines, "
          f"{len(pairs)} pairs, {len(scripts)} scripts; offsets on {len(sample)} lines per folder")
    check(len(scripts) >= 30, f"{len(scripts)} scripts in the corpus")


if __name__ == "__main__":
    main()
