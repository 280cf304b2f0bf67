"""The floe Python package (pyproject.toml, issue 18): builds its wheel with pip in the
pinned environment, installs it into a scratch folder, imports it from there, and checks
floe.Embedder against sentence-transformers on the real all-MiniLM-L6-v2:
  (a) encode on ~200 varied texts (realtexts: short, long past 256 tokens, many
      scripts): cosine >= 0.99999 per row; a string gives (384,), a list (n, 384)
      float32, an empty list (0, 384); the array owns its buffer (no copy behind it);
  (b) tokenize == sentence-transformers' input_ids; dimension, max_seq_length;
  (c) prompt_name on a copy of the folder with prompts; truncate_dim with the folder's
      normalization and with normalize_embeddings=True; normalize_embeddings=False;
      One string with those options equals its row in a list (its own path);
  (d) errors: a missing folder (RuntimeError), an unknown prompt (ValueError), both
      with floe's message; a bad truncate_dim (ValueError); for a list and a string;
  (e) the GIL is released: a second Python thread keeps ticking during one long
      encode call; two threads encoding at once get the same vectors;
  (g) encode(..., output_value="token_embeddings") equals sentence-transformers' on a
      few texts (one past 256 tokens, cut; one with a prompt): one (tokens, 384)
      float32 array per text, every token, within 1e-5 per element; each array wraps
      the engine's own buffer;
The wheel (tests/real/python_wheel.py: scripts/build-wheel.sh, the repaired manylinux
wheel) is built once per source state, its build folder next to the floe binary under
test (python-package/), so only the first run builds it. The wheel alone in a fresh
virtual environment is real_python_manylinux's (python_manylinux_test.py).
"""
import json
import os
import shutil
import subprocess
import sys
import threading
import time

import numpy as np

from realtexts import fidelity_texts
from python_wheel import installed
from realutil import MINILM, SCRATCH, check, cosine_rows, fail


def prompts_folder():
    folder = os.path.join(SCRATCH, "minilm-prompts")
    os.mkdir(folder)
    for name in os.listdir(MINILM):
        if name != "config_sentence_transformers.json":
            os.symlink(os.path.join(MINILM, name), os.path.join(folder, name))
    with open(os.path.join(folder, "config_sentence_transformers.json"), "w") as f:
        json.dump({"prompts": {"query": "query: ", "passage": "passage: "},
                   "default_prompt_name": None}, f)
    return folder


def expect_error(kind, fn, *needles):
    """fn() raises `kind` whose message holds every needle (floe's own words)."""
    try:
        fn()
    except kind as e:
        msg = str(e)
        check(all(n in msg for n in needles), "(d) %s: %s" % (kind.__name__, msg[:160]))
        return
    except Exception as e:  # noqa: BLE001 - the wrong kind is the failure
        fail("expected %s, got %s: %s" % (kind.__name__, type(e).__name__, e))
    fail("expected %s, nothing raised" % kind.__name__)


def token_embeddings(model, st, mp, stp, texts):
    """(g) output_value="token_embeddings" against sentence-transformers'."""
    few = [texts[0], "Hello, world!", max(texts, key=len)] + texts[7:10]
    plain = None
    for name, ours, theirs, kwargs in (("", model, st, {}),
                                       (" prompt_name='query'", mp, stp,
                                        {"prompt_name": "query"})):
        ref = [t.numpy() for t in theirs.encode(few, output_value="token_embeddings",
                                                batch_size=4, **kwargs)]
        got = ours.encode(few, output_value="token_embeddings", batch_size=4, **kwargs)
        check(isinstance(got, list) and len(got) == len(few) and
              all(g.dtype == np.float32 and g.shape == r.shape for g, r in zip(got, ref)),
              "(g)%s: %d (tokens, 384) float32 arrays, tokens as sentence-transformers' "
              "(%s)" % (name, len(got), [r.shape[0] for r in ref]))
        plain = plain if name else got
        diff = max(float(np.abs(g - r).max()) for g, r in zip(got, ref))
        check(diff <= 1e-5, "(g)%s: within 1e-5 of sentence-transformers' per element "
              "(max diff %.2g)" % (name, diff))
    check(got[0].flags["C_CONTIGUOUS"] and got[0].base is not None and
          not got[0].flags["OWNDATA"], "(g) each array wraps floe's buffer")
    one = model.encode(few[1], output_value="token_embeddings")
    check(isinstance(one, np.ndarray) and one.shape == (len(model.tokenize(few[1])), 384) and
          np.abs(one - plain[1]).max() < 1e-5, "(g) a string gives one (tokens, 384) array")
    check(model.encode([], output_value="token_embeddings") == [], "(g) an empty list gives []")
    expect_error(ValueError, lambda: model.encode(["x"], output_value="nope"), "output_value")


