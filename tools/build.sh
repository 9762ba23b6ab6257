#!/usr/bin/env bash
# Configure and build (Release; the CUDA backend too when nvcc is found). Extra arguments go to cmake.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release "$@" >build.log 2>&1 || { cat build.log; exit 1; }
cmake --build build -j"$(nproc)" >>build.log 2>&1 || { tail -50 build.log; exit 1; }
grep -E "l2o: CUDA backend" build.log || true
