"""floe.Client and the LangChain / LlamaIndex classes of the floe wheel (issue 18),
against a real `floe serve` of the real all-MiniLM-L6-v2 on loopback and the
in-process floe.Embedder of the same folder:
  (a) HTTP (/v1/embeddings, base64 float32): a list gives (n, 384) float32 equal to
      Embedder.encode; a string gives (384,); an empty list (0, 384); a list longer
      than the client's batch_size is sent in several requests, rows in order;
      dimensions=128 and normalize=False equal the in-process truncate_dim /
      normalize_embeddings; info() and tokenize() say what the server says;
  (b) gRPC (floe.v1, stubs generated from proto/ at build time): the same vectors,
      dimensions, normalize, info, tokenize;
  (b') floe.AsyncClient: concurrent embeds with asyncio.gather over both transports;
  (c) errors: the server's message (unknown prompt, bad dimensions) as floe.FloeError
      over both transports; an unreachable server is a FloeError too;
  (d) LangChain: floe.langchain.FloeEmbeddings (a langchain_core Embeddings) in-process
      and over HTTP: embed_documents / embed_query (and aembed_*) equal Embedder.encode;
  (e) LlamaIndex: floe.llama_index.FloeEmbedding (a BaseEmbedding) in-process and over
      gRPC: get_text_embedding_batch / get_query_embedding / aget_* equal it too.
"""
import asyncio

import numpy as np

from python_wheel import installed
from realtexts import fidelity_texts
from realutil import MINILM, check, fail, floe_serve, free_port


def close(a, b, what, tol=1e-5):
    a, b = np.asarray(a, dtype=np.float32), np.asarray(b, dtype=np.float32)
    diff = float(np.abs(a - b).max()) if a.size else 0.0
    check(a.shape == b.shape and diff < tol, "%s: %s, max diff %.2g" % (what, a.shape, diff))


def expect_floe_error(floe, fn, what, *needles):
    try:
        fn()
    except floe.FloeError as e:
        check(all(n in e.message for n in needles), "(c) %s: FloeError %r" % (what, str(e)[:160]))
        return e
    except Exception as e:  # noqa: BLE001 - the wrong kind is the failure
        fail("(c) %s: expected floe.FloeError, got %s: %s" % (what, type(e).__name__, e))
    fail("(c) %s: nothing raised" % what)


def check_client(floe, client, name, texts, ref, model):
    got = client.embed(texts)
    check(got.dtype == np.float32, "(%s) float32" % name)
    close(got, ref, "(%s) embed of %d texts equals Embedder.encode" % (name, len(texts)))
    close(client.embed(texts[3]), ref[3], "(%s) a string gives one 1-D vector" % name)
    check(client.embed([]).shape == (0, 384), "(%s) an empty list gives (0, 384)" % name)
    close(client.embed(texts[:20], dimensions=128), model.encode(texts[:20], truncate_dim=128,
          normalize_embeddings=True), "(%s) dimensions=128 (cut, then normalized)" % name)
    close(client.embed(texts[:20], normalize=False),
          model.encode(texts[:20], normalize_embeddings=False), "(%s) normalize=False" % name)
    info = client.info()
    check(info["dimension"] == 384 and info["max_tokens"] == model.max_seq_length and
          info["pooling"] == "mean", "(%s) info(): dimension %s, max_tokens %s, pooling %s"
          % (name, info["dimension"], info["max_tokens"], info["pooling"]))
    check(client.tokenize(texts[:10]) == model.tokenize(texts[:10]) and
          client.tokenize(texts[0]) == model.tokenize(texts[0]),
          "(%s) tokenize equals Embedder.tokenize" % name)
    expect_floe_error(floe, lambda: client.embed(["x"], prompt_name="nope"),
                      name + " unknown prompt", "nope")
    expect_floe_error(floe, lambda: client.embed(["x"], dimensions=-3),
                      name + " bad dimensions", "-3")


