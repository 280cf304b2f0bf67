"""TEI's gRPC API (tei.v1) on a real `floe serve`, with a Python grpcio client generated
here, at test time, from proto/tei/tei.proto (TEI's own file) by grpcio-tools: every RPC,
streams included, on the tiny BERT embedding model (tests/data/models/bert-tiny-cls: vectors
equal to what /v1/embeddings gives, tokens as `tokenizers` makes them) and the tiny BERT
reranker (tests/data/models/rerank-bert-tiny: scores equal to HTTP's /rerank and to
transformers' BertForSequenceClassification), TEI's error codes for bad input, and a server
that still answers after all of it."""
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request

import grpc
import numpy as np

from realutil import SCRATCH, SOURCE, check, fail, floe_serve

start = time.time()
gen = os.path.join(SCRATCH, "gen")
os.makedirs(gen)
r = subprocess.run([sys.executable, "-m", "grpc_tools.protoc", "-I", os.path.join(SOURCE, "proto"),
                    "--python_out=" + gen, "--grpc_python_out=" + gen, "tei/tei.proto"],
                   capture_output=True, text=True)
if r.returncode != 0:
    fail("grpc_tools.protoc tei/tei.proto: " + r.stderr)
sys.path.insert(0, gen)
from tei import tei_pb2 as pb, tei_pb2_grpc as pbg  # noqa: E402

MODELS = os.path.join(SOURCE, "tests", "data", "models")
EMBED = os.path.join(MODELS, "bert-tiny-cls")
RERANK = os.path.join(MODELS, "rerank-bert-tiny")
KEY = "tei-grpc-key"
MD = (("authorization", "Bearer " + KEY),)
C = grpc.StatusCode
TEXTS = ["Hello, world!", "floe serves TEI's gRPC API.", "Ünïcödé, 中文 🙂",
         "a somewhat longer sentence about embeddings and rerankers " * 3]


