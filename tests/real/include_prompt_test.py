"""include_prompt false in 1_Pooling/config.json: pooling leaves the prompt's tokens out,
as sentence-transformers does, on the real all-MiniLM-L6-v2 (a copy of its folder with
prompts and include_prompt false), for mean, max and cls pooling, through `floe embed`
(prompt named per line, and the default prompt) and `floe serve` (HTTP prompt_name)."""
import json
import os
import shutil
import urllib.request

import numpy as np
from sentence_transformers import SentenceTransformer

from realutil import MINILM, SCRATCH, check, cosine_rows, floe_embed, floe_serve

PROMPTS = {"query": "query: ", "passage": "Represent this passage for retrieval: "}
TEXTS = ["Hello, world!", "A man is eating food.", "東京は日本の首都です 🙂 café",
         "short", "The quick brown fox jumps over the lazy dog. " * 8]
MODES = {"mean": "pooling_mode_mean_tokens", "max": "pooling_mode_max_tokens",
         "cls": "pooling_mode_cls_token"}


def make_folder(mode, include_prompt, default_prompt=None):
    """A copy of MiniLM with `mode` pooling, the prompts and include_prompt as given."""
    d = os.path.join(SCRATCH, "minilm-%s-%s-%s" % (mode, include_prompt, default_prompt))
    if os.path.isdir(d):
        return d
    shutil.copytree(MINILM, d, ignore=shutil.ignore_patterns("model.safetensors"))
    os.symlink(os.path.join(MINILM, "model.safetensors"), os.path.join(d, "model.safetensors"))
    pooling = {"word_embedding_dimension": 384, "include_prompt": include_prompt}
    for m, key in MODES.items():
        pooling[key] = m == mode
    with open(os.path.join(d, "1_Pooling", "config.json"), "w") as f:
        json.dump(pooling, f)
    with open(os.path.join(d, "config_sentence_transformers.json"), "w") as f:
        json.dump({"prompts": PROMPTS, "default_prompt_name": default_prompt}, f)
    return d


def st_encode(folder, prompt_name=None):
    model = SentenceTransformer(folder, device="cpu")
    return model.encode(TEXTS, prompt_name=prompt_name)


for mode in MODES:
    folder = make_folder(mode, False)
    for name in PROMPTS:
        ref = st_encode(folder, name)
        got = floe_embed(folder, [{"text": t, "prompt_name": name} for t in TEXTS])
        cos = cosine_rows(ref, got)
        check(cos.min() >= 0.99999,
              "%s pooling, include_prompt false, prompt %s: floe embed vs sentence-transformers "
              "min cosine %.7f" % (mode, name, cos.min()))
    # The check above must be able to fail: the prompt's tokens change the vector.
    with_prompt = st_encode(make_folder(mode, True), "passage")
    without = st_encode(folder, "passage")
    check(cosine_rows(with_prompt, without).min() < 0.999,
          "%s pooling: include_prompt true and false differ (min cosine %.4f)"
          % (mode, cosine_rows(with_prompt, without).min()))

# A default prompt applies (and is left out of pooling) with no prompt_name.
folder = make_folder("mean", False, default_prompt="passage")
ref = st_encode(folder)
got = floe_embed(folder, [{"text": t} for t in TEXTS])
cos = cosine_rows(ref, got)
check(cos.min() >= 0.99999, "default prompt, include_prompt false: min cosine %.7f" % cos.min())

# The server: the frontend tokenizes with the prompt, the replica pools without it.
folder = make_folder("mean", False)
ref = st_encode(folder, "query")
for args in ([], ["--num-replicas", "2", "--threads", "2"]):
    with floe_serve(folder, *args) as (url, _):
        body = json.dumps({"input": TEXTS, "prompt_name": "query"}).encode()
        req = urllib.request.Request(url + "/v1/embeddings", data=body,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as r:
            data = json.load(r)["data"]
        got = np.asarray([d["embedding"] for d in sorted(data, key=lambda d: d["index"])])
        cos = cosine_rows(ref, got)
        check(cos.min() >= 0.99999, "floe serve %s, prompt_name query: min cosine %.7f"
              % (" ".join(args) or "(in-process)", cos.min()))
