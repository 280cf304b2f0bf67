"""The repaired floe wheel on its own (issue 18): scripts/build-wheel.sh builds it
(tests/real/python_wheel.py: once per source state, shared with the other python_* tests)
and `auditwheel repair` copies the libraries its extension links into floe.libs/.
  (a) `auditwheel show --json` of the wheel: a manylinux tag, the same as in the file
      name, and no external library left outside that policy's list of system
      libraries (glibc's, libstdc++, libgcc_s, libz, ...); its size and floe.libs/;
  (b) the wheel in a fresh virtual environment with only its declared dependency (numpy,
      repacked from the pinned environment: no network, no torch or transformers), run
      isolated (python -I, no PYTHONPATH / LD_LIBRARY_PATH, in a scratch folder) and,
      where a private mount namespace can be had (unshare: root, or user namespaces),
      with the system's copies of the libraries the wheel carries (oneDNN, utf8proc,
      libgomp, libcurl, ...; not those Python maps for itself) replaced by /dev/null and
      the checkout and the build folder by empty folders;
  (c) `ldd` of the installed extension: every library outside the policy's list resolves
      inside the venv's floe.libs/, and its RUNPATH is relative to $ORIGIN;
  (d) there, import floe and encode varied texts with the real all-MiniLM-L6-v2: every
      shared object that import + encode mapped into the process (/proc/self/maps, then
      against before, with numpy and the standard library already imported) lies in the
      venv's floe/ or floe.libs/, is Python's or numpy's own, or is on the policy's
      list: none from the build folder, the checkout, or the system's oneDNN, utf8proc,
      libgomp, libcurl, OpenSSL;
  (e) its vectors (float32) and token ids equal the in-tree build's: `floe embed --dtype
      float32` and `floe tokenize` of the CMake build under test (cosine >= 0.999999 per
      row; the same sources and the same oneDNN give the same bits, printed).
"""
import json
import os
import platform
import re
import subprocess
import zipfile

import numpy as np

from python_wheel import BUILD, fresh_venv, wheel
from realtexts import fidelity_texts
from realutil import FLOE, MINILM, SCRATCH, SOURCE, check, cosine_rows, fail, floe_embed

# The standard library modules that floe's Python files import, and numpy, come first,
# so that what Python maps for itself (its ssl module maps the system's OpenSSL, ctypes
# libffi) is in the baseline; that the extension's own copies resolve inside floe.libs/
# is (c)'s ldd check.
PRELUDE = r"""
import importlib.util, json, re, sys, sysconfig
import asyncio, base64, ipaddress, socket, ssl, urllib.error, urllib.parse, urllib.request, uuid
import numpy as np

def mapped():
    out = set()
    for line in open("/proc/self/maps"):
        parts = line.split(None, 5)
        if len(parts) == 6 and parts[5].startswith("/"):
            path = parts[5].strip().replace(" (deleted)", "")
            if re.search(r"\.so(\.[0-9]+)*$", path):
                out.add(path)
    return out

before = mapped()
"""
ISOLATED = PRELUDE + r"""
import floe
texts = json.load(open(sys.argv[2]))
model = floe.Embedder(sys.argv[1], dtype="float32")
np.save(sys.argv[3], model.encode(texts))
ids = model.tokenize(texts)
after = mapped()
missing = [m for m in ("torch", "transformers", "tokenizers", "sentence_transformers")
           if importlib.util.find_spec(m) is not None]
print(json.dumps({"floe": floe.__file__, "numpy": np.__version__, "present": missing,
                  "prefix": sys.prefix, "ids": ids, "new": sorted(after - before),
                  "stdlib": [sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib")]}))
"""
# In a private mount namespace: /dev/null over each file named before "--", an empty
# tmpfs over each folder, then the command after it.
HIDE = ('set -e; while [ "$1" != "--" ]; do if [ -d "$1" ]; then mount -t tmpfs -o size=1m '
        'floe-hidden "$1"; else mount --bind /dev/null "$1"; fi; shift; done; shift; '
        'exec "$@"')


