"""Rerankers against transformers: `floe serve` on the tiny cross-encoder fixtures
(tests/data/models/rerank-bert-tiny, rerank-xlmr-tiny) answers TEI's /rerank (raw
logits and sigmoid) and Cohere's rerank, through Cohere's Python SDK (Client on
/v1/rerank, ClientV2 on /v2/rerank, base_url pointed at floe), with
transformers' AutoModelForSequenceClassification scores to 1e-4 and its order."""
import json
import os
import time
import urllib.request

import numpy as np
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from realutil import FLOE, SOURCE, check, floe_serve

QUERY = "what do cats eat"
DOCS = ["Cats eat meat and fish.", "The stock market fell today.",
        "A kitten drinks milk from a bowl.", "Paris is the capital of France.",
        "Dogs and cats are pets."]
start = time.time()


def post(url, body):
    req = urllib.request.Request(url, json.dumps(body).encode(),
                                 {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read())


for name in ("rerank-bert-tiny", "rerank-xlmr-tiny"):
    folder = os.path.join(SOURCE, "tests/data/models", name)
    tok = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    with torch.no_grad():
        enc = tok([QUERY] * len(DOCS), DOCS, padding=True, truncation=True, return_tensors="pt")
        logits = model(**enc).logits[:, 0].double().numpy()
    probs = 1 / (1 + np.exp(-logits))
    order = list(np.argsort(-probs, kind="stable"))

    with floe_serve(folder, "--served-model-name", name) as (url, _):
        raw = post(url + "/rerank", {"query": QUERY, "texts": DOCS, "raw_scores": True})
        got = np.array([r["score"] for r in sorted(raw, key=lambda r: r["index"])])
        check(np.abs(got - logits).max() < 1e-4,
              "%s /rerank raw_scores = transformers' logits (max diff %.2e)" %
              (name, np.abs(got - logits).max()))
        ranks = post(url + "/rerank", {"query": QUERY, "texts": DOCS, "return_text": True})
        check([r["index"] for r in ranks] == order, "%s /rerank order %s" % (name, order))
        check(all(abs(r["score"] - probs[r["index"]]) < 1e-4 and r["text"] == DOCS[r["index"]]
                  for r in ranks), "%s /rerank sigmoid scores and texts" % name)

        import cohere
        v1 = cohere.Client(api_key="x", base_url=url)
        res = v1.rerank(model=name, query=QUERY, documents=DOCS, top_n=3, return_documents=True)
        check([r.index for r in res.results] == order[:3], "%s cohere Client.rerank top 3" % name)
        check(all(abs(r.relevance_score - probs[r.index]) < 1e-4 for r in res.results),
              "%s cohere Client.rerank relevance_score = transformers' sigmoid" % name)
        check(res.results[0].document.text == DOCS[order[0]], "%s return_documents" % name)
        v2 = cohere.ClientV2(api_key="x", base_url=url)
        res = v2.rerank(model=name, query=QUERY, documents=DOCS)
        check([r.index for r in res.results] == order, "%s cohere ClientV2.rerank order" % name)
        check(all(abs(r.relevance_score - probs[r.index]) < 1e-4 for r in res.results),
              "%s cohere ClientV2.rerank scores" % name)

print("rerank checks done in %.1f s" % (time.time() - start))
