"""LangChain's `langchain_openai.OpenAIEmbeddings` (pinned in the test environment)
against a real `floe serve` on all-MiniLM-L6-v2: embed_documents (in several requests),
embed_query, aembed_documents and `dimensions` get floe's own vectors (`floe embed` on the
same texts). check_embedding_ctx_length=False: LangChain then sends the texts as they are
instead of tiktoken ids (OpenAI's tokenizer, meaningless to this model)."""
import asyncio
import time

import numpy as np
from langchain_openai import OpenAIEmbeddings

from clientutil import MODEL, same
from realutil import MINILM, check, floe_embed, floe_serve

DOCS = [
    "The cat sits outside.",
    "A man is playing guitar.",
    "Das Wetter ist heute schön, aber kalt.",
    "SELECT name FROM users WHERE id = 42;\nDROP TABLE users;",
    "ok",
]
QUERY = "Which animal is outside?"
start = time.time()
ref = floe_embed(MINILM, [{"text": t} for t in DOCS + [QUERY]])
ref128 = floe_embed(MINILM, [{"text": t, "dimensions": 128} for t in DOCS])


with floe_serve(MINILM, "--served-model-name", MODEL) as (url, _):
    kw = dict(model=MODEL, base_url=url + "/v1", api_key="x", max_retries=0,
              check_embedding_ctx_length=False)
    emb = OpenAIEmbeddings(chunk_size=2, **kw)
    same(emb.embed_documents(DOCS), ref[:-1], "embed_documents (chunk_size=2: 3 requests)")
    same([emb.embed_query(QUERY)], ref[-1:], "embed_query")

    async def both():  # one event loop: the async client keeps its connections
        return await emb.aembed_documents(DOCS), await emb.aembed_query(QUERY)
    docs, query = asyncio.run(both())
    same(docs, ref[:-1], "aembed_documents")
    same([query], ref[-1:], "aembed_query")
    same(OpenAIEmbeddings(dimensions=128, **kw).embed_documents(DOCS), ref128,
         "dimensions=128")
    got = np.asarray(emb.embed_documents(DOCS + [QUERY]), np.float32)
    sims = got[:-1] @ got[-1]
    check(int(np.argmax(sims)) == 0, "the query's nearest document is the cat (%s)" %
          " ".join("%.3f" % x for x in sims))

print("langchain checks done in %.1f s" % (time.time() - start))
