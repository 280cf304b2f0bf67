"""OpenAI's Python client (`openai`, pinned in the test environment) against a real
`floe serve` on all-MiniLM-L6-v2: every way it asks for embeddings gets floe's own vectors
(`floe embed` on the same texts), base64 bit-identical to float, `dimensions` the first
dimensions renormalized, usage the token count of Hugging Face's `tokenizers`, and a
wrong model name a typed error carrying floe's message."""
import base64
import time

import numpy as np
import openai
import openai.lib._parsing._embeddings as oa_parsing
from tokenizers import Tokenizer

from clientutil import MODEL, same
from realutil import MINILM, check, floe_embed, floe_serve

TEXTS = [
    "A man is eating food.",
    "A man is riding a horse on the beach at sunset, far from the city.",
    "東京は日本の首都です 🙂 café",
    "def f(x):\n    return x ** 2  # squares",
    "x",
]
start = time.time()
ref = floe_embed(MINILM, [{"text": t} for t in TEXTS])
ref128 = floe_embed(MINILM, [{"text": t, "dimensions": 128} for t in TEXTS])
tok = Tokenizer.from_file(MINILM + "/tokenizer.json")
tok.no_padding()  # the file pads to 128
ids = [e.ids for e in tok.encode_batch(TEXTS)]


def rows(resp):
    check([d.index for d in resp.data] == list(range(len(resp.data))), "data in input order")
    return [d.embedding for d in resp.data]


def b64_rows(resp):
    return np.stack([np.frombuffer(base64.b64decode(d.embedding), "<f4") for d in resp.data])


with floe_serve(MINILM, "--served-model-name", MODEL) as (url, _):
    client = openai.OpenAI(base_url=url + "/v1", api_key="x", max_retries=0)
    emb = client.embeddings

    one = emb.create(model=MODEL, input=TEXTS[0])
    check(one.model == MODEL and len(one.data) == 1, "a string: one embedding, model named")
    same(rows(one), ref[:1], "a string")

    r = emb.create(model=MODEL, input=TEXTS, encoding_format="float")
    floats = same(rows(r), ref, "a list, encoding_format=float")
    check(r.usage.prompt_tokens == sum(map(len, ids)) == r.usage.total_tokens,
          "usage.prompt_tokens %d = tokenizers' count %d" % (r.usage.prompt_tokens,
                                                             sum(map(len, ids))))

    r = emb.create(model=MODEL, input=TEXTS, encoding_format="base64")
    check(all(isinstance(d.embedding, str) for d in r.data),
          "encoding_format=base64 given: the client leaves the strings alone")
    b64 = b64_rows(r)
    check(np.array_equal(b64, floats), "base64 bit-identical to float")

    # Not given: the client asks for base64 and decodes it itself, with numpy when
    # present, else with array.array; both must give the float vectors exactly.
    check(oa_parsing.has_numpy(), "numpy present (the client's numpy decoding path)")
    r = emb.create(model=MODEL, input=TEXTS)
    check(np.array_equal(np.asarray(rows(r), np.float32), floats),
          "encoding_format omitted (numpy decoding): identical to float")
    saved = oa_parsing.has_numpy
    oa_parsing.has_numpy = lambda: False
    try:
        r = emb.create(model=MODEL, input=TEXTS)
    finally:
        oa_parsing.has_numpy = saved
    check(np.array_equal(np.asarray(rows(r), np.float32), floats),
          "encoding_format omitted (array.array decoding): identical to float")

    raw = emb.with_raw_response.create(model=MODEL, input=TEXTS)
    body = raw.http_response.json()
    check(raw.http_response.status_code == 200 and
          all(isinstance(d["embedding"], str) for d in body["data"]),
          "with_raw_response: the wire carries base64 strings")
    wire = np.stack([np.frombuffer(base64.b64decode(d["embedding"]), "<f4")
                     for d in body["data"]])
    check(np.array_equal(wire, floats), "with_raw_response: raw base64 identical to float")
    check(np.array_equal(np.asarray(rows(raw.parse()), np.float32), floats),
          "with_raw_response.parse(): decoded identical to float")

    r = emb.create(model=MODEL, input=TEXTS, dimensions=128, encoding_format="float")
    got = same(rows(r), ref128, "dimensions=128")
    first = ref[:, :128] / np.linalg.norm(ref[:, :128], axis=1, keepdims=True)
    check(np.abs(got - first).max() < 1e-5 and
          np.abs(np.linalg.norm(got, axis=1) - 1).max() < 1e-5,
          "dimensions=128: the first 128 of the full vector, renormalized (max diff %.2g)"
          % np.abs(got - first).max())
    r = emb.create(model=MODEL, input=TEXTS, dimensions=128, encoding_format="base64")
    check(np.array_equal(b64_rows(r), got), "dimensions=128: base64 identical to float")

    r = emb.create(model=MODEL, input=ids, encoding_format="float")
    same(rows(r), ref, "token-id arrays as input")
    check(r.usage.prompt_tokens == sum(map(len, ids)), "token-id arrays: usage counts the ids")
    r = emb.create(model=MODEL, input=ids[1], encoding_format="float")
    same(rows(r), ref[1:2], "one token-id array as input")

    try:
        emb.create(model="text-embedding-3-small", input=TEXTS[0])
        check(False, "a wrong model name is refused")
    except (openai.NotFoundError, openai.BadRequestError) as e:
        msg = e.body.get("message", "") if isinstance(e.body, dict) else ""
        check(e.status_code == 404 and e.type == "not_found_error" and
              msg == "model 'text-embedding-3-small' is not served here; this server "
                     "serves '%s'" % MODEL and msg in e.message,
              "a wrong model name: %s %d, floe's message: %s" % (type(e).__name__,
                                                              e.status_code, msg))
    try:
        emb.create(model=MODEL, input=TEXTS[0], dimensions=1000)
        check(False, "dimensions over the model's are refused")
    except openai.BadRequestError as e:
        check(e.status_code == 400 and "dimensions must be between 1 and 384" in e.message,
              "dimensions=1000: BadRequestError 400: %s" % e.body)
    client.close()

print("openai client checks done in %.1f s" % (time.time() - start))
