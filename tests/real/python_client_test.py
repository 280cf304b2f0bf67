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
      over both transports, the same from AsyncClient; an unreachable server and one
      that does not answer in time are FloeErrors too;
  (f) ArcticInference's service (protocol="arctic"): vectors, dimensions (cut and
      normalized by the client), info(); what the protocol cannot carry (prompts,
      tokenize, embed_all) is FloeError UNIMPLEMENTED, the server's errors FloeError;
      protocol "auto" against a server with only ArcticInference's service (a proxy
      here that forwards it alone) picks it, against floe picks floe.v1;
  (g) AsyncClient is natively asynchronous: through a proxy that delays every byte by
      30 ms each way (a network's latency), 16 concurrent embeds take well under 16
      times one, over HTTP and gRPC, with no thread started and the event loop's
      executor unused;
  (h) embed_all (HTTP /embed_all, gRPC tei.v1 EmbedAllStream, sync and async) equals
      the in-process Embedder.encode(output_value="token_embeddings");
  (d) LangChain: floe.langchain.FloeEmbeddings (a langchain_core Embeddings) in-process
      and over HTTP: embed_documents / embed_query (and aembed_*) equal Embedder.encode;
  (e) LlamaIndex: floe.llama_index.FloeEmbedding (a BaseEmbedding) in-process and over
      gRPC: get_text_embedding_batch / get_query_embedding / aget_* equal it too.
"""
import asyncio
import concurrent.futures
import threading
import time

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


class LatencyProxy:
    """A TCP proxy on loopback (its own thread and event loop) that hands on every
    chunk `delay` seconds after it arrived, in each direction: a network's latency,
    so that overlapping requests show as time saved whatever the CPU."""

    def __init__(self, target, delay):
        host, port = target.rsplit(":", 1)
        self.host, self.port, self.delay = host, int(port), delay
        self.loop = asyncio.new_event_loop()
        started = threading.Event()
        self.thread = threading.Thread(target=self._serve, args=(started,), daemon=True)
        self.thread.start()
        started.wait(10)
        self.target = "127.0.0.1:%d" % self.server.sockets[0].getsockname()[1]

    def _serve(self, started):
        asyncio.set_event_loop(self.loop)
        self.server = self.loop.run_until_complete(
            asyncio.start_server(self._handle, "127.0.0.1", 0))
        started.set()
        self.loop.run_forever()

    async def _pipe(self, reader, writer):
        queue = asyncio.Queue()

        async def deliver():
            while True:
                due, data = await queue.get()
                await asyncio.sleep(max(0.0, due - self.loop.time()))
                if not data:
                    writer.close()
                    return
                writer.write(data)
                await writer.drain()

        task = asyncio.ensure_future(deliver())
        try:
            while True:
                data = await reader.read(1 << 16)
                queue.put_nowait((self.loop.time() + self.delay, data))
                if not data:
                    break
            await task
        except (OSError, asyncio.CancelledError):  # reset, or the proxy closes
            task.cancel()
            writer.close()

    async def _handle(self, creader, cwriter):
        try:
            sreader, swriter = await asyncio.open_connection(self.host, self.port)
            await asyncio.gather(self._pipe(creader, swriter), self._pipe(sreader, cwriter))
        except (OSError, asyncio.CancelledError):
            cwriter.close()

    def close(self):
        async def stop():
            self.server.close()
            others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in others:
                t.cancel()
            await asyncio.gather(*others, return_exceptions=True)
        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def arctic_only_server(target):
    """A gRPC server with ArcticInference's service alone (as an ArcticInference server
    has), forwarding Encode and GetReplicaInfo to the floe server at `target` byte for
    byte; returns (server, its target)."""
    import grpc
    upstream = grpc.insecure_channel(target)

    def forward(name):
        call = upstream.unary_unary("/arctic_inference.InferenceService/" + name)

        def handler(request, context):
            try:
                return call(request, timeout=30)
            except grpc.RpcError as e:
                context.abort(e.code(), e.details())
        return grpc.unary_unary_rpc_method_handler(handler)

    server = grpc.server(concurrent.futures.ThreadPoolExecutor(4))
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(
        "arctic_inference.InferenceService",
        {"Encode": forward("Encode"), "GetReplicaInfo": forward("GetReplicaInfo")})])
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, "127.0.0.1:%d" % port


class NoExecutor(concurrent.futures.ThreadPoolExecutor):
    """An event loop's default executor that counts what is given to it."""
    used = 0

    def submit(self, *args, **kwargs):
        NoExecutor.used += 1
        return super().submit(*args, **kwargs)


