#!/usr/bin/env bash
# Prepares what the device check needs on the lent GPU machine, which cannot fetch anything and
# whose image has CUDA, CMake and a compiler but not this project's Debian build dependencies:
# copies the header-only libraries (Eigen, nlohmann/json, Catch2 v2) with their CMake package
# files, and zlib's headers and static library, into .gpu_deps/ (git-ignored), keeping the
# /usr layout so the package files find their headers relative to themselves; and makes sure the
# MNIST files, gzip-compressed (11 MB instead of 55 MB: the device tool carries 64 MiB in all), go
# into .gpu_deps/data/mnist/, and the commit of this tree into .gpu_deps/commit.txt (the device
# has no .git). Then, with the device tool:
#   run(command="tools/gpu_check.sh", carry=[".gpu_deps"], timeout_s=600)
# gpu_check.sh uses .gpu_deps/ as CMAKE_PREFIX_PATH and ZLIB_ROOT, and its data, when it is there.
set -euo pipefail
cd "$(dirname "$0")/.."
D=.gpu_deps
rm -rf "$D"
mkdir -p "$D/include" "$D/lib/cmake" "$D/share/cmake" "$D/share/eigen3"
cp -r /usr/include/eigen3 /usr/include/nlohmann /usr/include/catch2 "$D/include/"
cp /usr/include/zlib.h /usr/include/zconf.h "$D/include/"
cp /usr/lib/x86_64-linux-gnu/libz.a "$D/lib/"
cp /usr/lib/libCatch2WithMain.a "$D/lib/"  # Catch2's package file checks that it exists
cp -r /usr/share/eigen3/cmake "$D/share/eigen3/"
cp -r /usr/share/cmake/nlohmann_json "$D/share/cmake/"
cp -r /usr/lib/cmake/Catch2 "$D/lib/cmake/"
[ -f data/mnist/train-images-idx3-ubyte ] || tools/fetch_data.sh
mkdir -p "$D/data/mnist"
for f in data/mnist/*-ubyte; do gzip -9 -c "$f" >"$D/data/mnist/$(basename "$f").gz"; done
{ git rev-parse HEAD; git diff --quiet HEAD -- . ':!docs' || echo "(with uncommitted changes)"; } >"$D/commit.txt"
du -sh "$D"
