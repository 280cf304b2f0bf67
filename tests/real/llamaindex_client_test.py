"""LlamaIndex's `llama_index.embeddings.openai.OpenAIEmbedding` (pinned in the test
environment) against a real `floe serve` on all-MiniLM-L6-v2: get_text_embedding,
get_text_embedding_batch (in several requests), get_query_embedding and their async
forms get floe's own vectors (`floe embed` on the same texts).

OpenAIEmbedding checks `model` against OpenAI's model list; its supported way to name
another model is the `model_name` keyword, which it sends as the request's model for both
queries and texts (floe refuses any other name, so a wrong one would fail here). It
replaces newlines with spaces before sending; the reference does too (the same tokens
for this model's tokenizer, to which both are whitespace)."""
import asyncio
import time

import numpy as np
from llama_index.embeddings.openai import OpenAIEmbedding

from clientutil import MODEL, same
from realutil import MINILM, check, floe_embed, floe_serve

TEXTS = [
    "Paris is the capital of France.",
    "The mitochondria is the powerhouse of the cell.",
    "Línea con acentos: añoranza, corazón, pingüino.",
    "first line\nsecond line",
    "42",
]
QUERY = "What is the capital of France?"
start = time.time()
sent = [t.replace("\n", " ") for t in TEXTS]
ref = floe_embed(MINILM, [{"text": t} for t in sent + [QUERY]])


with floe_serve(MINILM, "--served-model-name", MODEL) as (url, _):
    emb = OpenAIEmbedding(model_name=MODEL, api_base=url + "/v1", api_key="x",
                          embed_batch_size=2, max_retries=0)
    check(emb.model_name == MODEL, "model_name kept: %s" % emb.model_name)
    same([emb.get_text_embedding(TEXTS[0])], ref[:1], "get_text_embedding")
    same(emb.get_text_embedding_batch(TEXTS), ref[:-1],
         "get_text_embedding_batch (embed_batch_size=2: 3 requests)")
    same([emb.get_query_embedding(QUERY)], ref[-1:], "get_query_embedding")

    async def both():  # one event loop: the async client keeps its connections
        return (await emb.aget_text_embedding_batch(TEXTS),
                await emb.aget_query_embedding(QUERY))
    docs, query = asyncio.run(both())
    same(docs, ref[:-1], "aget_text_embedding_batch")
    same([query], ref[-1:], "aget_query_embedding")
    q = np.asarray(emb.get_query_embedding(QUERY))
    docs = np.asarray(emb.get_text_embedding_batch(TEXTS))
    check(int(np.argmax(docs @ q)) == 0, "the query's nearest text is about Paris")

print("llamaindex checks done in %.1f s" % (time.time() - start))