def hidden(py, site, env, keep):
    """What the isolated run hides (files and folders), and the unshare command that
    can: the system's copies of the libraries floe.libs/ carries (their sonames through
    ldconfig), except those Python and numpy map for themselves, and the checkout and
    the build folder, unless they hold a folder in `keep`. ([], None) without a mount
    namespace (unshare -m as root, unshare -rm otherwise: neither permitted)."""
    r = subprocess.run([py, "-I", "-c", PRELUDE + "print(json.dumps(sorted(before)))"],
                       capture_output=True, text=True, env=env, cwd=SCRATCH)
    if r.returncode != 0:
        fail("the venv's python: " + r.stderr[-2000:])
    python_own = {os.path.realpath(p) for p in json.loads(r.stdout)}
    # auditwheel names a copy after the file it copied, with a hash before the first
    # dot: libdnnl-a4f9d805.so.2.6 is libdnnl.so.2.6, liblber-2-64f183c1.5.so.0.1.8 is
    # liblber-2.5.so.0.1.8. The system's files by name, from the linker's cache:
    known = {}
    cache = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True).stdout
    for line in cache.splitlines():
        m = re.match(r"\s*\S+ \(([^)]*)\) => (\S+)", line)
        if m and "x86-64" in m.group(1):
            real = os.path.realpath(m.group(2))
            known.setdefault(os.path.basename(real), real)
    files = []
    for name in sorted(os.listdir(os.path.join(site, "floe.libs"))):
        path = known.get(re.sub(r"-[0-9a-f]{8}(?=\.)", "", name, count=1))
        if path and path not in python_own and path not in files:
            files.append(path)
    check(any("libdnnl" in f for f in files) and any("libgomp" in f for f in files),
          "(b) the system's copies of %d of the %d libraries in floe.libs/ found to hide "
          "(oneDNN's, libgomp's among them)" % (len(files), len(os.listdir(
              os.path.join(site, "floe.libs")))))
    dirs = []
    for d in (os.path.realpath(SOURCE), os.path.realpath(os.path.dirname(FLOE))):
        if not any(k == d or k.startswith(d + os.sep) for k in keep) and \
                not any(d.startswith(x + os.sep) for x in dirs):
            dirs.append(d)
    for unshare in (["unshare", "-m"], ["unshare", "-rm"]):
        if subprocess.run(unshare + ["true"], capture_output=True).returncode == 0:
            return files + dirs, unshare + ["sh", "-c", HIDE, "sh", *files, *dirs, "--"]
    return [], None


def auditwheel_env():
    """The wheel environment (scripts/python-env.sh wheel): auditwheel and its policies."""
    env = subprocess.run([os.path.join(SOURCE, "scripts", "python-env.sh"), "wheel"],
                         capture_output=True, text=True)
    if env.returncode != 0:
        fail("scripts/python-env.sh wheel: " + env.stderr[-3000:])
    return env.stdout.strip()


def _version(v):
    """("GLIBC", (2, 34)) of "GLIBC_2.34"."""
    prefix, _, num = v.partition("_")
    return prefix, tuple(int(x) if x.isdigit() else -1 for x in re.split(r"[._]", num))


def newest(versions):
    """The newest version of each prefix in `versions` (GLIBC_2.34, GLIBCXX_3.4.30)."""
    best = {}
    for v in versions:
        prefix, num = _version(v)
        if prefix not in best or num > _version(best[prefix])[1]:
            best[prefix] = v
    return sorted(best.values())


def beyond(versions, allowed):
    """The versions a policy's symbol_versions (prefix -> numbers) does not allow."""
    out = [v for v in versions if v.partition("_")[2] not in allowed.get(v.partition("_")[0], ())]
    return sorted(out, key=_version)


