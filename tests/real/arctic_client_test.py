"""ArcticInference's own embedding client, from its PyPI package (arctic-inference 0.3.0,
python/requirements/test-nodeps.txt: arctic_inference/embedding/client.py and the stubs
its build generates from its proto/inference.proto with its generate_proto.py), run
unchanged against a real `floe serve` on all-MiniLM-L6-v2 over gRPC: its vectors are
floe's own (`floe embed` on the same texts), and its command-line main() runs to the end.
(tests/serve/arctic_client.py checks the wire with floe's copy of the proto; this one uses
only the package's.) The package carries no benchmark script (the repository's
benchmark/embedding/ is not in it)."""
import asyncio
import contextlib
import importlib.metadata
import io
import os
import subprocess
import sys
import time
import uuid

import grpc
import numpy as np
from tokenizers import Tokenizer

from arctic_inference.embedding import client as arctic_client
from arctic_inference.embedding.proto.python import inference_pb2
from clientutil import MODEL, same
from realutil import MINILM, check, floe_embed, floe_serve

# What the package's main() asks for, hard-coded: a server must serve that name.
MAIN_MODEL = "Snowflake/snowflake-arctic-embed-m-v1.5"
TEXTS = [
    "Hello, world!",
    "Snowflake's Arctic embed models are served over gRPC.",
    "Ünïcödé, 中文, العربية, हिन्दी, ไทย 🙂",
    "",
] + ["hello " * n for n in (1, 7, 60, 300)]  # 300 words: over 256 tokens, truncated
start = time.time()
ref = floe_embed(MINILM, [{"text": t} for t in TEXTS])
tok = Tokenizer.from_file(MINILM + "/tokenizer.json")
tok.no_padding()  # the file pads and truncates at 128; the model's limit is 256
tok.enable_truncation(256)
ids = [e.ids for e in tok.encode_batch(TEXTS)]
dist = importlib.metadata.distribution("arctic-inference")
check(dist.version == "0.3.0" and os.path.samefile(
          dist.locate_file("arctic_inference/embedding/client.py"), arctic_client.__file__),
      "the installed package's client: %s %s" % (dist.version, arctic_client.__file__))


async def embed(c, batches, model):
    """The client's embed() on each batch, all at once; its per-embedding prints are
    kept out of the test's log (and counted)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        got = await asyncio.gather(*[c.embed(prompts=b, model_name=model) for b in batches])
    n = sum(map(len, batches))
    check(out.getvalue().count("shape: (384,)") == n == sum(map(len, got)),
          "embed: %d vectors for %d prompts in %d requests" % (sum(map(len, got)), n,
                                                               len(batches)))
    return [v for g in got for v in g]


async def run(target):
    host, port = target.rsplit(":", 1)
    c = arctic_client.InferenceClient(host=host, port=int(port))
    h = await c.health_check()
    check(h.healthy, "HealthCheck: healthy (%r)" % h.message)
    info = await c.get_replica_info()
    check(info.n_replicas >= 1 and info.n_healthy_replicas == info.n_replicas and
          all(r.model_name == MODEL and r.ready for r in info.replica_infos),
          "GetReplicaInfo: %d/%d healthy, model %s" %
          (info.n_healthy_replicas, info.n_replicas, info.replica_infos[0].model_name))

    same(await embed(c, [TEXTS], MODEL), ref, "embed (one request)")
    same(await embed(c, [[t] for t in TEXTS], MODEL), ref,
         "embed, one prompt per request, all concurrent")
    big = [TEXTS[i % len(TEXTS)] for i in range(64)]
    same(await embed(c, [big], MODEL),
         ref[[i % len(TEXTS) for i in range(64)]], "embed, 64 prompts")

    # Token ids through the package's stubs (its client has no method for them).
    req = inference_pb2.EncodeRequest(
        request_id=str(uuid.uuid4()), n_prompts=len(ids), model_name=MODEL,
        token_id_bytes_i32=[np.asarray(i, "<i4").tobytes() for i in ids])
    resp = await c.stub.Encode(req)
    check(resp.request_id == req.request_id and resp.n_prompts == len(ids) and
          resp.embedding_dim == 384 and not resp.error, "Encode with token_id_bytes_i32")
    same([np.frombuffer(b, "<f4") for b in resp.embedding_bytes_fp32], ref,
         "token_id_bytes_i32 (ids of tokenizers, truncated at 256)")

    a = await c.abort("no-such-request")
    check(not a["success"] and "no-such-request" in a["message"],
          "Abort of an unknown id: %r" % a["message"])
    try:
        await embed(c, [TEXTS[:1]], MAIN_MODEL)
        check(False, "a wrong model name is refused")
    except grpc.aio.AioRpcError as e:
        check(e.code() == grpc.StatusCode.NOT_FOUND and "not served here" in e.details(),
              "a wrong model name: the client raises %s: %s" % (e.code().name, e.details()))
    await c.close()


with floe_serve(MINILM, "--served-model-name", MODEL) as (_, target):
    asyncio.run(run(target))

# The package's own command line, unchanged: health, replica info, 16 x "Hello, world!"
# under its hard-coded model name.
with floe_serve(MINILM, "--served-model-name", MAIN_MODEL) as (_, target):
    host, port = target.rsplit(":", 1)
    r = subprocess.run([sys.executable, "-m", "arctic_inference.embedding.client",
                        "--host", host, "--port", port, "--prompt", "unused"],
                       capture_output=True, text=True, timeout=60)
    out = r.stdout + r.stderr
    shapes = [l for l in r.stdout.splitlines() if l.endswith("shape: (384,)")]
    check(r.returncode == 0 and len(shapes) == 16 and "Health check result: healthy: true"
          in out, "the package's client main() against floe: exit %d, %d embeddings%s" %
          (r.returncode, len(shapes), "" if r.returncode == 0 else "\n" + out[-2000:]))

print("arctic client checks done in %.1f s" % (time.time() - start))
