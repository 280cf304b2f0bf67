"""Ray Data: bulk embedding with one floe engine per actor.

    import ray, floe.ray
    ds = ray.data.read_parquet("s3://bucket/texts/")
    ds = floe.ray.embed_dataset(ds, "/models/all-MiniLM-L6-v2", column="text",
                                batch_size=256, num_actors=8)
    ds.write_parquet("s3://bucket/vectors/")

Each actor opens the model once (FloeEmbedder, a callable class for
`Dataset.map_batches`) and embeds its batches in-process; `model` may also be a floe
server URL, so the actors are thin clients of a floe fleet. Needs ray[data] (imported
here, not by `import floe`).

Fault tolerance: Ray Data's actor pools restart an actor whose process dies and retry
the block it was embedding (its defaults, max_restarts=-1 and max_task_retries=-1, in
the pinned ray 2.60; embed_dataset passes other values through when given). Each
block's output is handed on once (Ray numbers each task's output blocks, and a retried
task's blocks that had already come back are not handed on again), so every row comes
back exactly once: tests/real/python_ray_test.py SIGKILLs one of two actors midway
and checks every id once, in order, with bit-equal vectors.
"""
from __future__ import annotations

from typing import Any, Dict, Optional

import numpy as np
import ray.data

from ._source import Source, is_url


class FloeEmbedder:
    """A callable class for `ray.data.Dataset.map_batches` (batch_format="numpy"):
    opens `model` once per actor (a folder: floe.Embedder with engine_kwargs; a URL:
    floe.Client) and adds `output_column` (float32, one row per input row, in order)
    to each batch, from the strings of `column`."""

    def __init__(self, model: str, column: str = "text", output_column: str = "embedding",
                 prompt_name: Optional[str] = None, normalize: Optional[bool] = None,
                 dimensions: Optional[int] = None, batch_size: int = 32,
                 api_key: Optional[str] = None, **engine_kwargs):
        self.source = Source(model, normalize=normalize, dimensions=dimensions,
                             batch_size=batch_size, api_key=api_key, **engine_kwargs)
        self.column = column
        self.output_column = output_column
        self.prompt_name = prompt_name

    def __call__(self, batch: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        if self.column not in batch:
            raise KeyError(f"floe: the batch has no column {self.column!r} "
                           f"(columns: {sorted(batch)})")
        texts = [t if isinstance(t, str) else str(t) for t in batch[self.column].tolist()]
        out = dict(batch)
        out[self.output_column] = self.source.encode(texts, self.prompt_name)
        return out


def embed_dataset(ds: "ray.data.Dataset", model: str, column: str = "text",
                  batch_size: int = 256, num_actors: int = 1, num_cpus: float = 1,
                  output_column: str = "embedding", prompt_name: Optional[str] = None,
                  normalize: Optional[bool] = None, dimensions: Optional[int] = None,
                  threads: Optional[int] = None, max_restarts: Optional[int] = None,
                  max_task_retries: Optional[int] = None,
                  **engine_kwargs: Any) -> "ray.data.Dataset":
    """`ds` with `output_column` added: the embedding of each row's `column`.

    model: a model folder every node can read, or a floe server URL. batch_size: rows
    per map_batches call (and per engine call); num_actors: actors (engines) at once;
    num_cpus: CPUs each actor reserves, and the engine threads it uses (threads
    overrides). max_restarts / max_task_retries: Ray's actor options; None keeps Ray
    Data's (-1 and -1 in ray 2.60: a dead actor is restarted and its block retried
    without limit, so a lost worker costs time, not rows); a value is passed to
    map_batches (which Ray 2.60 warns is deprecated). Lazy, like every ray.data
    transform: rows are embedded as the dataset is consumed."""
    if not is_url(model):
        engine_kwargs["threads"] = int(threads if threads is not None else max(1, num_cpus))
    kwargs = dict(model=model, column=column, output_column=output_column,
                  prompt_name=prompt_name, normalize=normalize, dimensions=dimensions,
                  batch_size=batch_size, **engine_kwargs)
    remote = {k: int(v) for k, v in (("max_restarts", max_restarts),
                                      ("max_task_retries", max_task_retries))
              if v is not None}
    return ds.map_batches(FloeEmbedder, fn_constructor_kwargs=kwargs, batch_size=batch_size,
                          batch_format="numpy", num_cpus=num_cpus,
                          compute=ray.data.ActorPoolStrategy(size=int(num_actors)),
                          **remote)
