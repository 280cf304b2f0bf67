#!/usr/bin/env python3
"""Writes tests/data/models/qwen3-tiny: a random-weight Qwen3Model laid out as
Qwen/Qwen3-Embedding-0.6B's sentence-transformers folder.

  $(scripts/python-env.sh test)/bin/python tests/data/models/make_qwen3_tiny.py

- config.json: transformers' Qwen3Config, hidden 64, 2 layers, 4 heads, 2 KV
  heads, head_dim 32 (so q is 128 wide, not hidden: as 0.6B's 2048 vs 1024),
  intermediate 128, rope_theta 1e6, rms_norm_eps 1e-6, 32768 positions,
  tie_word_embeddings true; weights seeded random (std 0.1, norms 1 + 0.1
  noise so that a norm applied in the wrong place shows), saved by
  Qwen3Model.save_pretrained as float16 (names without "model.", as the
  published folder; config.json says float32).
- tokenizer.json: a byte-level BPE (vocab 1,000) trained here by `tokenizers`
  with Qwen2's settings (NFC, Split on Qwen2's regex, ByteLevel without its
  regex; specials <|endoftext|> <|im_start|> <|im_end|>; post-processor
  ByteLevel + TemplateProcessing "$A <|endoftext|>"), on the English lines
  below and Debian's GPL-3 text.
- modules.json (Transformer, Pooling, Normalize), 1_Pooling/config.json
  (pooling_mode_lasttoken), config_sentence_transformers.json (Qwen3-Embedding's
  prompts: query = "Instruct: Given a web search query, retrieve relevant
  passages that answer the query\\nQuery:", document = ""),
  sentence_bert_config.json (max_seq_length 32768), tokenizer_config.json.

and ../golden/qwen3-tiny.jsonl: texts (one with the query prompt, one of ~1,000
tokens), their ids and the float64 Qwen3Model's last-token vector (raw and
normalised), the engine tests' golden format.
"""
import json
import os

import torch
import transformers
from make_tiny_models import save, write_json
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

HERE = os.path.dirname(os.path.abspath(__file__))
FOLDER = os.path.join(HERE, "qwen3-tiny")
GOLDEN = os.path.join(os.path.dirname(HERE), "golden", "qwen3-tiny.jsonl")

QWEN2_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+"
               r"[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
QUERY_PROMPT = ("Instruct: Given a web search query, retrieve relevant passages that answer "
                "the query\nQuery:")
LINES = [
    "The quick brown fox jumps over the lazy dog.", "A man is eating food.",
    "What is the capital of China?", "The capital of China is Beijing.",
    "Explain gravity", "Gravity is a force that attracts two bodies towards each other.",
    QUERY_PROMPT, "Hello, world! 123 4567 don't we're I'll",
]


def gpl_lines():
    gpl = "/usr/share/common-licenses/GPL-3"
    if not os.path.exists(gpl):
        return []
    with open(gpl, encoding="utf-8") as f:
        return [l for l in f.read().splitlines() if l.strip()]


def train_tokenizer():
    texts = list(LINES) + gpl_lines()
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_REGEX), "isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=1000, special_tokens=SPECIALS, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(texts, trainer)
    j = json.loads(tok.to_str())
    eot = j["model"]["vocab"]["<|endoftext|>"]
    special = {"<|endoftext|>": {"id": "<|endoftext|>", "ids": [eot], "tokens": ["<|endoftext|>"]}}
    j["post_processor"] = {"type": "Sequence", "processors": [
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False,
         "use_regex": False},
        {"type": "TemplateProcessing",
         "single": [{"Sequence": {"id": "A", "type_id": 0}},
                    {"SpecialToken": {"id": "<|endoftext|>", "type_id": 0}}],
         "pair": [{"Sequence": {"id": "A", "type_id": 0}},
                  {"Sequence": {"id": "B", "type_id": 1}},
                  {"SpecialToken": {"id": "<|endoftext|>", "type_id": 1}}],
         "special_tokens": special}]}
    return j, eot


def randomize(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=g)
            p.copy_(1.0 + 0.1 * noise if "norm" in name else 0.1 * noise)


def write_golden(tok_json):
    tok = Tokenizer.from_str(json.dumps(tok_json))
    texts = LINES[:6] + [QUERY_PROMPT + "What is the capital of China?", "x",
                         " ".join(gpl_lines()[:60])]
    model = transformers.AutoModel.from_pretrained(FOLDER, dtype=torch.float32).double().eval()
    with open(GOLDEN, "w") as f:
        for t in texts:
            ids = tok.encode(t).ids
            with torch.no_grad():
                h = model(input_ids=torch.tensor([ids])).last_hidden_state[0, -1]
            raw = [round(v, 9) for v in h.tolist()]
            unit = [round(v, 9) for v in torch.nn.functional.normalize(h, dim=0).tolist()]
            f.write(json.dumps({"text": t, "ids": ids, "embedding": unit,
                                "embedding_raw": raw}) + "\n")


def main():
    tok, eot = train_tokenizer()
    vocab = max(tok["model"]["vocab"].values()) + 1
    config = transformers.Qwen3Config(
        vocab_size=vocab, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, head_dim=32, intermediate_size=128,
        max_position_embeddings=32768, rms_norm_eps=1e-6,
        rope_parameters={"rope_type": "default", "rope_theta": 1000000.0},
        tie_word_embeddings=True, bos_token_id=eot, eos_token_id=eot)
    torch.manual_seed(0)
    model = transformers.Qwen3Model(config)
    randomize(model, 15)
    save(model, FOLDER)  # float16, config.json saying float32
    write_json(os.path.join(FOLDER, "tokenizer.json"), tok)
    write_json(os.path.join(FOLDER, "tokenizer_config.json"), {
        "tokenizer_class": "Qwen2Tokenizer", "eos_token": "<|endoftext|>",
        "pad_token": "<|endoftext|>", "padding_side": "left", "model_max_length": 131072,
        "clean_up_tokenization_spaces": False})
    write_json(os.path.join(FOLDER, "modules.json"), [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling",
         "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize",
         "type": "sentence_transformers.models.Normalize"}])
    os.makedirs(os.path.join(FOLDER, "1_Pooling"))
    write_json(os.path.join(FOLDER, "1_Pooling", "config.json"), {
        "word_embedding_dimension": 64, "pooling_mode_cls_token": False,
        "pooling_mode_mean_tokens": False, "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False, "pooling_mode_weightedmean_tokens": False,
        "pooling_mode_lasttoken": True, "include_prompt": True})
    write_json(os.path.join(FOLDER, "config_sentence_transformers.json"), {
        "prompts": {"query": QUERY_PROMPT, "document": ""},
        "default_prompt_name": None, "similarity_fn_name": "cosine"})
    write_json(os.path.join(FOLDER, "sentence_bert_config.json"),
               {"max_seq_length": 32768, "do_lower_case": False})
    write_golden(tok)
    print("wrote", FOLDER, "vocab", vocab, "with transformers", transformers.__version__)


if __name__ == "__main__":
    main()
