"""Shared helpers of the real-model tests (tests/real/): paths, a live `floe serve`
on free ports, and cosine. Each test is a plain script run by run.sh; it exits
non-zero with a message on the first failed check."""
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np

FLOE = os.environ["FLOE_BINARY"]
MINILM = os.environ["FLOE_MINILM"]
SOURCE = os.environ["FLOE_SOURCE"]
SCRATCH = os.environ["FLOE_SCRATCH"]


def minilm_reference(texts):
    """sentence-transformers' MiniLM vectors of `texts` (encode, batch 64), computed once
    per build: tests that need the same reference share it through a file next to the
    binary, written under a lock (ctest runs two tests at a time)."""
    import fcntl
    import hashlib
    key = hashlib.sha256(("\0".join(texts) + "\0" + MINILM).encode()).hexdigest()[:16]
    cache = os.path.join(os.path.dirname(os.path.abspath(FLOE)), "real-cache")
    os.makedirs(cache, exist_ok=True)
    path = os.path.join(cache, "minilm-st-%s.npy" % key)
    with open(path + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.path.exists(path):
            print("  sentence-transformers reference: cached %s" % path, flush=True)
            return np.load(path)
        from sentence_transformers import SentenceTransformer
        t = time.time()
        ref = SentenceTransformer(MINILM, device="cpu").encode(texts, batch_size=64)
        print("  sentence-transformers reference: %.1f s" % (time.time() - t), flush=True)
        np.save(path + ".tmp.npy", ref)
        os.replace(path + ".tmp.npy", path)
        return ref


def fail(msg):
    print("FAIL:", msg, file=sys.stderr, flush=True)
    sys.exit(1)


def check(cond, what):
    if not cond:
        fail(what)
    print("ok:", what, flush=True)


def cosine_rows(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-30)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def floe_embed_rows(model, lines, *args, env=None):
    """Runs `floe embed` on JSON-lines requests (with `env` added to the
    environment); returns one float32 vector per line (widths may differ)."""
    inp = "".join(json.dumps(l) + "\n" for l in lines)
    r = subprocess.run([FLOE, "embed", "--model", model, *args], input=inp.encode(),
                       capture_output=True, env={**os.environ, **(env or {})})
    if r.returncode != 0:
        fail("floe embed %s: %s" % (" ".join(args), r.stderr.decode()[-2000:]))
    return [np.asarray(json.loads(l)["embedding"], dtype=np.float32)
            for l in r.stdout.decode().splitlines()]


def floe_embed(model, lines, *args, env=None):
    """Runs `floe embed` on JSON-lines requests; returns an (n, d) float32 array."""
    return np.asarray(floe_embed_rows(model, lines, *args, env=env), dtype=np.float32)


@contextlib.contextmanager
def floe_serve(model, *args, name=None):
    """A real `floe serve` on free loopback ports; yields (http_url, grpc_target)."""
    http, grpc = free_port(), free_port()
    cmd = [FLOE, "serve", "--model", model, "--host", "127.0.0.1", "--port", str(grpc),
           "--http-port", str(http), *args]
    log = open(os.path.join(SCRATCH, "serve-%d.log" % http), "w+")
    p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    url = "http://127.0.0.1:%d" % http
    try:
        deadline = time.time() + 120
        while True:
            if p.poll() is not None:
                log.seek(0)
                fail("floe serve exited during startup: " + log.read()[-3000:])
            try:
                with urllib.request.urlopen(url + "/health", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.time() > deadline:
                fail("floe serve not healthy after 120 s")
            time.sleep(0.1)
        yield url, "127.0.0.1:%d" % grpc
    finally:
        p.terminate()
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
        log.close()


def floe_dtype_refusal(dtype, model=MINILM):
    """None when floe runs `dtype` on this CPU, else floe's refusal (its stderr). Asks
    the engine itself (`floe embed --dtype` on one text: the CPU backend's own check,
    which ONEDNN_MAX_CPU_ISA or FLOE_NO_AVX512 may cap below /proc/cpuinfo), so a test
    checks what floe offers here; bfloat16 and int8 need AVX2 and FMA. A refusal for
    anything but a missing instruction fails the test."""
    r = subprocess.run([FLOE, "embed", "--model", model, "--dtype", dtype],
                       input=b'{"text": "x"}\n', capture_output=True)
    if r.returncode == 0:
        return None
    err = r.stderr.decode().strip()
    capped = "MAX_CPU_ISA" in err or "FLOE_NO_AVX512" in err
    lacks = not (cpu_has("avx2") and cpu_has("fma"))
    if "needs a CPU with" not in err or not (lacks or capped):
        fail("%s refused only for a missing instruction: %s" % (dtype, err[:300]))
    return err


def cpu_has(flag):
    """Whether /proc/cpuinfo lists `flag` (e.g. avx512_bf16) for this CPU."""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("flags"):
                return flag in line.split()
    return False
