#!/usr/bin/env bash
# The deployment files, checked offline with PyPI tools (python/requirements/deploy.txt):
# every Kubernetes manifest in deploy/kubernetes against the OpenAPI schemas of
# Kubernetes 1.37 (kubernetes-validate --strict: unknown fields fail too), the
# kustomization's resources exist, both Dockerfiles pass hadolint; and each check
# rejects a broken copy, so a checker that passes everything fails this test.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
env=$("$root/scripts/python-env.sh" deploy)
kv="$env/bin/kubernetes-validate"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

cd "$root/deploy/kubernetes"
manifests=()
for f in *.yaml; do [ "$f" = kustomization.yaml ] || manifests+=("$f"); done
"$kv" --strict --quiet "${manifests[@]}" || fail "a manifest does not match the schemas"
echo "ok   ${#manifests[@]} manifests match Kubernetes 1.37's schemas (strict)"

# Every resource the kustomization names exists, and every manifest is named.
"$env/bin/python" - "${manifests[@]}" <<'PY' || fail "kustomization.yaml and the manifests disagree"
import sys, yaml
k = yaml.safe_load(open("kustomization.yaml"))
named = set(k.get("resources", []))
files = set(sys.argv[1:])
missing, unnamed = named - files, files - named
if missing or unnamed:
    print("named but missing:", sorted(missing), "not named:", sorted(unnamed))
    sys.exit(1)
print("ok   kustomization.yaml names", len(named), "resources, all present")
PY

# Broken copies must fail: a wrong type and an unknown field.
sed 's/^\(  *\)replicas: .*/\1replicas: two/' deployment.yaml >"$work/wrong-type.yaml"
grep -q 'replicas: two' "$work/wrong-type.yaml" || fail "could not break deployment.yaml"
if "$kv" --strict --quiet "$work/wrong-type.yaml" >/dev/null 2>&1; then
  fail "kubernetes-validate accepted replicas: two"
fi
sed 's/^spec:$/spec:\n  replicaz: 2/' deployment.yaml >"$work/unknown-field.yaml"
if "$kv" --strict --quiet "$work/unknown-field.yaml" >/dev/null 2>&1; then
  fail "kubernetes-validate --strict accepted an unknown field"
fi
echo "ok   broken copies are rejected"

cd "$root"
"$env/bin/hadolint" Dockerfile Dockerfile.cuda || fail "hadolint"
echo "ok   hadolint: Dockerfile Dockerfile.cuda"
grep -v '^SHELL ' Dockerfile >"$work/Dockerfile.nopipefail"
if "$env/bin/hadolint" "$work/Dockerfile.nopipefail" >/dev/null 2>&1; then
  fail "hadolint accepted a pipe without pipefail"
fi
echo "PASS"
