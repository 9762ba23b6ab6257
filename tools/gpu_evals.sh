#!/usr/bin/env bash
# Full-protocol evaluations on a lent GPU, for the device time left after tools/gpu_check.sh on
# the same warm machine (which configured build-gpu/ and unpacked the data): builds l2o_eval there,
# runs docs/results/full/evaluate.sh on the GPU for at most BUDGET seconds (default 240; an
# evaluation cut short is dropped), and packs each finished one (summary.json, curves_thin.csv)
# into $OUT/evals.tar.gz: one file, as the device tool returns at most 8.
#   run(command="tools/gpu_evals.sh", carry=[".gpu_deps"], timeout_s=300)
# ONLY and NEW_ONLY pass through to evaluate.sh (defaults ONLY=conv NEW_ONLY=1: the evaluations
# that cost the CPU most, 20-60 minutes each there). Back here:
#   mkdir -p runs/eval && tar -xzf <files_at>/evals.tar.gz -C runs/eval && docs/results/full/make_report.sh
# BACKEND and BUILD (defaults cuda, build-gpu) let it be rehearsed on a machine without a GPU.
# JOBS passes through too: BACKEND=cpu JOBS=14 spends the lent machine's 16 CPU cores instead
# (10 seeds at once: a Conv-CIFAR stand-in cell in about 4 minutes, Conv-MNIST in about 9).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/gpu_results}
BUILD=${BUILD:-build-gpu}
mkdir -p "$OUT"
[ -f "$BUILD/CMakeCache.txt" ] || {
  echo "gpu_evals: no $BUILD/CMakeCache.txt: run tools/gpu_check.sh first on this machine" >&2
  exit 2
}
cmake --build "$BUILD" -j"$(nproc)" --target l2o_eval >"$OUT/gpu_evals_build.log" 2>&1 || {
  echo "gpu_evals: building l2o_eval failed; last lines:" >&2
  tail -30 "$OUT/gpu_evals_build.log" >&2
  exit 1
}
export L2O_DATA_DIR=${L2O_DATA_DIR:-$PWD/data} BACKEND=${BACKEND:-cuda} BIN=$BUILD/l2o_eval
export ONLY=${ONLY-conv} NEW_ONLY=${NEW_ONLY-1}
# timeout signals the whole process group, so the running l2o_eval stops with evaluate.sh.
timeout "${BUDGET:-240}" docs/results/full/evaluate.sh 2>&1 | tee "$OUT/gpu_evals.log"
files=()
for d in runs/eval/*/; do
  d=${d%/}
  [ -f "$d/summary.json" ] || continue  # cut short: l2o_eval writes summary.json last
  files+=("$(basename "$d")/summary.json")
  [ -f "$d/curves_thin.csv" ] && files+=("$(basename "$d")/curves_thin.csv")
done
if [ ${#files[@]} -eq 0 ]; then
  echo "gpu_evals: no evaluation finished within ${BUDGET:-240} s" | tee -a "$OUT/gpu_evals.log"
  exit 1
fi
tar -czf "$OUT/evals.tar.gz" -C runs/eval "${files[@]}"
echo "gpu_evals: $(( ${#files[@]} )) files of finished evaluations in $OUT/evals.tar.gz" | tee -a "$OUT/gpu_evals.log"
