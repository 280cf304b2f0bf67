"""TEI's clients, unchanged, against a real `floe serve` on all-MiniLM-L6-v2:
huggingface_hub's InferenceClient (feature_extraction on the server's root URL and
on /embed, sentence_similarity on /similarity), LangChain's
HuggingFaceEndpointEmbeddings and LlamaIndex's TextEmbeddingsInference get floe's own
vectors (`floe embed` on the same texts); InferenceClient.text_classification on a
3-label classifier (random BertForSequenceClassification saved here) gets
transformers' softmax to 1e-4. /embed_all's token vectors equal transformers'
last_hidden_state and average to the mean-pooled vector; truncation_direction Left keeps
the ids `tokenizers` keeps."""
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

    # /embed_all: every token's last hidden state, as transformers' BertModel gives it;
    # their mean is the mean-pooled vector before normalizing (/embed normalize=false).
    def post(path, body):
        req = urllib.request.Request(url + path, json.dumps(body).encode(),
                                     {"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as r:
            return json.loads(r.read())

    import torch  # noqa: E402
    from transformers import AutoModel, AutoTokenizer  # noqa: E402
    hf_tok, bert = AutoTokenizer.from_pretrained(MINILM), AutoModel.from_pretrained(MINILM).eval()
    per_token = post("/embed_all", {"inputs": DOCS[:2]})
    for i, text in enumerate(DOCS[:2]):
        with torch.no_grad():
            hidden = bert(**hf_tok(text, return_tensors="pt")).last_hidden_state[0].numpy()
        got = np.array(per_token[i], dtype=np.float32)
        pooled = np.array(post("/embed", {"inputs": text, "normalize": False})[0])
        check(got.shape == hidden.shape and np.abs(got - hidden).max() < 1e-4 and
              np.abs(got.mean(0) - pooled).max() < 1e-5,
              "/embed_all %r: %s token vectors = transformers' last_hidden_state (max diff "
              "%.1e); their mean = /embed normalize=false (max diff %.1e)" %
              (text, got.shape, np.abs(got - hidden).max(), np.abs(got.mean(0) - pooled).max()))
    # truncation_direction Left keeps the ids `tokenizers` keeps with direction left.
    from tokenizers import Tokenizer  # noqa: E402
    cut = Tokenizer.from_file(os.path.join(MINILM, "tokenizer.json"))
    cut.enable_truncation(256, direction="left")
    long_text = " ".join(DOCS) * 30
    left_ids = cut.encode(long_text).ids
    by_text = post("/embed", {"inputs": long_text, "truncation_direction": "Left"})[0]
    by_ids = post("/embed", {"inputs": [left_ids]})[0]
    rows = post("/embed_all", {"inputs": long_text, "truncation_direction": "Left"})[0]
    check(len(left_ids) == 256 and len(rows) == 256 and float(np.dot(by_text, by_ids)) > 0.999999,
          "truncation_direction Left: the 256 ids tokenizers keeps (cosine %.7f)" %
          float(np.dot(by_text, by_ids)))

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