def http(url, path, body=None):
    req = urllib.request.Request(url + path, data=None if body is None else json.dumps(body).encode(),
                                 headers={"Authorization": "Bearer " + KEY,
                                          "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def code_of(fn, *args, **kw):
    """The status code (and message) fn's call ends with; OK when it returns."""
    try:
        out = fn(*args, **kw)
        if hasattr(out, "__next__"):
            list(out)
        return C.OK, ""
    except grpc.RpcError as e:
        return e.code(), e.details()


def expect(code, what, fn, *args, **kw):
    got, msg = code_of(fn, *args, **kw)
    check(got == code, "%s: %s (got %s %r)" % (what, code.name, got.name, msg))
    return msg


def raw_unary(ch, method, payload):
    """A call with bytes that the generated stubs could not send (text not UTF-8)."""
    return ch.unary_unary(method)(payload, metadata=MD, timeout=30)


def health(ch, service):
    """grpc.health.v1 Check of tei.v1.<service>: 1 SERVING, 2 NOT_SERVING (raw bytes)."""
    name = ("tei.v1." + service).encode()
    out = ch.unary_unary("/grpc.health.v1.Health/Check")(b"\x0a" + bytes([len(name)]) + name,
                                                          timeout=10)
    return out[1] if len(out) == 2 and out[0] == 8 else -1


def embed_server(url, target):
    ch = grpc.insecure_channel(target)
    grpc.channel_ready_future(ch).result(timeout=30)
    info_stub, embed, tok = pbg.InfoStub(ch), pbg.EmbedStub(ch), pbg.TokenizeStub(ch)

    expect(C.UNAUTHENTICATED, "Info without the API key", info_stub.Info, pb.InfoRequest())
    info = info_stub.Info(pb.InfoRequest(), metadata=MD)
    check(info.model_type == pb.MODEL_TYPE_EMBEDDING and info.model_id == EMBED and
          info.max_input_length == 16 and info.max_client_batch_size == 8 and info.version and
          info.model_dtype == "float32",
          "Info: embedding model, its id, max_input_length, limits (%s)" % str(info).replace("\n", " "))

    # Embed: each text alone, as TEI's API has it, equal to /v1/embeddings.
    ref = http(url, "/v1/embeddings", {"input": TEXTS})
    ref = np.array([d["embedding"] for d in ref["data"]], dtype=np.float32)
    got = [embed.Embed(pb.EmbedRequest(inputs=t, truncate=True), metadata=MD) for t in TEXTS]
    vecs = np.array([list(g.embeddings) for g in got], dtype=np.float32)
    check(vecs.shape == ref.shape and np.abs(vecs - ref).max() < 1e-6,
          "Embed: %d vectors equal to /v1/embeddings (max diff %.2g)" %
          (len(vecs), np.abs(vecs - ref).max()))
    m = got[0].metadata
    check(m.compute_chars == len(TEXTS[0]) and m.compute_tokens == 6 and
          m.total_time_ns >= m.inference_time_ns > 0,
          "Embed metadata: chars, tokens, times (%s)" % str(m).replace("\n", " "))
    raw = http(url, "/v1/embeddings", {"input": TEXTS[1], "normalize": False, "dimensions": 8,
                                       "prompt_name": "query"})["data"][0]["embedding"]
    g = embed.Embed(pb.EmbedRequest(inputs=TEXTS[1], normalize=False, dimensions=8,
                                    prompt_name="query", truncate=True), metadata=MD)
    check(np.allclose(g.embeddings, raw, atol=1e-6) and abs(np.linalg.norm(raw) - 1) > 1e-3,
          "Embed normalize=false, dimensions=8, prompt_name=query: as /v1/embeddings")
    left = embed.Embed(pb.EmbedRequest(inputs=TEXTS[3], truncate=True,
                                       truncation_direction=pb.TRUNCATION_DIRECTION_LEFT),
                       metadata=MD)
    check(len(left.embeddings) == 32 and not np.allclose(left.embeddings, ref[3], atol=1e-4),
          "Embed truncation_direction LEFT keeps the other end of a long text")

    # EmbedStream: in order, the same vectors; a bad message ends the stream after the
    # answers before it, even while the client keeps its side open.
    out = list(embed.EmbedStream(iter([pb.EmbedRequest(inputs=t, truncate=True) for t in TEXTS * 5]),
                                 metadata=MD))
    sv = np.array([list(o.embeddings) for o in out], dtype=np.float32)
    check(len(out) == 20 and np.abs(sv - np.tile(ref, (5, 1))).max() < 1e-6,
          "EmbedStream: 20 answers in request order, equal to /v1/embeddings")
    held = threading.Event()

    def requests():
        yield pb.EmbedRequest(inputs=TEXTS[0], truncate=True)
        yield pb.EmbedRequest(inputs=TEXTS[1], truncate=True)
        yield pb.EmbedRequest(inputs="")
        held.wait(30)  # no half-close: the server must end the stream itself

    answers, err = [], None
    try:
        for o in embed.EmbedStream(requests(), metadata=MD, timeout=20):
            answers.append(o)
    except grpc.RpcError as e:
        err = e
    held.set()
    check(len(answers) == 2 and err is not None and err.code() == C.INVALID_ARGUMENT and
          "cannot be empty" in err.details(),
          "EmbedStream: 2 answers, then INVALID_ARGUMENT for the empty input (%s)" %
          (err and err.details()))

    # A client that cancels its stream midway: the server drops the rest, keeps serving.
    call = embed.EmbedStream(iter([pb.EmbedRequest(inputs=t, truncate=True) for t in TEXTS * 50]),
                             metadata=MD)
    first = next(call)
    call.cancel()
    check(len(first.embeddings) == 32 and call.code() == C.CANCELLED,
          "EmbedStream cancelled by the client after its first answer")

    # TEI's codes for bad input; the server keeps serving.
    expect(C.INVALID_ARGUMENT, "Embed of an empty input", embed.Embed,
           pb.EmbedRequest(inputs=""), metadata=MD)
    msg = expect(C.INVALID_ARGUMENT, "Embed over max_input_length with truncate false",
                 embed.Embed, pb.EmbedRequest(inputs=TEXTS[3]), metadata=MD)
    check("16" in msg, "... the message names the limit: " + msg)
    expect(C.INVALID_ARGUMENT, "Embed with dimensions 0", embed.Embed,
           pb.EmbedRequest(inputs="x", dimensions=0), metadata=MD)
    expect(C.INVALID_ARGUMENT, "Embed with dimensions over the model's", embed.Embed,
           pb.EmbedRequest(inputs="x", dimensions=33), metadata=MD)
    expect(C.INVALID_ARGUMENT, "Embed with an unknown prompt_name", embed.Embed,
           pb.EmbedRequest(inputs="x", prompt_name="nope"), metadata=MD)
    expect(C.INVALID_ARGUMENT, "Embed with truncation_direction 7", embed.Embed,
           pb.EmbedRequest(inputs="x", truncation_direction=7), metadata=MD)
    msg = expect(C.INVALID_ARGUMENT, "Embed of text that is not UTF-8", raw_unary, ch,
                 "/tei.v1.Embed/Embed", b"\x0a\x03a\xffb")
    check("inputs" in msg and "UTF-8" in msg, "... the message names the field: " + msg)
    expect(C.INVALID_ARGUMENT, "Embed of bytes that are no message", raw_unary, ch,
           "/tei.v1.Embed/Embed", b"\xff\xff\xff")
    expect(C.FAILED_PRECONDITION, "EmbedSparse (no SPLADE model)", embed.EmbedSparse,
           pb.EmbedSparseRequest(inputs="x"), metadata=MD)
    expect(C.FAILED_PRECONDITION, "EmbedSparseStream", embed.EmbedSparseStream,
           iter([pb.EmbedSparseRequest(inputs="x")]), metadata=MD)
    # EmbedAll: every token's vector, specials included. The fixture pools CLS: token 0's
    # vector, normalized, is Embed's. LEFT keeps the 16 tokens `tokenizers` keeps.
    from tokenizers import Tokenizer
    cut = Tokenizer.from_file(os.path.join(EMBED, "tokenizer.json"))
    cut.no_truncation()
    lengths = [len(e.ids) for e in cut.encode_batch(TEXTS)]
    a = embed.EmbedAll(pb.EmbedAllRequest(inputs=TEXTS[1], truncate=True), metadata=MD)
    rows = np.array([list(t.embeddings) for t in a.token_embeddings], dtype=np.float32)
    check(lengths[1] <= 16 and rows.shape == (lengths[1], 32) and
          a.metadata.compute_tokens == lengths[1] and
          np.abs(rows[0] / np.linalg.norm(rows[0]) - ref[1]).max() < 1e-5,
          "EmbedAll: %s token vectors, token 0's normalized = Embed's" % (rows.shape,))
    cut.enable_truncation(16, direction="left")
    left_ids = cut.encode(TEXTS[3]).ids
    la = embed.EmbedAll(pb.EmbedAllRequest(inputs=TEXTS[3], truncate=True,
                                           truncation_direction=pb.TRUNCATION_DIRECTION_LEFT),
                        metadata=MD)
    lrows = np.array([list(t.embeddings) for t in la.token_embeddings], dtype=np.float32)
    via_ids = np.array(http(url, "/embed_all", {"inputs": [left_ids]})[0], dtype=np.float32)
    check(lrows.shape == (16, 32) and via_ids.shape == lrows.shape and
          np.abs(lrows - via_ids).max() < 1e-6,
          "EmbedAll LEFT: the vectors of the 16 ids tokenizers keeps with direction left")
    st = list(embed.EmbedAllStream(iter([pb.EmbedAllRequest(inputs=t, truncate=True)
                                         for t in TEXTS]), metadata=MD))
    check([len(x.token_embeddings) for x in st] == [min(16, n) for n in lengths],
          "EmbedAllStream: every text's tokens, in order")
    expect(C.INVALID_ARGUMENT, "EmbedAll of an empty input", embed.EmbedAll,
           pb.EmbedAllRequest(inputs=""), metadata=MD)
    expect(C.INVALID_ARGUMENT, "EmbedAll over max_input_length with truncate false",
           embed.EmbedAll, pb.EmbedAllRequest(inputs=TEXTS[3]), metadata=MD)
    check([health(ch, s) for s in ("Info", "Tokenize", "Embed", "Predict", "Rerank")] ==
          [1, 1, 1, 2, 2], "grpc.health.v1: Info, Tokenize, Embed SERVING; Predict, Rerank "
          "NOT_SERVING on an embedding model (as TEI)")
    for name, fn, req in [
            ("Predict", pbg.PredictStub(ch).Predict, pb.PredictRequest(inputs="x")),
            ("Rerank", pbg.RerankStub(ch).Rerank, pb.RerankRequest(query="q", texts=["x"]))]:
        expect(C.FAILED_PRECONDITION, name + " on an embedding model", fn, req, metadata=MD)
    expect(C.FAILED_PRECONDITION, "RerankStream on an embedding model",
           pbg.RerankStub(ch).RerankStream, iter([pb.RerankStreamRequest(query="q", text="x")]),
           metadata=MD)

    # Tokenize and Decode against `tokenizers` on the model's tokenizer.json.
    from tokenizers import Tokenizer
    hf = Tokenizer.from_file(os.path.join(EMBED, "tokenizer.json"))
    enc = hf.encode(TEXTS[1])
    t = tok.Tokenize(pb.EncodeRequest(inputs=TEXTS[1], add_special_tokens=True), metadata=MD)
    check([x.id for x in t.tokens] == enc.ids and
          [x.special for x in t.tokens] == [bool(s) for s in enc.special_tokens_mask],
          "Tokenize: ids and special flags as tokenizers")
    plain = [x for x in t.tokens if not x.special]
    want = [(s, e) for (s, e), sp in zip(enc.offsets, enc.special_tokens_mask) if not sp]
    check([(x.start, x.stop) for x in plain] == want and
          all(x.text == TEXTS[1].encode()[x.start:x.stop].decode() for x in plain) and
          all(not x.HasField("start") for x in t.tokens if x.special),
          "Tokenize: offsets and text as TEI has them")
    t2 = tok.Tokenize(pb.EncodeRequest(inputs=TEXTS[1]), metadata=MD)
    check([x.id for x in t2.tokens] == hf.encode(TEXTS[1], add_special_tokens=False).ids,
          "Tokenize add_special_tokens=false: no [CLS]/[SEP]")
    ts = list(tok.TokenizeStream(iter([pb.EncodeRequest(inputs=x, add_special_tokens=True)
                                       for x in TEXTS]), metadata=MD))
    check([[x.id for x in r.tokens] for r in ts] == [e.ids for e in hf.encode_batch(TEXTS)],
          "TokenizeStream: every text's ids, in order")
    expect(C.INVALID_ARGUMENT, "Tokenize of an empty input", tok.Tokenize,
           pb.EncodeRequest(inputs=""), metadata=MD)
    expect(C.UNIMPLEMENTED, "Tokenize with a prompt_name", tok.Tokenize,
           pb.EncodeRequest(inputs="x", prompt_name="query"), metadata=MD)
    expect(C.INVALID_ARGUMENT, "Tokenize with an unknown prompt_name", tok.Tokenize,
           pb.EncodeRequest(inputs="x", prompt_name="nope"), metadata=MD)
    d = tok.Decode(pb.DecodeRequest(ids=enc.ids, skip_special_tokens=True), metadata=MD)
    check(d.text == hf.decode(enc.ids, skip_special_tokens=True),
          "Decode: %r as tokenizers" % d.text)
    d = tok.Decode(pb.DecodeRequest(ids=enc.ids), metadata=MD)
    check(d.text == hf.decode(enc.ids, skip_special_tokens=False),
          "Decode skip_special_tokens=false: %r as tokenizers" % d.text)
    ds = list(tok.DecodeStream(iter([pb.DecodeRequest(ids=e.ids, skip_special_tokens=True)
                                     for e in hf.encode_batch(TEXTS)]), metadata=MD))
    check([x.text for x in ds] == hf.decode_batch([e.ids for e in hf.encode_batch(TEXTS)]),
          "DecodeStream: every text, in order")
    expect(C.INVALID_ARGUMENT, "Decode of an id outside the vocabulary", tok.Decode,
           pb.DecodeRequest(ids=[101, 30522]), metadata=MD)
    expect(C.INVALID_ARGUMENT, "Decode of an id over int32", tok.Decode,
           pb.DecodeRequest(ids=[2**32 - 1]), metadata=MD)
    again = embed.Embed(pb.EmbedRequest(inputs=TEXTS[0], truncate=True), metadata=MD)
    check(np.abs(np.array(again.embeddings) - ref[0]).max() < 1e-6,
          "the server still answers after every bad request")
    ch.close()


def rerank_server(url, target):
    ch = grpc.insecure_channel(target)
    grpc.channel_ready_future(ch).result(timeout=30)
    rr, pr = pbg.RerankStub(ch), pbg.PredictStub(ch)
    info = pbg.InfoStub(ch).Info(pb.InfoRequest(), metadata=MD)
    check(info.model_type == pb.MODEL_TYPE_RERANKER, "Info: a reranker")
    query, docs = "what is floe?", TEXTS

    import torch
    from transformers import AutoTokenizer, BertForSequenceClassification
    hf_tok = AutoTokenizer.from_pretrained(RERANK)
    model = BertForSequenceClassification.from_pretrained(RERANK).eval()
    with torch.no_grad():
        logits = model(**hf_tok([query] * len(docs), docs, return_tensors="pt",
                                padding=True)).logits[:, 0].numpy()

    code, msg = code_of(rr.Rerank, pb.RerankRequest(query=query, texts=docs), metadata=MD)
    if code != C.OK:
        fail("Rerank: %s %s" % (code.name, msg))
    got = rr.Rerank(pb.RerankRequest(query=query, texts=docs, raw_scores=True, return_text=True),
                    metadata=MD)
    order = list(np.argsort(-logits, kind="stable"))
    scores = np.array([r.score for r in got.ranks])
    check([r.index for r in got.ranks] == order and
          np.abs(scores - logits[order]).max() < 1e-4 and
          [r.text for r in got.ranks] == [docs[i] for i in order],
          "Rerank raw_scores: ranks, scores as transformers (max diff %.2g), texts" %
          np.abs(scores - logits[order]).max())
    sig = rr.Rerank(pb.RerankRequest(query=query, texts=docs), metadata=MD)
    check(np.allclose([r.score for r in sig.ranks], 1 / (1 + np.exp(-logits[order])), atol=1e-5)
          and not any(r.HasField("text") for r in sig.ranks),
          "Rerank: sigmoid scores, no text unless return_text")
    h = http(url, "/rerank", {"query": query, "texts": docs, "raw_scores": True})
    check([x["index"] for x in h] == order and
          np.allclose([x["score"] for x in h], scores, atol=1e-6),
          "Rerank equals HTTP /rerank")
    st = rr.RerankStream(iter([pb.RerankStreamRequest(query=query, text=d, raw_scores=True,
                                                      return_text=True) for d in docs]),
                         metadata=MD)
    check([r.index for r in st.ranks] == order and
          np.allclose([r.score for r in st.ranks], scores, atol=1e-6) and
          st.metadata.compute_tokens > 0,
          "RerankStream: the same ranks and scores")

    p = pr.Predict(pb.PredictRequest(inputs=docs[0], raw_scores=True), metadata=MD)
    with torch.no_grad():
        single = model(**hf_tok(docs[0], return_tensors="pt")).logits[0, 0].item()
    check(len(p.predictions) == 1 and p.predictions[0].label == "LABEL_0" and
          abs(p.predictions[0].score - single) < 1e-4, "Predict: LABEL_0, the logit")
    pp = pr.PredictPair(pb.PredictPairRequest(inputs=[query, docs[1]]), metadata=MD)
    check(abs(pp.predictions[0].score - 1 / (1 + np.exp(-logits[1]))) < 1e-5,
          "PredictPair: the pair's sigmoid score")
    ps = list(pr.PredictStream(iter([pb.PredictRequest(inputs=d, raw_scores=True) for d in docs[:1]]),
                               metadata=MD))
    pps = list(pr.PredictPairStream(iter([pb.PredictPairRequest(inputs=[query, d], raw_scores=True)
                                          for d in docs]), metadata=MD))
    check(len(ps) == 1 and abs(ps[0].predictions[0].score - single) < 1e-4 and
          np.allclose([x.predictions[0].score for x in pps], logits, atol=1e-4),
          "PredictStream, PredictPairStream: in order, the same scores")

    expect(C.INVALID_ARGUMENT, "Rerank with no texts", rr.Rerank,
           pb.RerankRequest(query=query), metadata=MD)
    expect(C.INVALID_ARGUMENT, "Rerank over max_client_batch_size", rr.Rerank,
           pb.RerankRequest(query=query, texts=["x"] * 9), metadata=MD)
    expect(C.INVALID_ARGUMENT, "RerankStream of no messages", rr.RerankStream, iter([]),
           metadata=MD)
    expect(C.INVALID_ARGUMENT, "RerankStream over max_client_batch_size", rr.RerankStream,
           iter([pb.RerankStreamRequest(query=query, text="x")] * 9), metadata=MD)
    expect(C.INVALID_ARGUMENT, "PredictPair of three inputs", pr.PredictPair,
           pb.PredictPairRequest(inputs=["a", "b", "c"]), metadata=MD)
    expect(C.INVALID_ARGUMENT, "Predict of an empty input", pr.Predict,
           pb.PredictRequest(inputs=""), metadata=MD)
    expect(C.INVALID_ARGUMENT, "Rerank of a query that is not UTF-8", raw_unary, ch,
           "/tei.v1.Rerank/Rerank", b"\x0a\x02\xc3\x28\x12\x01x")
    expect(C.FAILED_PRECONDITION, "Embed on a reranker", pbg.EmbedStub(ch).Embed,
           pb.EmbedRequest(inputs="x"), metadata=MD)
    expect(C.FAILED_PRECONDITION, "EmbedAll on a reranker", pbg.EmbedStub(ch).EmbedAll,
           pb.EmbedAllRequest(inputs="x"), metadata=MD)
    check([health(ch, s) for s in ("Info", "Tokenize", "Embed", "Predict", "Rerank")] ==
          [1, 1, 2, 1, 1], "grpc.health.v1: Embed NOT_SERVING on a reranker, the rest SERVING")

    # LEFT truncation of a pair keeps the document's tail as the crate cuts it (transformers'
    # tokenizer with truncation_side left); in RerankStream each message's own truncate and
    # truncation_direction apply.
    long_doc = "floe " * 600 + "keeps the tail"
    hf_tok.truncation_side = "left"
    enc = hf_tok(query, long_doc, truncation="longest_first", max_length=512, return_tensors="pt")
    hf_tok.truncation_side = "right"
    with torch.no_grad():
        want = model(**enc).logits[0, 0].item()
    LEFT = pb.TRUNCATION_DIRECTION_LEFT
    lr = rr.Rerank(pb.RerankRequest(query=query, texts=[long_doc], truncate=True, raw_scores=True,
                                    truncation_direction=LEFT), metadata=MD)
    st = rr.RerankStream(iter([
        pb.RerankStreamRequest(query=query, text=docs[0], truncate=True, raw_scores=True),
        pb.RerankStreamRequest(query=query, text=long_doc, truncate=True,
                               truncation_direction=LEFT)]), metadata=MD)
    by_index = {r.index: r.score for r in st.ranks}
    check(abs(lr.ranks[0].score - want) < 1e-4 and abs(by_index[1] - want) < 1e-4 and
          abs(by_index[0] - logits[0]) < 1e-4,
          "Rerank LEFT = transformers on the left-cut pair (%.6f vs %.6f); RerankStream: "
          "message 2's own LEFT" % (lr.ranks[0].score, want))
    expect(C.INVALID_ARGUMENT, "RerankStream: a later message's truncate=false is its own",
           rr.RerankStream, iter([
               pb.RerankStreamRequest(query=query, text=docs[0], truncate=True),
               pb.RerankStreamRequest(query=query, text=long_doc, truncate=False)]), metadata=MD)
    check(len(rr.Rerank(pb.RerankRequest(query=query, texts=docs), metadata=MD).ranks) == 4,
          "the reranker still answers")
    ch.close()


common = ["--api-key", KEY, "--max-client-batch-size", "8"]
with floe_serve(EMBED, "--max-input-tokens", "16", *common) as (url, target):
    embed_server(url, target)
with floe_serve(RERANK, *common) as (url, target):
    rerank_server(url, target)
print("tei_grpc: all checks passed in %.1f s" % (time.time() - start))
