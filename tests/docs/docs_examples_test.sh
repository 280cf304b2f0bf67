#!/usr/bin/env bash
# Runs every runnable example in docs/*.md and README.md against a live
# `floe serve` on the demo model (models/demo).
#
# Markers (docs/README.md conventions, see docs/quickstart.md "Examples are tested"):
#   ```sh test [expect=REGEX] [needs=grpc]   a block run with `bash -e` from the
#                                            repository root; expect=REGEX must match
#                                            its output; needs=grpc: skipped (and
#                                            said so) without /usr/bin/python3's grpc
#   <!-- docs-test: skip: REASON -->         on the line before a fence: not run here
#                                            (GPU, a model download, Docker...), REASON
#                                            is printed
# Every ```sh / ```bash / ```shell fence must carry one of the two, so a new
# example cannot go untested silently.
#
# In a runnable block `floe` is the binary under test (a `floe` on PATH),
# `build/floe` is replaced by its path, and the ports 8080/50050 (the served
# demo: HTTP/gRPC) and 8081/50051 (free for a block's own server) are replaced
# by free ports.
#
# Usage: docs_examples_test.sh SOURCE_DIR FLOE_BINARY   (exit 77: skipped)
set -euo pipefail
src="$(cd "${1:?source dir}" && pwd)"
floe="${2:?floe binary}"
[ -x "$floe" ] || { echo "docs test: $floe not built; skipping"; exit 77; }
"$floe" serve --help >/dev/null 2>&1 || { echo "docs test: $floe has no serve; skipping"; exit 77; }
command -v python3 >/dev/null || { echo "docs test: python3 missing; skipping"; exit 77; }
command -v curl >/dev/null || { echo "docs test: curl missing; skipping"; exit 77; }
floe="$(cd "$(dirname "$floe")" && pwd)/$(basename "$floe")"

work="$(mktemp -d)"
server=""
cleanup() {
  if [ -n "$server" ]; then kill -TERM "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/bin"
ln -s "$floe" "$work/bin/floe"

# The served demo, on free ports (read back from its log).
cd "$src"
: >"$work/serve.log"
"$floe" serve --model models/demo --port 0 --http-port 0 --log-level info >"$work/serve.log" 2>&1 &
server=$!
http_port="" grpc_port=""
for _ in $(seq 1 300); do
  http_port="$(sed -n 's/.*serve: HTTP on [^ ]*:\([0-9]*\) .*/\1/p' "$work/serve.log")"
  grpc_port="$(sed -n 's/.*serve: gRPC on [^ ]*:\([0-9]*\) .*/\1/p' "$work/serve.log")"
  if [ -n "$http_port" ] && [ -n "$grpc_port" ] && curl -fs "http://127.0.0.1:$http_port/health" >/dev/null; then break; fi
  kill -0 "$server" 2>/dev/null || { cat "$work/serve.log"; echo "docs test: floe serve died"; exit 1; }
  sleep 0.1
done
curl -fs "http://127.0.0.1:$http_port/health" >/dev/null || { cat "$work/serve.log"; echo "docs test: server not ready"; exit 1; }

FLOE_DOCS_WORK="$work" HTTP_PORT="$http_port" GRPC_PORT="$grpc_port" PATH="$work/bin:$PATH" \
  FLOE_BIN="$floe" python3 - "$src" <<'PY'
import glob, os, re, socket, subprocess, sys, time

src = sys.argv[1]
work = os.environ["FLOE_DOCS_WORK"]

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p

ports = {"8080": os.environ["HTTP_PORT"], "50050": os.environ["GRPC_PORT"],
         "8081": str(free_port()), "50051": str(free_port())}
have_grpc = subprocess.run(["/usr/bin/python3", "-c", "import grpc"],
                           capture_output=True).returncode == 0 if os.path.exists("/usr/bin/python3") else False

files = sorted(glob.glob(os.path.join(src, "docs", "*.md"))) + [os.path.join(src, "README.md")]
blocks, problems, skipped = [], [], []
for path in files:
    rel = os.path.relpath(path, src)
    lines = open(path, encoding="utf-8").read().split("\n")
    i = 0
    while i < len(lines):
        m = re.match(r"^(\s*)```+\s*(.*)$", lines[i])
        if not m:
            i += 1
            continue
        info = m.group(2).split()
        start = i + 1
        j = start
        while j < len(lines) and not re.match(r"^\s*```+\s*$", lines[j]):
            j += 1
        body = "\n".join(l[len(m.group(1)):] if l.startswith(m.group(1)) else l for l in lines[start:j])
        prev = next((lines[k] for k in range(i - 1, -1, -1) if lines[k].strip()), "")
        skip = re.match(r"^\s*<!--\s*docs-test:\s*skip:?\s*(.*?)\s*-->\s*$", prev)
        lang = info[0] if info else ""
        where = f"{rel}:{start}"
        if len(info) > 1 and info[1] == "test":
            opts = dict(o.split("=", 1) for o in info[2:] if "=" in o)
            blocks.append((where, body, opts))
        elif skip:
            skipped.append((where, skip.group(1)))
        elif lang in ("sh", "bash", "shell", "console"):
            problems.append(f"{where}: a ```{lang} block is neither '{lang} test' nor preceded by "
                            "<!-- docs-test: skip: REASON -->")
        i = j + 1

def substitute(body):
    body = body.replace("build/floe", os.environ["FLOE_BIN"])
    for old, new in ports.items():
        body = re.sub(r"(?<![0-9])" + old + r"(?![0-9])", new, body)
    return body

failed = []
for n, (where, body, opts) in enumerate(blocks):
    if opts.get("needs") == "grpc" and not have_grpc:
        print(f"SKIP {where}: needs /usr/bin/python3 with grpc (python3-grpcio)")
        continue
    script = os.path.join(work, f"block{n}.sh")
    with open(script, "w") as f:
        f.write(substitute(body) + "\n")
    t0 = time.time()
    try:
        r = subprocess.run(["bash", "-e", script], cwd=src, capture_output=True, text=True,
                           timeout=float(opts.get("timeout", 30)))
        out, rc = r.stdout + r.stderr, r.returncode
    except subprocess.TimeoutExpired as e:
        out, rc = f"(timed out after {e.timeout} s)\n" + str(e.stdout or "") + str(e.stderr or ""), 124
    ok = rc == 0
    why = f"exit {rc}"
    if ok and "expect" in opts and not re.search(opts["expect"], out):
        ok, why = False, f"output does not match expect={opts['expect']}"
    print(f"{'ok  ' if ok else 'FAIL'} {where} ({time.time() - t0:.1f} s)")
    if not ok:
        failed.append(where)
        print(f"---- {where}: {why}\n---- block:\n{substitute(body)}\n---- output:\n{out}----", file=sys.stderr)

for where, reason in skipped:
    print(f"not run {where}: {reason}")
for p in problems:
    print("FAIL " + p, file=sys.stderr)
print(f"docs examples: {len(blocks)} runnable, {len(failed)} failed, {len(skipped)} marked not runnable here")
sys.exit(1 if failed or problems else 0)
PY
