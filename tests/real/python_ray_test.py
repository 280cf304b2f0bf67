"""floe.ray.embed_dataset (issue 18): bulk embedding on Ray Data with one floe engine
per actor, on a local Ray (ray.init(num_cpus=2), two actors), with
tests/data/models/bert-tiny-cls (a small BERT: Ray's startup dominates this test):
  (a) 240 rows with an id column, in 12 blocks, batch_size 32: every row comes back
      once, its other columns kept, with an "embedding" equal to the in-process
      floe.Embedder.encode of its text (max diff < 1e-5), in the dataset's order
      (with Ray Data's preserve_order);
  (b) the work was spread over both actors (distinct process ids);
  (c) column, output_column, dimensions and normalize are honoured.
"""
import os
import time

import numpy as np

from python_wheel import installed
from realutil import SOURCE, check

MODEL = os.path.join(SOURCE, "tests", "data", "models", "bert-tiny-cls")


def main():
    floe = installed()
    import ray
    import floe.ray as floe_ray

    words = ("river stone cloud engine paper lamp garden violin orbit silver harbor "
             "winter market candle bridge forest").split()
    rng = np.random.default_rng(18)
    texts = [" ".join(rng.choice(words, size=int(rng.integers(1, 40)))) + " #%d" % i
             for i in range(240)]
    ref = floe.Embedder(MODEL, threads=1).encode(texts)

    site = os.path.dirname(os.path.dirname(floe.__file__))
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": site}})
    try:
        # Ray Data may reorder blocks unless asked not to (its own setting).
        ray.data.DataContext.get_current().execution_options.preserve_order = True
        ds = ray.data.from_items([{"id": i, "text": t} for i, t in enumerate(texts)],
                                 override_num_blocks=12)
        out = floe_ray.embed_dataset(ds, MODEL, column="text", batch_size=32, num_actors=2)
        rows = out.take_all()
        check(len(rows) == len(texts), "(a) %d rows in, %d out" % (len(texts), len(rows)))
        ids = [r["id"] for r in rows]
        check(sorted(ids) == list(range(len(texts))), "(a) every row once")
        check(ids == list(range(len(texts))), "(a) the dataset's order kept")
        check(all(r["text"] == texts[r["id"]] for r in rows), "(a) text column kept")
        got = np.stack([np.asarray(r["embedding"], dtype=np.float32) for r in rows])
        diff = float(np.abs(got - ref[ids]).max())
        check(got.shape == ref.shape and diff < 1e-5,
              "(a) embeddings %s equal the in-process encode (max diff %.2g)"
              % (got.shape, diff))

        # (b) two actors: each tags its rows with its process id (a short sleep per
        # batch so that one actor cannot take every block before the other starts).
        ray.data.DataContext.get_current().execution_options.preserve_order = False

        class Tagged(floe_ray.FloeEmbedder):
            def __call__(self, batch):
                time.sleep(0.1)
                out = super().__call__(batch)
                out["pid"] = np.full(len(batch["text"]), os.getpid())
                return out

        tagged = ds.map_batches(Tagged, fn_constructor_kwargs={"model": MODEL, "threads": 1},
                                batch_size=16, batch_format="numpy", num_cpus=1,
                                compute=ray.data.ActorPoolStrategy(size=2)).take_all()
        pids = {r["pid"] for r in tagged}
        check(len(pids) == 2 and len(tagged) == len(texts),
              "(b) %d rows embedded by %d actors (pids %s)" % (len(tagged), len(pids),
                                                            sorted(pids)))

        # (c) other column names, dimensions.
        ds2 = ray.data.from_items([{"body": t} for t in texts[:40]])
        got2 = floe_ray.embed_dataset(ds2, MODEL, column="body", output_column="vec",
                                      dimensions=16, normalize=True, batch_size=16,
                                      num_actors=1).take_all()
        want2 = floe.Embedder(MODEL, threads=1).encode(texts[:40], truncate_dim=16,
                                                       normalize_embeddings=True)
        v2 = np.stack([np.asarray(r["vec"], dtype=np.float32) for r in got2])
        check(v2.shape == (40, 16) and float(np.abs(v2 - want2).max()) < 1e-5,
              "(c) column='body', output_column='vec', dimensions=16: %s" % (v2.shape,))
    finally:
        ray.shutdown()
    print("python_ray: all checks passed", flush=True)


if __name__ == "__main__":
    main()
