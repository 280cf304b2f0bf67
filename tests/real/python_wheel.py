"""The floe wheel for the Python package tests (tests/real/python_*_test.py).

wheel() builds it with scripts/build-wheel.sh: `pip wheel --no-build-isolation` in the
pinned wheel environment (python/requirements/wheel.txt), then `auditwheel repair`, so
every test runs the manylinux wheel a user would install, with the libraries it links
inside (floe.libs/). Its CMake build folder is kept next to the floe binary under test
(python-package/cmake), and the compiler runs through ccache as `make build` does, so
the engine's objects are not compiled again. The wheel is copied to python-package/dist/
with a fingerprint of the package's sources (git's view of python/, src/, include/,
proto/, CMake files, pyproject.toml, the script): a later test of the same run reuses it
without building, and any source change builds again. A lock keeps concurrent tests
(ctest -j) from building at once. FLOE_PYTHON_WHEEL=PATH tests that wheel instead (built
elsewhere, e.g. by CI's `scripts/build-wheel.sh`).

installed() installs the wheel into a scratch folder and imports floe from there;
fresh_venv() makes an empty virtual environment with only the wheel's declared
dependencies (numpy, repacked from the pinned environment: no network)."""
import base64
import fcntl
import glob
import hashlib
import importlib.metadata
import os
import shutil
import subprocess
import sys
import time
import zipfile

from realutil import SCRATCH, SOURCE, check, fail

BUILD = os.path.join(os.path.dirname(os.environ["FLOE_BINARY"]), "python-package")
ENV_BIN = os.path.dirname(sys.executable)
SOURCES = ["python", "src", "include", "proto", "cmake", "CMakeLists.txt", "pyproject.toml",
           "scripts/build-wheel.sh"]


def _env():
    return dict(os.environ, PATH=ENV_BIN + os.pathsep + os.environ["PATH"],
                VIRTUAL_ENV=os.path.dirname(ENV_BIN), CMAKE_BUILD_PARALLEL_LEVEL="2")


def _fingerprint():
    """A hash of the sources the wheel is built from, as the working tree has them."""
    h = hashlib.sha256()
    r = subprocess.run(["git", "-C", SOURCE, "ls-files", "-c", "-o", "--exclude-standard",
                        "--", *SOURCES], capture_output=True, text=True)
    if r.returncode != 0:
        return None  # not a git checkout: always build
    for path in sorted(set(r.stdout.splitlines())):
        full = os.path.join(SOURCE, path)
        h.update(path.encode())
        try:
            st = os.stat(full)
            h.update(b"%d:%d" % (st.st_size, st.st_mtime_ns))
        except OSError:
            h.update(b"gone")
    return h.hexdigest()


_built = []


def wheel():
    """The path of a floe wheel built from this checkout (built or reused; one per
    process)."""
    if not _built:
        given = os.environ.get("FLOE_PYTHON_WHEEL")
        _built.append(_copy(given) if given else _wheel())
    return _built[0]


def _copy(whl):
    """The wheel copied into this test's scratch (another test may rebuild dist/)."""
    out = os.path.join(SCRATCH, "dist")
    os.makedirs(out, exist_ok=True)
    return shutil.copy(whl, out)


def _wheel():
    os.makedirs(BUILD, exist_ok=True)
    dist = os.path.join(BUILD, "dist")
    with open(os.path.join(BUILD, ".wheel.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        fp = _fingerprint()
        stamp = os.path.join(dist, "fingerprint")
        found = glob.glob(os.path.join(dist, "floe-*.whl"))
        if fp and len(found) == 1 and os.path.exists(stamp) and open(stamp).read() == fp:
            print("ok: reusing %s (sources unchanged)" % os.path.basename(found[0]), flush=True)
            return _copy(found[0])
        shutil.rmtree(dist, ignore_errors=True)
        t0 = time.time()
        r = subprocess.run([os.path.join(SOURCE, "scripts", "build-wheel.sh"), "-o", dist,
                            "--build-dir", os.path.join(BUILD, "cmake")],
                           env=dict({k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
                                    CMAKE_BUILD_PARALLEL_LEVEL="2"),
                           capture_output=True, text=True)
        if r.returncode != 0:
            fail("scripts/build-wheel.sh failed:\n" + r.stdout[-6000:] + r.stderr[-6000:])
        print(r.stderr.strip() + "\n" + r.stdout.strip(), flush=True)
        found = glob.glob(os.path.join(dist, "floe-*.whl"))
        check(len(found) == 1, "scripts/build-wheel.sh built %s in %.0f s" % (
            [os.path.basename(w) for w in found], time.time() - t0))
        if fp:
            with open(stamp, "w") as f:
                f.write(fp)
        return _copy(found[0])


def installed():
    """Installs the wheel into SCRATCH/site (no dependencies: the pinned environment
    has numpy) and returns the floe module imported from there."""
    whl = wheel()
    site = os.path.join(SCRATCH, "site")
    r = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--target",
                        site, whl], env=_env(), capture_output=True, text=True)
    if r.returncode != 0:
        fail("pip install --target failed:\n" + r.stdout[-4000:] + r.stderr[-4000:])
    sys.path.insert(0, site)
    import floe
    check(os.path.realpath(floe.__file__).startswith(os.path.realpath(site)),
          "floe imported from the installed wheel (%s)" % floe.__file__)
    return floe


def repack_installed(name, out_dir):
    """A wheel of distribution `name` as the pinned environment has it installed (its
    RECORD's files under site-packages, scripts and bytecode left out), so a fresh
    environment can `pip install --no-index` it without the network."""
    dist = importlib.metadata.distribution(name)
    info = os.path.basename(str(dist._path))  # NAME-VERSION.dist-info
    tags = [l.split(":", 1)[1].strip() for l in dist.read_text("WHEEL").splitlines()
            if l.startswith("Tag:")]
    site = os.path.dirname(str(dist._path))
    out = os.path.join(out_dir, "%s-%s-%s.whl" % (info[:-len("-" + dist.version + ".dist-info")],
                                                 dist.version, tags[0]))
    record = []
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:  # local: no compression
        for f in dist.files:
            rel = str(f)
            if rel.startswith("..") or "__pycache__" in rel or rel.endswith(".dist-info/RECORD"):
                continue
            data = open(os.path.join(site, rel), "rb").read()
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            record.append("%s,sha256=%s,%d" % (rel, digest.decode(), len(data)))
            z.writestr(rel, data)
        record.append(info + "/RECORD,,")
        z.writestr(info + "/RECORD", "\n".join(record) + "\n")
    return out


def fresh_venv(name="venv"):
    """An empty virtual environment (no pip, no system site-packages) with the floe
    wheel and its declared dependencies installed from a local folder only; returns
    its python."""
    whl = wheel()
    venv = os.path.join(SCRATCH, name)
    t0 = time.time()
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True)
    links = os.path.join(SCRATCH, name + "-wheels")
    os.mkdir(links)
    numpy_whl = repack_installed("numpy", links)
    py = os.path.join(venv, "bin", "python")
    r = subprocess.run([sys.executable, "-m", "pip", "--python", py, "install", "--no-index",
                        "--find-links", links, whl], env=_env(), capture_output=True,
                       text=True)
    if r.returncode != 0:
        fail("pip install into a fresh venv failed:\n" + r.stdout[-4000:] + r.stderr[-4000:])
    check(True, "fresh venv with %s and its dependencies from %s only (%.0f s)" % (
        os.path.basename(whl), os.path.basename(numpy_whl), time.time() - t0))
    return py