def main():
    floe = installed()
    texts = fidelity_texts(n_english=60, n_catalog=10, seed=21)
    model = floe.Embedder(MINILM, threads=1)
    ref = model.encode(texts)
    with floe_serve(MINILM) as (url, target):
        # (a) HTTP, several requests for one call.
        http = floe.Client(url, batch_size=16)
        check(http.transport == "http", "(a) %r speaks HTTP" % http)
        check_client(floe, http, "a", texts, ref, model)
        # (b) gRPC.
        with floe.Client("grpc://" + target) as grpc_client:
            check(grpc_client.transport == "grpc", "(b) %r speaks gRPC" % grpc_client)
            check_client(floe, grpc_client, "b", texts, ref, model)
        # (b') asyncio: several calls in flight on both transports.
        async def many(target_url):
            async with floe.AsyncClient(target_url) as c:
                parts = await asyncio.gather(*[c.embed(texts[i:i + 10])
                                               for i in range(0, len(texts), 10)])
                return np.concatenate(parts), await c.info()

        for name, u in (("http", url), ("grpc", "grpc://" + target)):
            got, info = asyncio.run(many(u))
            close(got, ref, "(b') AsyncClient over %s: %d concurrent embeds" % (
                name, (len(texts) + 9) // 10))
            check(info["dimension"] == 384, "(b') AsyncClient.info over %s" % name)
        try:
            asyncio.run(floe.AsyncClient(url).embed(["x"], prompt_name="q2"))
            fail("(c) AsyncClient: an unknown prompt was accepted")
        except floe.FloeError as err:
            check("q2" in err.message, "(c) AsyncClient raises FloeError: %s" % err)
        e = expect_floe_error(floe, lambda: floe.Client(url).embed(["x"], prompt_name="q1"),
                              "HTTP status", "q1")
        check(e.status == 400, "(c) HTTP status 400 kept (%d)" % e.status)
        expect_floe_error(floe, lambda: floe.Client("http://127.0.0.1:%d" % free_port(),
                                                    timeout=5).embed(["x"]),
                          "unreachable server", "cannot reach")

        # (d) LangChain.
        from langchain_core.embeddings import Embeddings
        from floe.langchain import FloeEmbeddings
        for where, lc in (("in-process", FloeEmbeddings(MINILM, threads=1)),
                          ("HTTP", FloeEmbeddings(url))):
            check(isinstance(lc, Embeddings), "(d) FloeEmbeddings (%s) is a LangChain "
                  "Embeddings" % where)
            docs = lc.embed_documents(texts[:30])
            check(isinstance(docs, list) and isinstance(docs[0], list) and
                  isinstance(docs[0][0], float), "(d) embed_documents gives lists of floats")
            close(docs, ref[:30], "(d) %s embed_documents" % where)
            close(lc.embed_query(texts[40]), ref[40], "(d) %s embed_query" % where)
            close(asyncio.run(lc.aembed_documents(texts[:5])), ref[:5],
                  "(d) %s aembed_documents" % where)
            check(lc.embed_documents([]) == [], "(d) %s embed_documents([]) is []" % where)

        # (e) LlamaIndex.
        from llama_index.core.base.embeddings.base import BaseEmbedding
        from floe.llama_index import FloeEmbedding
        for where, li in (("in-process", FloeEmbedding(MINILM, embed_batch_size=8,
                                                       engine_kwargs={"threads": 1})),
                          ("gRPC", FloeEmbedding("grpc://" + target, embed_batch_size=8))):
            check(isinstance(li, BaseEmbedding), "(e) FloeEmbedding (%s) is a LlamaIndex "
                  "BaseEmbedding" % where)
            close(li.get_text_embedding_batch(texts[:30]), ref[:30],
                  "(e) %s get_text_embedding_batch (batches of 8)" % where)
            close(li.get_text_embedding(texts[7]), ref[7], "(e) %s get_text_embedding" % where)
            close(li.get_query_embedding(texts[9]), ref[9], "(e) %s get_query_embedding" % where)
            close(asyncio.run(li.aget_text_embedding_batch(texts[:5])), ref[:5],
                  "(e) %s aget_text_embedding_batch" % where)
            close(asyncio.run(li.aget_query_embedding(texts[2])), ref[2],
                  "(e) %s aget_query_embedding" % where)
    print("python_client: all checks passed", flush=True)


if __name__ == "__main__":
    main()
