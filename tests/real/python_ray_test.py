"""floe.ray.embed_dataset (issue 18): bulk embedding on Ray Data with one floe engine
per actor, on a local Ray (ray.init(num_cpus=2), two actors of one engine thread each),
with the real all-MiniLM-L6-v2 ($FLOE_MINILM).

FLOE_RAY_ROWS lines (default 6,000; the issue's 100,000 by hand: FLOE_RAY_ROWS=100000,
see docs/python.md for the times), generated sentences of 3 to 12 words with a unique id:
  (a) the single-process reference: floe.Embedder in this process (two engines of one
      thread, each half the rows); whether the engine gives bit-equal vectors for the
      same text in other batches and with 2 threads is printed (and, if so, required
      of the Ray runs);
  (b) Ray Data with preserve_order, two actors: every id once (none lost, none
      duplicated), in the dataset's order, the text column kept, every vector equal to
      the reference (cosine >= 0.99999, or bit-equal as (a) found);
  (c) the same with one actor's process SIGKILLed midway (after a third of the rows
      came back, while it is embedding a block): Ray restarts it (max_restarts) and
      retries its block (max_task_retries), and every id still comes back exactly
      once, in order, with equal vectors;
  (d) the work was spread over both actors (distinct process ids);
  (e) column, output_column, dimensions and normalize are honoured.
Rows/s and tokens/s of (a), (b) and (c) are printed. FLOE_RAY_SINGLE=1 also times one
actor (one thread) against the in-process Embedder with one thread on the same rows.
"""
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from python_wheel import installed
from realutil import MINILM, check, cosine_rows

ROWS = int(os.environ.get("FLOE_RAY_ROWS", "6000"))
BLOCK_ROWS = 1000  # rows per input block: a killed actor loses at most one block's work
BATCH = 256

WORDS = ("the a one every some river stone cloud engine paper lamp garden violin orbit "
         "silver harbor winter market candle bridge forest quiet rapid golden broken "
         "ancient bright hollow narrow distant gentle heavy early late northern small "
         "large old new blue green red dark warm cold runs sings falls grows carries "
         "opens waits breaks turns finds remembers follows builds crosses hides lifts "
         "under over beside through across near behind after before and but while "
         "because when since if music number question answer letter window mountain "
         "station village teacher doctor machine program network signal theory history "
         "city morning evening summer autumn ocean desert island kitchen library museum "
         "2024 seven forty hundred first last").split()


