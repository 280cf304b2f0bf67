"""floe.Reranker (issue 18): sentence-transformers' CrossEncoder predict / rank on floe's
engine (Embedder::TokenizePair + Classify), against transformers'
BertForSequenceClassification on tests/data/models/rerank-bert-tiny (num_labels 1):
  (a) predict of ~40 (query, document) pairs: sigmoid(logits) within 1e-4 of
      transformers' (the tokenizer's own pair encoding), batch sizes 1 and 16 alike;
      activation_fn=None gives the raw logits; one pair gives a scalar;
  (b) rank(query, documents, top_k, return_documents): transformers' order, best first;
      floe.Client.rerank against a `floe serve` of the folder (HTTP /rerank, gRPC
      floe.v1 Rerank) gives the same ranks and scores, and the logits with raw_scores;
  (c) an embedding folder is refused with a clear ValueError; a non-pair is TypeError.
"""
import os

import numpy as np

from python_wheel import installed
from realutil import SOURCE, check, fail, floe_serve

MODELS = os.path.join(SOURCE, "tests", "data", "models")
RERANK = os.path.join(MODELS, "rerank-bert-tiny")


def reference_logits(pairs):
    import torch
    from transformers import AutoTokenizer, BertForSequenceClassification
    tok = AutoTokenizer.from_pretrained(RERANK)
    model = BertForSequenceClassification.from_pretrained(RERANK, dtype=torch.float32).eval()
    enc = tok([a for a, _ in pairs], [b for _, b in pairs], padding=True, truncation=True,
              return_tensors="pt")
    with torch.no_grad():
        return model(**enc).logits.numpy()[:, 0].astype(np.float64)


def main():
    floe = installed()
    queries = ["what is the capital of france", "how do rivers form",
               "best way to learn the violin", "why is the sky blue"]
    docs = ["Paris is the capital and largest city of France.",
            "Rivers form when water from rain and melting snow flows downhill.",
            "Practice scales daily and find a good teacher to learn the violin.",
            "Rayleigh scattering of sunlight makes the sky look blue.",
            "The stock market closed higher on Tuesday.",
            "A recipe for bread: flour, water, salt and yeast.",
            "Berlin is the capital of Germany; Madrid that of Spain.",
            "Glaciers carve valleys over thousands of years, and " * 6,
            "Violins have four strings tuned in fifths.",
            "The sky at sunset turns red and orange."]
    pairs = [(q, d) for q in queries for d in docs]
    ref = reference_logits(pairs)
    sig = 1 / (1 + np.exp(-ref))

    rr = floe.Reranker(RERANK)
    print(repr(rr), flush=True)
    check(rr.num_labels == 1, "(a) num_labels 1")
    got = rr.predict(pairs, batch_size=16)
    diff = float(np.abs(got - sig).max())
    check(got.shape == (len(pairs),) and diff < 1e-4,
          "(a) predict of %d pairs: sigmoid scores within 1e-4 of transformers' (max diff "
          "%.2g, scores %.4f..%.4f)" % (len(pairs), diff, sig.min(), sig.max()))
    check(np.ptp(sig) > 1e-3, "(a) the scores differ between pairs (spread %.4f)" % np.ptp(sig))
    one = rr.predict(pairs[:7], batch_size=1)
    check(float(np.abs(one - got[:7]).max()) < 1e-6, "(a) batch_size 1 gives the same")
    raw = rr.predict(pairs, activation_fn=None)
    check(float(np.abs(raw - ref).max()) < 1e-4, "(a) activation_fn=None: the raw logits "
          "(max diff %.2g)" % float(np.abs(raw - ref).max()))
    s = rr.predict(pairs[3])
    check(np.ndim(s) == 0 and abs(float(s) - sig[3]) < 1e-4, "(a) one pair gives a scalar")

    # (b) rank.
    q = queries[1]
    ranked = rr.rank(q, docs, top_k=4, return_documents=True)
    want = np.argsort(-sig[len(docs):2 * len(docs)], kind="stable")[:4]
    check([r["corpus_id"] for r in ranked] == want.tolist() and
          all(r["text"] == docs[r["corpus_id"]] for r in ranked) and
          all(ranked[i]["score"] >= ranked[i + 1]["score"] for i in range(3)),
          "(b) rank top_k=4 in transformers' order: %s" % [r["corpus_id"] for r in ranked])
    check(len(rr.rerank(q, docs)) == len(docs), "(b) rerank (no top_k) gives every document")

    # (b) the same through a floe server of the folder: floe.Client.rerank.
    with floe_serve(RERANK) as (url, target):
        for c in (floe.Client(url), floe.Client("grpc://" + target)):
            remote = c.rerank(q, docs, top_k=4, return_documents=True)
            check([r["corpus_id"] for r in remote] == want.tolist() and
                  all(abs(a["score"] - b["score"]) < 1e-4 and a["text"] == b["text"]
                      for a, b in zip(remote, ranked)),
                  "(b) %s Client.rerank equals Reranker.rank" % c.transport)
            raw_remote = c.rerank(q, docs, raw_scores=True)
            check(all(abs(r["score"] - ref[len(docs) + r["corpus_id"]]) < 1e-4
                      for r in raw_remote) and len(raw_remote) == len(docs),
                  "(b) %s Client.rerank(raw_scores=True): transformers' logits" % c.transport)
            c.close()

    # (c) errors.
    try:
        floe.Reranker(os.path.join(MODELS, "bert-tiny-cls"))
        fail("(c) an embedding folder was accepted as a reranker")
    except ValueError as e:
        check("not a classifier" in str(e), "(c) an embedding folder: %s" % str(e)[:120])
    try:
        rr.predict([("only one",)])
        fail("(c) a 1-tuple was accepted")
    except TypeError as e:
        check("pair" in str(e), "(c) a non-pair: TypeError %s" % e)
    print("python_reranker: all checks passed", flush=True)


if __name__ == "__main__":
    main()
