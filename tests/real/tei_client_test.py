"""TEI's clients, unchanged, against a real `floe serve` on all-MiniLM-L6-v2:
huggingface_hub's InferenceClient (feature_extraction on the server's root URL and
on /embed, sentence_similarity on /similarity), LangChain's
HuggingFaceEndpointEmbeddings and LlamaIndex's TextEmbeddingsInference get floe's own
vectors (`floe embed` on the same texts); InferenceClient.text_classification on a
3-label classifier (random BertForSequenceClassification saved here) gets
transformers' softmax to 1e-4."""
import json
import os
import shutil
import time
import urllib.request

import numpy as np

from clientutil import MODEL, same
from realutil import MINILM, SCRATCH, SOURCE, check, floe_embed, floe_serve

DOCS = ["The cat sits outside.", "A man is playing guitar.",
        "Das Wetter ist heute schön, aber kalt.", "ok"]
QUERY = "Which animal is outside?"
start = time.time()
ref = floe_embed(MINILM, [{"text": t} for t in DOCS + [QUERY]])

# run.sh sets HF_HUB_OFFLINE=1, which makes huggingface_hub refuse every URL,
# loopback included; these clients only talk to the floe serve started here.
os.environ["HF_HUB_OFFLINE"] = "0"
from huggingface_hub import InferenceClient  # noqa: E402

with floe_serve(MINILM, "--served-model-name", MODEL) as (url, _):
    root = InferenceClient(model=url)
    same(root.feature_extraction(DOCS[0]), ref[:1], "InferenceClient.feature_extraction on /")
    emb = InferenceClient(model=url + "/embed")
    same(emb.feature_extraction(DOCS), ref[:-1], "InferenceClient.feature_extraction on /embed")
    raw = emb.feature_extraction(DOCS[0], normalize=False)
    check(abs(float(np.linalg.norm(raw)) - 1.0) > 1e-3,
          "normalize=False (sent in 'parameters') is honoured: norm %.4f" % np.linalg.norm(raw))
    sims = InferenceClient(model=url + "/similarity").sentence_similarity(QUERY, DOCS)
    want = ref[:-1] @ ref[-1]
    check(np.allclose(sims, want, atol=1e-5),
          "sentence_similarity = cosines of floe embed's vectors (%s)" %
          " ".join("%.4f" % s for s in sims))

    from langchain_huggingface import HuggingFaceEndpointEmbeddings
    # langchain-huggingface 1.2.3 refuses a URL as `model` ("must be a HuggingFace repo
    # ID"): its own embed_documents/embed_query run on an InferenceClient aimed at floe.
    lc = HuggingFaceEndpointEmbeddings(model=MODEL)
    lc.client = InferenceClient(model=url)
    same(lc.embed_documents(DOCS), ref[:-1], "LangChain HuggingFaceEndpointEmbeddings.embed_documents")
    same([lc.embed_query(QUERY)], ref[-1:], "LangChain HuggingFaceEndpointEmbeddings.embed_query")

    from llama_index.embeddings.text_embeddings_inference import TextEmbeddingsInference
    li = TextEmbeddingsInference(model_name=MODEL, base_url=url, embed_batch_size=2)
    same(li.get_text_embedding_batch(DOCS), ref[:-1],
         "LlamaIndex TextEmbeddingsInference.get_text_embedding_batch (2 per request)")
    same([li.get_query_embedding(QUERY)], ref[-1:], "LlamaIndex get_query_embedding")

# A 3-label classifier: transformers' random weights with the fixture's tokenizer.
import torch  # noqa: E402
from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification  # noqa: E402

fixture = os.path.join(SOURCE, "tests/data/models/rerank-bert-tiny")
folder = os.path.join(SCRATCH, "classifier-bert-tiny-3")
torch.manual_seed(7)
cfg = BertConfig.from_pretrained(fixture,
                                 id2label={0: "negative", 1: "neutral", 2: "positive"},
                                 label2id={"negative": 0, "neutral": 1, "positive": 2})
model = BertForSequenceClassification(cfg).eval()
model.save_pretrained(folder)
for f in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
    if os.path.exists(os.path.join(fixture, f)):
        shutil.copy(os.path.join(fixture, f), folder)
tok = AutoTokenizer.from_pretrained(folder)
TEXTS = ["I love this film", "it was fine, I guess"]
with torch.no_grad():
    probs = torch.softmax(model(**tok(TEXTS, padding=True, return_tensors="pt")).logits, -1).numpy()

with floe_serve(folder) as (url, _):
    client = InferenceClient(model=url)
    for i, text in enumerate(TEXTS):
        out = client.text_classification(text)
        out = out if isinstance(out, list) else [out]
        got = {o.label: o.score for o in out}
        best = int(np.argmax(probs[i]))
        check(out[0].label == cfg.id2label[best], "text_classification: top label %s" % out[0].label)
        for k, label in cfg.id2label.items():
            if label in got:
                check(abs(got[label] - probs[i][k]) < 1e-4,
                      "text_classification %r %s: %.6f vs transformers %.6f" %
                      (text, label, got[label], probs[i][k]))

    # Every label of a batch, through TEI's /predict.
    req = urllib.request.Request(url + "/predict", json.dumps({"inputs": [[t] for t in TEXTS]}).encode(),
                                 {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        batch = json.loads(r.read())
    for i, preds in enumerate(batch):
        got = np.array([{p["label"]: p["score"] for p in preds}[cfg.id2label[k]] for k in range(3)])
        check(np.abs(got - probs[i]).max() < 1e-4 and preds[0]["score"] >= preds[-1]["score"],
              "/predict batch %d: softmax = transformers' (max diff %.1e), sorted" %
              (i, np.abs(got - probs[i]).max()))

print("TEI client checks done in %.1f s" % (time.time() - start))