def audit(whl):
    """(a) auditwheel show --json; returns the policy's system libraries (sonames)."""
    env = auditwheel_env()
    r = subprocess.run([os.path.join(env, "bin", "auditwheel"), "show", "--json", whl],
                       capture_output=True, text=True)
    if r.returncode != 0:
        fail("auditwheel show: " + r.stdout[-3000:] + r.stderr[-3000:])
    shown = json.loads(r.stdout)
    tag = shown["overall_tag"]
    print("auditwheel show: overall %s (symbols: %s); the newest symbol versions: %s" % (
        tag, shown["sym_tag"], "; ".join("%s %s" % (lib, " ".join(newest(v))) for lib, v in
                                         sorted(shown["versioned_symbols"].items()))),
          flush=True)
    check(tag.startswith("manylinux_") and tag in os.path.basename(whl),
          "(a) %s is tagged %s, what auditwheel finds it consistent with" % (
              os.path.basename(whl), tag))
    check(not shown["external_libs"], "(a) no external library left outside the policy "
          "(%s)" % shown["external_libs"])
    r = subprocess.run([os.path.join(env, "bin", "python"), "-c",
                        "import auditwheel.policy as p, os; print(os.path.dirname(p.__file__))"],
                       capture_output=True, text=True, check=True)
    policies = json.load(open(os.path.join(r.stdout.strip(), "manylinux-policy.json")))
    policy = [p for p in policies if tag == p["name"] + "_" + platform.machine()]
    check(len(policy) == 1, "(a) policy %s in auditwheel's list" % tag)
    # Not a check: the system libraries' symbol versions that the common older policy
    # does not allow (the extension's and the copied libraries' references together).
    old = [p for p in policies if p["name"] == "manylinux_2_28"][0]
    too_new = {lib: beyond(v, old["symbol_versions"][platform.machine()])
               for lib, v in shown["versioned_symbols"].items() if lib in old["lib_whitelist"]}
    print("for manylinux_2_28 these symbol versions would have to go: %s" % "; ".join(
        "%s %s" % (lib, " ".join(v)) for lib, v in sorted(too_new.items()) if v), flush=True)
    with zipfile.ZipFile(whl) as z:
        libs = sorted(os.path.basename(n) for n in z.namelist()
                      if n.startswith("floe.libs/") and not n.endswith("/"))
        inside = sum(i.file_size for i in z.infolist() if i.filename.startswith("floe.libs/"))
    check(any(l.startswith("libdnnl") for l in libs) and
          any(l.startswith("libutf8proc") for l in libs),
          "(a) %.1f MiB, floe.libs/ holds %d libraries (%.1f MiB unpacked): %s" % (
              os.path.getsize(whl) / 2**20, len(libs), inside / 2**20, " ".join(libs)))
    return set(policy[0]["lib_whitelist"]) | {"linux-vdso.so.1", "ld-linux-x86-64.so.2"}