def main():
    floe = installed()
    from sentence_transformers import SentenceTransformer

    texts = fidelity_texts(n_english=150, n_catalog=20, seed=18)
    st = SentenceTransformer(MINILM, device="cpu")
    model = floe.Embedder(MINILM)
    print(repr(model), flush=True)

    # (a) encode vs sentence-transformers, shapes, ownership.
    ref = st.encode(texts, batch_size=32)
    got = model.encode(texts)
    check(got.shape == (len(texts), 384) and got.dtype == np.float32,
          "(a) a list of %d gives (%d, 384) float32" % (len(texts), len(texts)))
    cos = cosine_rows(ref, got)
    check(cos.min() >= 0.99999, "(a) cosine to sentence-transformers >= 0.99999 "
          "(min %.7f, text %r)" % (cos.min(), texts[int(cos.argmin())][:60]))
    check(got.flags["C_CONTIGUOUS"] and got.flags["OWNDATA"] is False and got.base is not None,
          "(a) the array wraps floe's buffer (base %s)" % type(got.base).__name__)
    one = model.encode(texts[5])
    check(one.shape == (384,) and one.dtype == np.float32 and one.base is not None,
          "(a) a string gives (384,), floe's own buffer")
    check(cosine_rows(one[None], ref[5:6])[0] >= 0.99999, "(a) the string's vector matches")
    check(model.encode([]).shape == (0, 384), "(a) an empty list gives (0, 384)")
    small = model.encode(texts[:40], batch_size=7)
    check(cosine_rows(small, got[:40]).min() >= 0.99999, "(a) batch_size 7 gives the same")
    as_list = model.encode(texts[:3], convert_to_numpy=False)
    check(isinstance(as_list, list) and len(as_list) == 3 and as_list[0].shape == (384,),
          "(a) convert_to_numpy=False gives a list of 1-D arrays")

    # (b) tokenize, dimension, max_seq_length.
    ids = model.tokenize(texts)
    features = st.tokenize(texts)
    ref_ids = [row[mask.bool()].tolist() for row, mask in
               zip(features["input_ids"], features["attention_mask"])]
    bad = [i for i in range(len(texts)) if ids[i] != ref_ids[i]]
    check(not bad, "(b) tokenize equals sentence-transformers' input_ids on %d texts%s" % (
        len(texts), "" if not bad else " (differs: %r)" % texts[bad[0]][:60]))
    check(model.tokenize("Hello, world!") == ref_ids[texts.index("Hello, world!")],
          "(b) tokenize of one string")
    check(model.dimension == st.get_embedding_dimension() == 384,
          "(b) dimension 384")
    check(model.max_seq_length == st.max_seq_length,
          "(b) max_seq_length %d" % model.max_seq_length)

    # (c) prompts, truncate_dim, normalize.
    folder = prompts_folder()
    stp = SentenceTransformer(folder, device="cpu")
    mp = floe.Embedder(folder)
    sub = texts[::4]
    for name in ("query", "passage"):
        c = cosine_rows(stp.encode(sub, prompt_name=name), mp.encode(sub, prompt_name=name))
        check(c.min() >= 0.99999, "(c) prompt_name=%r: min cosine %.7f" % (name, c.min()))
    moved = cosine_rows(mp.encode(sub, prompt_name="query"), got[::4])
    check(np.median(moved) < 0.999, "(c) the prompt changes the vectors (median %.4f)"
          % np.median(moved))
    ref128 = st.encode(sub, truncate_dim=128)
    got128 = model.encode(sub, truncate_dim=128)
    check(got128.shape == (len(sub), 128) and np.abs(got128 - ref128).max() < 1e-5,
          "(c) truncate_dim=128 equals sentence-transformers' (max diff %.2g)"
          % np.abs(got128 - ref128).max())
    ref128n = st.encode(sub, truncate_dim=128, normalize_embeddings=True)
    got128n = model.encode(sub, truncate_dim=128, normalize_embeddings=True)
    check(np.abs(got128n - ref128n).max() < 1e-5 and
          np.allclose(np.linalg.norm(got128n, axis=1), 1, atol=1e-5),
          "(c) truncate_dim=128, normalize_embeddings=True: unit rows equal to theirs")
    raw = model.encode(sub, normalize_embeddings=False)
    norms = np.linalg.norm(raw, axis=1)
    check(cosine_rows(raw, got[::4]).min() >= 0.99999 and np.abs(norms - 1).min() > 0.01,
          "(c) normalize_embeddings=False: same direction, raw norms (%.2f..%.2f)"
          % (norms.min(), norms.max()))
    # One string takes its own path (encode_one): the same options give row 0's values.
    singles = [(model.encode(sub[0], truncate_dim=128), got128[0]),
               (model.encode(sub[0], truncate_dim=128, normalize_embeddings=True), got128n[0]),
               (model.encode(sub[0], normalize_embeddings=False), raw[0]),
               (mp.encode(sub[0], prompt_name="query"), mp.encode(sub[:1], prompt_name="query")[0])]
    check(all(a.shape == b.shape and cosine_rows(a[None], b[None])[0] >= 0.999999 and
              abs(np.linalg.norm(a) / np.linalg.norm(b) - 1) < 1e-5 for a, b in singles),
          "(c) one string with truncate_dim / normalize_embeddings / prompt_name equals its row "
          "in a list (shapes %s)" % [a.shape for a, _ in singles])

    # (d) errors.
    missing = os.path.join(SCRATCH, "no-such-model")
    expect_error(RuntimeError, lambda: floe.Embedder(missing), missing)
    expect_error(ValueError, lambda: model.encode(["x"], prompt_name="nope"), "nope")
    expect_error(ValueError, lambda: model.encode(["x"], truncate_dim=1000), "1000")
    expect_error(ValueError, lambda: model.encode(["x"], batch_size=0), "batch_size")
    expect_error(ValueError, lambda: model.encode("x", prompt_name="nope"), "nope")
    expect_error(ValueError, lambda: model.encode("x", truncate_dim=1000), "1000")
    expect_error(ValueError, lambda: model.encode("x", batch_size=0), "batch_size")
    expect_error(TypeError, lambda: model.encode([1, 2]))

    # (e) the GIL is released during encode.
    long_texts = [t for t in texts if len(t.split()) > 100] * 6
    ticks = []
    stop = threading.Event()

    def ticker():
        while not stop.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.001)

    th = threading.Thread(target=ticker)
    th.start()
    time.sleep(0.05)
    t0 = time.perf_counter()
    model.encode(long_texts, batch_size=len(long_texts))  # one engine call
    t1 = time.perf_counter()
    stop.set()
    th.join()
    inside = sum(1 for t in ticks if t0 + 0.05 < t < t1 - 0.05)
    span = t1 - t0 - 0.1
    # Held, the GIL lets the ticker run ~0 times inside the call; released, it ticks
    # every ~1.1 ms on a quiet machine, far less under load (sleeps stretch): a fixed
    # floor of 10 ticks tells the two apart without depending on the load.
    check(span > 0.3 and inside >= 10,
          "(e) another thread ticked %d times during a %.2f s encode of %d long texts "
          "(one engine call)" % (inside, t1 - t0, len(long_texts)))
    results = [None, None]

    def enc(i):
        results[i] = model.encode(texts[:60])

    threads = [threading.Thread(target=enc, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    check(all(r is not None and np.abs(r - got[:60]).max() < 1e-5 for r in results),
          "(e) two threads encoding at once get the same vectors")

    # (g) per-token vectors.
    token_embeddings(model, st, mp, stp, texts)

    print("python_package: all checks passed", flush=True)


if __name__ == "__main__":
    main()