def check_arctic(floe, target, texts, ref, model):
    """(f) ArcticInference's service, chosen and detected."""
    c = floe.Client("grpc://" + target, protocol="arctic", batch_size=16)
    check(c.protocol == "arctic", "(f) protocol='arctic' speaks %s" % c.protocol)
    close(c.embed(texts[:40]), ref[:40], "(f) ArcticInference Encode of 40 texts (3 requests) "
          "equals Embedder.encode")
    close(c.embed(texts[4]), ref[4], "(f) a string gives one 1-D vector")
    check(c.embed([]).shape == (0, 384), "(f) an empty list gives (0, 384)")
    close(c.embed(texts[:8], dimensions=128), model.encode(
        texts[:8], truncate_dim=128, normalize_embeddings=True),
        "(f) dimensions=128 (cut, then normalized, by the client)")
    info = c.info()
    check(info["dimension"] == 384 and info["model"] == MINILM and info["protocol"] == "arctic"
          and info["n_replicas"] >= 1 and info["replicas"][0]["ready"],
          "(f) info() from GetReplicaInfo: model, dimension 384, %d replica(s) ready"
          % info["n_replicas"])
    for what, fn in (("prompt_name", lambda: c.embed(["x"], prompt_name="query")),
                     ("normalize=False", lambda: c.embed(["x"], normalize=False)),
                     ("tokenize", lambda: c.tokenize(["x"])),
                     ("embed_all", lambda: c.embed_all(["x"]))):
        e = expect_floe_error(floe, fn, "arctic " + what, "ArcticInference", "protocol='floe'")
        check(e.code == "UNIMPLEMENTED", "(f) %s over ArcticInference's protocol: "
              "UNIMPLEMENTED" % what)
    e = expect_floe_error(floe, lambda: floe.Client("grpc://" + target, protocol="arctic",
                                                    model="nope").embed(["x"]),
                          "arctic unknown model", "nope", "not served")
    check(e.code == "NOT_FOUND", "(f) the server's status code kept (%s)" % e.code)
    c.close()
    auto = floe.Client("grpc://" + target)
    check(auto.protocol == "auto", "(f) protocol auto before the first call")
    auto.embed("x")
    check(auto.protocol == "floe.v1", "(f) auto against floe serve: %s" % auto.protocol)
    server, only = arctic_only_server(target)
    try:
        auto = floe.Client("grpc://" + only)
        close(auto.embed(texts[:10]), ref[:10], "(f) auto against a server with "
              "ArcticInference's service only: vectors")
        check(auto.protocol == "arctic", "(f) ... and it chose %s" % auto.protocol)

        async def aio():
            async with floe.AsyncClient("grpc://" + only) as a:
                return await a.embed(texts[:8]), a.protocol
        got, proto = asyncio.run(aio())
        close(got, ref[:8], "(f) AsyncClient auto against it: %s" % proto)
        check(proto == "arctic", "(f) AsyncClient chose arctic")
    finally:
        server.stop(None)