def sentences(n, seed=18):
    """n short varied lines: 3 to 12 words, sometimes capitalized or punctuated."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(3, 13, size=n)
    picks = rng.integers(0, len(WORDS), size=int(lengths.sum()))
    ends = rng.choice([".", "", "?", "!", ","], size=n, p=[0.4, 0.3, 0.1, 0.1, 0.1])
    caps = rng.random(n) < 0.5
    out, at = [], 0
    for i in range(n):
        words = [WORDS[k] for k in picks[at:at + lengths[i]]]
        at += lengths[i]
        line = " ".join(words) + ends[i]
        out.append(line[0].upper() + line[1:] if caps[i] else line)
    return out


def collect(out, on_rows=None):
    """Consumes `out` (streaming) into (ids, texts, embeddings, seconds); on_rows(rows
    so far) is called after each batch that comes back."""
    ids, texts, vecs = [], [], []
    seen = 0
    t0 = time.time()
    for b in out.iter_batches(batch_size=None, batch_format="numpy"):
        ids.append(np.asarray(b["id"]))
        texts.extend(b["text"].tolist())
        vecs.append(np.asarray(b["embedding"], dtype=np.float32))
        seen += len(b["id"])
        if on_rows:
            on_rows(seen)
    return np.concatenate(ids), texts, np.concatenate(vecs), time.time() - t0


def compare(tag, ids, got_texts, got, texts, ref, bit_equal):
    n = len(texts)
    check(len(ids) == n, "(%s) %d rows in, %d out" % (tag, n, len(ids)))
    uniq = np.unique(ids)
    check(len(uniq) == n and uniq[0] == 0 and uniq[-1] == n - 1,
          "(%s) every id once: none lost, none duplicated (%d distinct)" % (tag, len(uniq)))
    check(np.array_equal(ids, np.arange(n)), "(%s) the dataset's order kept" % tag)
    check(got_texts == texts, "(%s) the text column kept" % tag)
    cos = cosine_rows(got, ref[ids])
    same = int((got == ref[ids]).all(1).sum())
    check(got.shape == ref.shape and float(cos.min()) >= 0.99999,
          "(%s) every vector %s equal to the in-process one: min cosine %.8f, "
          "%d of %d bit-equal" % (tag, got.shape, float(cos.min()), same, n))
    if bit_equal:
        check(same == n, "(%s) every vector bit-equal (the engine is deterministic "
                         "per text, (a))" % tag)


def rate(what, rows, tokens, secs, actors):
    print("  %s: %d rows in %.1f s: %.0f rows/s, %.0f tokens/s (%.0f rows/s, %.0f "
          "tokens/s per %s)" % (what, rows, secs, rows / secs, tokens / secs,
                               rows / secs / actors, tokens / secs / actors,
                               "actor" if actors > 1 else "process"), flush=True)


def floe_actors(ray):
    """This Ray's FloeEmbedder actors (Ray Data names them MapWorker(...FloeEmbedder)),
    from the GCS actor table (ray.util.state needs the dashboard, which is off)."""
    return [a for a in ray._private.state.actors().values()
            if "FloeEmbedder" in a["ActorClassName"]]


def busy(pid):
    """Whether the actor process is running a task (Ray titles it "...submit" then)."""
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return b".submit" in f.read()
    except OSError:
        return False


def main():
    floe = installed()
    import ray
    import floe.ray as floe_ray

    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                if l.startswith("model name")), "?")
    print("  CPU: %s, %d cores, load average %s" % (cpu, os.cpu_count(),
                                                   " ".join(open("/proc/loadavg").read().split()[:3])), flush=True)
    texts = sentences(ROWS)
    engines = [floe.Embedder(MINILM, threads=1) for _ in range(2)]
    tokens = sum(len(t) for t in engines[0].tokenize(texts))
    print("  %d lines, %d tokens (%.1f a line, special tokens included)" % (
        ROWS, tokens, tokens / ROWS), flush=True)

    # (a) The reference: this process, two engines of one thread on two Python threads
    # (the GIL is released while floe computes), each half of the rows. Then whether
    # the engine is deterministic per text: the first rows again, in other batches
    # (size 32, shifted by 7), on one engine of 2 threads.
    t0 = time.time()
    half = (ROWS + 1) // 2
    with ThreadPoolExecutor(2) as pool:
        parts = list(pool.map(lambda e, part: e.encode(part, batch_size=BATCH),
                              engines, [texts[:half], texts[half:]]))
    ref = np.concatenate(parts)
    rate("(a) in-process floe.Embedder, 2 engines x 1 thread", ROWS, tokens,
         time.time() - t0, 1)
    k = min(ROWS, 2000)
    again = floe.Embedder(MINILM, threads=2).encode(texts[7:k], batch_size=32)
    bit_equal = bool((again == ref[7:k]).all())
    cos = float(cosine_rows(again, ref[7:k]).min())
    check(cos >= 0.99999, "(a) %d texts in other batches with 2 threads: min cosine %.8f, "
          "%s" % (k - 7, cos, "bit-equal: the engine is deterministic per text"
                  if bit_equal else "not bit-equal: cosine only"))

    site = os.path.dirname(os.path.dirname(floe.__file__))
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": site}})
    try:
        import pandas as pd
        ctx = ray.data.DataContext.get_current()
        ctx.execution_options.preserve_order = True
        # Small output blocks (~1 per batch of 256 rows, 0.4 MB): a task hands on several
        # while it embeds its 1,000-row block, so a kill can fall between two of them.
        ctx.target_max_block_size = 256 * 1024
        frame = pd.DataFrame({"id": np.arange(ROWS, dtype=np.int64), "text": texts})
        ds = ray.data.from_pandas([frame.iloc[a:a + BLOCK_ROWS]
                                   for a in range(0, ROWS, BLOCK_ROWS)])

        def embedded():
            return floe_ray.embed_dataset(ds, MINILM, column="text", batch_size=BATCH,
                                          num_actors=2, num_cpus=1)

        # (b) two actors, nothing killed.
        ids, got_texts, got, secs = collect(embedded())
        rate("(b) Ray Data, 2 actors x 1 thread", ROWS, tokens, secs, 2)
        compare("b", ids, got_texts, got, texts, ref, bit_equal)

        # (c) one actor SIGKILLed midway, while it embeds a block.
        killed = {}
        before = {a["ActorID"] for a in floe_actors(ray)}  # (b)'s, ended or ending

        def kill_one(seen):
            if killed or seen < ROWS // 3:
                return
            deadline = time.time() + 30
            while time.time() < deadline:
                alive = [a for a in floe_actors(ray) if a["State"] == "ALIVE" and a["Pid"]
                         and a["ActorID"] not in before]
                working = [a for a in alive if busy(a["Pid"])]
                if len(alive) == 2 and working:
                    a = working[0]
                    os.kill(a["Pid"], signal.SIGKILL)
                    killed.update(id=a["ActorID"], pid=a["Pid"], seen=seen,
                                  restarts=a["NumRestarts"])
                    return
                time.sleep(0.02)
            killed.update(id=None, seen=seen)

        ids, got_texts, got, secs = collect(embedded(), kill_one)
        check(killed.get("id") is not None,
              "(c) actor pid %s SIGKILLed while embedding a block, after %d of %d rows "
              "came back" % (killed.get("pid"), killed.get("seen", 0), ROWS))
        after = [a for a in floe_actors(ray) if a["ActorID"] == killed["id"]]
        check(after and after[0]["NumRestarts"] > killed["restarts"],
              "(c) Ray restarted it (restarts %d -> %d)" % (
                  killed["restarts"], after[0]["NumRestarts"] if after else -1))
        rate("(c) Ray Data, 2 actors, one killed and restarted", ROWS, tokens, secs, 2)
        compare("c", ids, got_texts, got, texts, ref, bit_equal)

        if os.environ.get("FLOE_RAY_SINGLE") == "1":
            n1 = min(ROWS, 20000)
            tok1 = sum(len(t) for t in engines[0].tokenize(texts[:n1]))
            t0 = time.time()
            engines[0].encode(texts[:n1], batch_size=BATCH)
            rate("in-process floe.Embedder, 1 thread", n1, tok1, time.time() - t0, 1)
            one = floe_ray.embed_dataset(ds.limit(n1), MINILM, column="text",
                                         batch_size=BATCH, num_actors=1, num_cpus=1)
            _, _, got1, secs = collect(one)
            rate("Ray Data, 1 actor x 1 thread", n1, tok1, secs, 1)
            check(float(cosine_rows(got1, ref[:n1]).min()) >= 0.99999, "one actor: equal")

        # (d) two actors: each tags its rows with its process id (a short sleep per
        # batch so that one actor cannot take every block before the other starts).
        ray.data.DataContext.get_current().execution_options.preserve_order = False

        class Tagged(floe_ray.FloeEmbedder):
            def __call__(self, batch):
                time.sleep(0.1)
                out = super().__call__(batch)
                out["pid"] = np.full(len(batch["text"]), os.getpid())
                return out

        few = ray.data.from_items([{"id": i, "text": t} for i, t in enumerate(texts[:240])],
                                  override_num_blocks=12)
        tagged = few.map_batches(Tagged, fn_constructor_kwargs={"model": MINILM, "threads": 1},
                                 batch_size=16, batch_format="numpy", num_cpus=1,
                                 compute=ray.data.ActorPoolStrategy(size=2)).take_all()
        pids = {r["pid"] for r in tagged}
        check(len(pids) == 2 and len(tagged) == 240,
              "(d) %d rows embedded by %d actors (pids %s)" % (len(tagged), len(pids),
                                                            sorted(pids)))

        # (e) other column names, dimensions, normalize.
        ray.data.DataContext.get_current().execution_options.preserve_order = True
        ds2 = ray.data.from_items([{"body": t} for t in texts[:40]])
        got2 = floe_ray.embed_dataset(ds2, MINILM, column="body", output_column="vec",
                                      dimensions=16, normalize=True, batch_size=16,
                                      num_actors=1).take_all()
        want2 = floe.Embedder(MINILM, threads=1).encode(texts[:40], truncate_dim=16,
                                                        normalize_embeddings=True)
        v2 = np.stack([np.asarray(r["vec"], dtype=np.float32) for r in got2])
        check(v2.shape == (40, 16) and float(np.abs(v2 - want2).max()) < 1e-5,
              "(e) column='body', output_column='vec', dimensions=16: %s" % (v2.shape,))
    finally:
        ray.shutdown()
    print("python_ray: all checks passed", flush=True)


if __name__ == "__main__":
    main()
