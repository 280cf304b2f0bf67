"""The real checkpoint loads and embeds as sentence-transformers does (a quick check;
real fidelity is in embedding_fidelity_test.py)."""
from sentence_transformers import SentenceTransformer

from realutil import MINILM, check, cosine_rows, floe_embed

texts = ["Hello, world!", "A man is eating food.", "東京は日本の首都です 🙂 café"]
ref = SentenceTransformer(MINILM, device="cpu").encode(texts)
got = floe_embed(MINILM, [{"text": t} for t in texts])
cos = cosine_rows(ref, got)
check(cos.min() >= 0.99999, "floe float32 vs sentence-transformers: min cosine %.7f" % cos.min())