def check_overlap(floe, url, target, texts, ref):
    """(g) N concurrent embeds through a 30 ms-each-way proxy: well under N times one,
    no threads, no executor."""
    n = 16
    short = sorted(range(len(texts)), key=lambda i: len(texts[i]))[:n]
    texts, ref = [texts[i] for i in short], ref[short]
    results = []
    for transport, direct in (("http", url.split("//", 1)[1]), ("grpc", target)):
        proxy = LatencyProxy(direct, 0.03)
        u = ("http://" if transport == "http" else "grpc://") + proxy.target

        async def run():
            loop = asyncio.get_running_loop()
            loop.set_default_executor(NoExecutor(1))
            async with floe.AsyncClient(u) as c:
                await c.embed(texts[0])  # connects (gRPC: HTTP/2 handshake)
                t0 = time.perf_counter()
                for i in range(3):
                    await c.embed(texts[i])
                one = (time.perf_counter() - t0) / 3
                threads = threading.active_count()
                t0 = time.perf_counter()
                got = await asyncio.gather(*[c.embed(texts[i]) for i in range(n)])
                many = time.perf_counter() - t0
                return one, many, got, threading.active_count() - threads

        NoExecutor.used = 0
        one, many, got, new_threads = asyncio.run(run())
        proxy.close()
        close(np.stack(got), ref, "(g) %s: %d concurrent embeds through the "
              "proxy give the right vectors" % (transport, n))
        check(many < 0.3 * n * one, "(g) %s: %d concurrent embeds took %.0f ms, one %.0f ms: "
              "%.2f of %d x one" % (transport, n, many * 1e3, one * 1e3, many / (n * one), n))
        check(new_threads <= 0 and NoExecutor.used == 0,
              "(g) %s: no thread started (%+d), executor unused (%d calls)"
              % (transport, new_threads, NoExecutor.used))
        results.append(many / (n * one))
    return results


def check_http_wire(floe):
    """(g) AsyncClient's HTTP/1.1 against a scripted server on loopback: a chunked
    answer, keep-alive (two calls, one connection), an answer that runs to the close,
    and a kept-alive connection that the server closed meanwhile (sent again on a new
    one, as the server never saw it)."""
    import json
    seen = []  # (connection number, path) per request
    body = json.dumps({"dimension": 3, "model": "scripted"}).encode()
    plans = iter(["chunked", "keep-then-close", "to-eof", "length"])

    async def serve(reader, writer):
        number = len({c for c, _ in seen}) + 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = [int(l.split(b":")[1]) for l in head.split(b"\r\n")
                          if l.lower().startswith(b"content-length:")]
                await reader.readexactly(length[0] if length else 0)
                seen.append((number, head.split(b" ")[1].decode()))
                plan = next(plans)
                if plan == "chunked":
                    writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" +
                                 b"".join(b"%x\r\n%s\r\n" % (len(p), p)
                                          for p in (body[:7], body[7:])) + b"0\r\n\r\n")
                elif plan == "to-eof":
                    writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + body)
                else:
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s"
                                 % (len(body), body))
                await writer.drain()
                if plan in ("keep-then-close", "to-eof"):
                    break
        except asyncio.IncompleteReadError:
            pass
        writer.close()

    async def run():
        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with floe.AsyncClient("http://127.0.0.1:%d" % port) as c:
            # 1 chunked, 2 keep-alive (then the server closes it), 3 finds it closed and
            # goes on a new connection whose answer runs to the close, 4 a new one again
            got = [await c.info() for _ in range(4)]
        server.close()
        return got

    got = asyncio.run(run())
    check(all(g["model"] == "scripted" for g in got), "(g) scripted HTTP server: chunked, "
          "Content-Length and to-the-close answers read")
    check([c for c, _ in seen] == [1, 1, 2, 3] and all(p == "/info" for _, p in seen),
          "(g) keep-alive: calls 1 and 2 on one connection; after an answer that ran to "
          "the close, and after the server closed an idle one, a new connection (%s)" % seen)


