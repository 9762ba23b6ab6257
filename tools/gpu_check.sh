#!/usr/bin/env bash
# The device check (DESIGN.md section 7): one short run on a machine with a GPU. Builds for sm_90,
# runs the GPU tests and the benchmarks with a time cap, writes results under $OUT (default
# ./gpu_check_out) and prints a short table last. On a machine without a GPU the GPU tests report
# Skipped, which is how this script is rehearsed.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/gpu_check_out}
mkdir -p "$OUT"
nvidia-smi >"$OUT/nvidia-smi.txt" 2>&1 || echo "no nvidia-smi" >"$OUT/nvidia-smi.txt"

cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90 >"$OUT/configure.log" 2>&1 \
  || { tail -30 "$OUT/configure.log"; exit 1; }
cmake --build build-gpu -j"$(nproc)" >"$OUT/build.log" 2>&1 || { tail -50 "$OUT/build.log"; exit 1; }

ctest --test-dir build-gpu -L gpu --output-on-failure >"$OUT/ctest_gpu.log" 2>&1
gpu_rc=$?
timeout 120 build-gpu/bench_lstm_cpu 15910 5 >"$OUT/bench.jsonl" 2>"$OUT/bench.err"

{
  echo "| check | result |"
  echo "|---|---|"
  echo "| device | $(head -1 "$OUT/nvidia-smi.txt" | cut -c1-60) |"
  echo "| ctest -L gpu | $(grep -E 'tests passed|Skipped|Failed' "$OUT/ctest_gpu.log" | tail -1) (rc $gpu_rc) |"
  echo "| bench | $(cat "$OUT/bench.jsonl" | tr -d '\n') |"
} | tee "$OUT/summary.md"
