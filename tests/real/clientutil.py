"""Shared by the client tests (tests/real/*_client_test.py): the served model's name and
the check that a client's vectors are floe's own."""
import numpy as np

from realutil import check, cosine_rows

MODEL = "all-MiniLM-L6-v2"  # --served-model-name of their `floe serve`


def same(got, want, what, min_cos=0.99999):
    """Checks `got` (rows a client returned) against `want` (floe embed's); returns got
    as float32."""
    got = np.asarray(got, dtype=np.float32)
    check(got.shape == want.shape, "%s: shape %s" % (what, got.shape))
    cos = cosine_rows(got, want)
    check(cos.min() >= min_cos, "%s: min cosine to floe embed %.7f" % (what, cos.min()))
    return got