def check_async_errors(floe, url, target):
    """(c) AsyncClient's errors are Client's: the same message, status and code."""
    for transport, u in (("http", url), ("grpc", "grpc://" + target)):
        for what, kwargs in (("unknown prompt", {"prompt_name": "q2"}),
                             ("bad dimensions", {"dimensions": -3})):
            try:
                floe.Client(u).embed(["x"], **kwargs)
                fail("(c) %s %s: accepted" % (transport, what))
            except floe.FloeError as e:
                sync = e

            async def bad():
                async with floe.AsyncClient(u) as c:
                    await c.embed(["x"], **kwargs)
            try:
                asyncio.run(bad())
                fail("(c) AsyncClient %s %s: accepted" % (transport, what))
            except floe.FloeError as e:
                check((e.message, e.status, e.code) == (sync.message, sync.status, sync.code),
                      "(c) AsyncClient over %s, %s: FloeError as Client's (%s)"
                      % (transport, what, e))
    dead = free_port()
    for u in ("http://127.0.0.1:%d" % dead, "grpc://127.0.0.1:%d" % dead):
        try:
            asyncio.run(floe.AsyncClient(u, timeout=5).embed(["x"]))
            fail("(c) AsyncClient reached %s" % u)
        except floe.FloeError as e:
            check(True, "(c) AsyncClient, nothing at %s: FloeError %s" % (u, str(e)[:100]))
    for transport, direct in (("http", url.split("//", 1)[1]), ("grpc", target)):
        proxy = LatencyProxy(direct, 0.5)
        u = ("http://" if transport == "http" else "grpc://") + proxy.target
        t0 = time.perf_counter()
        try:
            asyncio.run(floe.AsyncClient(u, timeout=0.2).embed(["x"]))
            fail("(c) AsyncClient over %s answered within 0.2 s through a 0.5 s proxy"
                 % transport)
        except floe.FloeError as e:
            check(time.perf_counter() - t0 < 0.45, "(c) AsyncClient over %s, timeout=0.2: "
                  "FloeError after %.2f s: %s" % (transport, time.perf_counter() - t0,
                                                  str(e)[:80]))
        proxy.close()


def check_embed_all(floe, url, target, texts, model):
    """(h) Per-token vectors from the server equal the in-process engine's."""
    ref = model.encode(texts, output_value="token_embeddings")
    for name, u in (("HTTP /embed_all", url), ("gRPC tei.v1 EmbedAllStream",
                                               "grpc://" + target)):
        c = floe.Client(u, batch_size=8)
        got = c.embed_all(texts)
        check(isinstance(got, list) and len(got) == len(texts) and
              all(g.dtype == np.float32 and g.shape == r.shape for g, r in zip(got, ref)),
              "(h) %s: %d (tokens, 384) float32 arrays (%d..%d tokens)" % (
                  name, len(got), min(r.shape[0] for r in ref), max(r.shape[0] for r in ref)))
        diff = max(float(np.abs(g - r).max()) for g, r in zip(got, ref))
        check(diff < 1e-5, "(h) %s equals Embedder.encode(output_value='token_embeddings'): "
              "max diff %.2g" % (name, diff))
        one = c.embed_all(texts[2])
        close(one, ref[2], "(h) %s: a string gives one 2-D array" % name)
        check(c.embed_all([]) == [], "(h) %s: an empty list gives []" % name)

        async def aio():
            async with floe.AsyncClient(u, batch_size=4) as a:
                return await a.embed_all(texts[:10])
        got = asyncio.run(aio())
        diff = max(float(np.abs(g - r).max()) for g, r in zip(got, ref[:10]))
        check(len(got) == 10 and diff < 1e-5, "(h) AsyncClient.embed_all over %s (3 requests "
              "at once): max diff %.2g" % (name, diff))


def main():
    floe = installed()
    texts = fidelity_texts(n_english=60, n_catalog=10, seed=21)
    model = floe.Embedder(MINILM, threads=1)
    ref = model.encode(texts)
    with floe_serve(MINILM, "--threads", "1") as (url, target):
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
        check_async_errors(floe, url, target)
        e = expect_floe_error(floe, lambda: floe.Client(url).embed(["x"], prompt_name="q1"),
                              "HTTP status", "q1")
        check(e.status == 400, "(c) HTTP status 400 kept (%d)" % e.status)
        expect_floe_error(floe, lambda: floe.Client("http://127.0.0.1:%d" % free_port(),
                                                    timeout=5).embed(["x"]),
                          "unreachable server", "cannot reach")

        check_arctic(floe, target, texts, ref, model)       # (f)
        check_overlap(floe, url, target, texts, ref)        # (g)
        check_http_wire(floe)                               # (g)
        check_embed_all(floe, url, target, texts[:12], model)  # (h)

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