def check_ldd(ext, libs_dir, allowed):
    """(c) ldd of the installed extension."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LD_")}
    r = subprocess.run(["ldd", ext], capture_output=True, text=True, env=env)
    if r.returncode != 0:
        fail("ldd %s: %s" % (ext, r.stdout + r.stderr))
    inside, system, wrong = [], [], []
    for line in r.stdout.splitlines():
        line = line.strip()
        if "=>" in line:
            name, where = [s.strip() for s in line.split("=>", 1)]
            path = where.split(" (")[0].strip()
        else:
            name = path = line.split(" (")[0].strip()
            where = ""
        if not path.startswith("/"):  # linux-vdso.so.1, or "not found"
            if os.path.basename(name) not in allowed or "not found" in where:
                wrong.append(line)
            continue
        real = os.path.realpath(path)
        if real.startswith(libs_dir + os.sep):
            inside.append(os.path.basename(name))
        elif os.path.basename(name) in allowed:
            system.append(os.path.basename(name))
        else:
            wrong.append(line)
    check(not wrong and inside, "(c) ldd: %d libraries resolve inside floe.libs/, the rest "
          "are the policy's system libraries (%s)%s" % (
              len(inside), " ".join(sorted(system)), "; outside: %s" % wrong if wrong else ""))
    r = subprocess.run(["readelf", "-d", ext], capture_output=True, text=True, check=True)
    paths = re.findall(r"\((?:RPATH|RUNPATH)\)\s+Library (?:rpath|runpath): \[([^\]]*)\]",
                       r.stdout)
    entries = [p for s in paths for p in s.split(":") if p]
    check(entries and all(p.startswith("$ORIGIN") for p in entries),
          "(c) the extension's RUNPATH is $ORIGIN-relative only (%s)" % entries)


def main():
    whl = wheel()
    allowed = audit(whl)

    py = fresh_venv()
    venv = os.path.dirname(os.path.dirname(py))
    site = subprocess.run([py, "-I", "-c", "import sysconfig; print(sysconfig.get_paths()"
                           "['platlib'])"], capture_output=True, text=True, check=True,
                          cwd=SCRATCH).stdout.strip()
    libs_dir = os.path.realpath(os.path.join(site, "floe.libs"))
    exts = [os.path.join(site, "floe", n) for n in os.listdir(os.path.join(site, "floe"))
            if n.startswith("_floe") and n.endswith(".so")]
    check(len(exts) == 1 and os.path.isdir(libs_dir), "(b) installed: %s and floe.libs/" %
          [os.path.basename(e) for e in exts])
    check_ldd(exts[0], libs_dir, allowed)

    texts = fidelity_texts(n_english=60, n_catalog=20, seed=18)
    with open(os.path.join(SCRATCH, "isolated.py"), "w") as f:
        f.write(ISOLATED)
    with open(os.path.join(SCRATCH, "isolated.json"), "w") as f:
        json.dump(texts, f)
    out = os.path.join(SCRATCH, "isolated.npy")
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME") and not k.startswith("LD_")}
    keep = [os.path.realpath(p) for p in (SCRATCH, MINILM, os.path.dirname(os.path.realpath(py)))]
    hide, wrap = hidden(py, site, env, keep)
    if wrap:
        print("(b) hiding from the venv's run (a private mount namespace): %s" %
              " ".join(hide), flush=True)
    else:
        print("note: (b) no mount namespace here (unshare -m / -rm refused): the system's "
              "libraries and the checkout stay visible; (c) and (d) still check what "
              "resolves and loads", flush=True)
    r = subprocess.run((wrap or []) + [py, "-I", os.path.join(SCRATCH, "isolated.py"), MINILM,
                                       os.path.join(SCRATCH, "isolated.json"), out],
                       capture_output=True, text=True, env=env, cwd=SCRATCH)
    if r.returncode != 0:
        fail("(d) floe in the fresh venv failed:\n" + r.stdout[-3000:] + r.stderr[-3000:])
    seen = json.loads(r.stdout.strip().splitlines()[-1])
    check(seen["floe"].startswith(venv) and os.path.realpath(seen["prefix"]) ==
          os.path.realpath(venv), "(b) floe imported from the fresh venv (%s)%s" % (
              seen["floe"], ", %d system libraries and folders hidden" % len(hide)
              if wrap else ""))
    check(not seen["present"], "(b) the venv has no torch/transformers/tokenizers/"
          "sentence-transformers (found %s); numpy %s" % (seen["present"], seen["numpy"]))

    # (d) what import floe + encode mapped into the process.
    build = os.path.realpath(os.path.dirname(FLOE))

    def under(path, *dirs):
        return any(path.startswith(os.path.realpath(d) + os.sep) for d in dirs)

    ours, theirs, system, wrong = [], [], [], []
    for path in seen["new"]:
        real = os.path.realpath(path)
        if under(real, libs_dir, os.path.join(site, "floe")):
            ours.append(os.path.basename(path))
        elif under(real, *seen["stdlib"], os.path.join(site, "numpy"),
                   os.path.join(site, "numpy.libs")):
            theirs.append(os.path.basename(path))
        elif under(real, build, SOURCE, BUILD):
            wrong.append(path)
        elif os.path.basename(path) in allowed:
            system.append(os.path.basename(path))
        else:
            wrong.append(path)
    check(not wrong and any(o.startswith("libdnnl") for o in ours),
          "(d) import floe + encode mapped %d shared objects from the venv's floe/ and "
          "floe.libs/ (oneDNN's copy among them), %d of Python's or numpy's, and of the "
          "system only the policy's (%s)%s" % (
              len(ours), len(theirs), " ".join(sorted(system)),
              "; from elsewhere: %s" % wrong if wrong else ""))

    # (e) the in-tree build's vectors and token ids.
    got = np.load(out)
    ref = floe_embed(MINILM, [{"text": t} for t in texts], "--dtype", "float32")
    cos = cosine_rows(ref, got)
    same = got.shape == ref.shape and bool(np.array_equal(got, ref))
    check(got.shape == ref.shape and cos.min() >= 0.999999,
          "(e) the venv's %s vectors against `floe embed --dtype float32` of the in-tree "
          "build: min cosine %.9f, max |diff| %.2g, %s" % (
              got.shape, cos.min(), float(np.abs(got - ref).max()),
              "bit-equal" if same else "not bit-equal"))
    inp = "".join(json.dumps({"text": t}) + "\n" for t in texts)
    r = subprocess.run([FLOE, "tokenize", "--model", MINILM], input=inp.encode(),
                       capture_output=True)
    if r.returncode != 0:
        fail("floe tokenize: " + r.stderr.decode()[-2000:])
    ids = [json.loads(l)["ids"] for l in r.stdout.decode().splitlines()]
    check(ids == seen["ids"], "(e) token ids equal `floe tokenize` on %d texts" % len(texts))
    print("python_manylinux: all checks passed", flush=True)


if __name__ == "__main__":
    main()
