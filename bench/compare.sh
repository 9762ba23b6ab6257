#!/usr/bin/env bash
# L2O-DM meta-training on MLP-orig: cross-check against the PyTorch reference, then time ours
# against it side by side on this CPU.
#
#   BUILD=build-ref bench/compare.sh
#
# Environment (defaults in brackets):
#   BUILD    build directory holding (or to hold) bench_meta_dump_cpu [build]; configured if it has
#            no CMakeCache.txt, then only the bench_meta_dump_cpu target is built
#   DATA     directory holding mnist/t10k-*-ubyte [data]
#   SEED     seed of phi, theta_0 and the minibatches for the cross-check [0]
#   THREADS  thread counts to time, space-separated [$(nproc)]; each run gets OMP_NUM_THREADS=T and
#            torch.set_num_threads(T)
#   ITERS    meta-iterations per timed run (after 1 warm-up) [5]
#   ROUNDS   alternating ours/torch pairs per thread count [3]
#   OMP_WAIT_POLICY  passed to both [PASSIVE]: on a shared machine libgomp's default spin-waiting
#            stalls when a worker is descheduled (torch's many small parallel regions measured 10x
#            slower here with ACTIVE)
#   PYTHON   [/usr/bin/python3], the interpreter Debian's python3-torch installs for
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=${BUILD:-build}
DATA=${DATA:-data}
SEED=${SEED:-0}
THREADS=${THREADS:-$(nproc)}
ITERS=${ITERS:-5}
ROUNDS=${ROUNDS:-3}
PYTHON=${PYTHON:-/usr/bin/python3}
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
REF=bench/reference/l2o_dm_torch.py
BIN=$BUILD/bench_meta_dump_cpu

"$PYTHON" -c 'import torch' 2>/dev/null || {
  echo "compare.sh: $PYTHON cannot import torch (apt-get install python3-torch libopenblas0-pthread)" >&2
  exit 2
}

# --- build ------------------------------------------------------------------------
if [ ! -f "$BUILD/CMakeCache.txt" ]; then
  cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >&2
fi
cmake --build "$BUILD" -j "$(nproc)" --target bench_meta_dump_cpu >&2

# --- cross-check ------------------------------------------------------------------
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$BIN" "$tmp/dump.safetensors" "$DATA" --seed "$SEED"
if ! "$PYTHON" "$REF" "$tmp/dump.safetensors" --data "$DATA" | tee "$tmp/check.txt"; then
  echo "compare.sh: cross-check FAILED; not timing" >&2
  exit 1
fi
check_json=$(grep '^{"check"' "$tmp/check.txt")

# --- timing -----------------------------------------------------------------------
field() { "$PYTHON" -c 'import json,sys; d=json.loads(sys.argv[1]); v=d[sys.argv[2]]; print(v if not isinstance(v,list) else ",".join(v))' "$1" "$2"; }

declare -A ours_ms torch_ms
blas="" torch_ver=""
for t in $THREADS; do
  for r in $(seq 1 "$ROUNDS"); do
    o=$(OMP_NUM_THREADS=$t "$BIN" --time "$ITERS" - "$DATA" --seed "$SEED")
    echo "# $o"
    p=$(OMP_NUM_THREADS=$t "$PYTHON" "$REF" --time "$ITERS" --threads "$t" --data "$DATA" --seed "$SEED")
    echo "# $p"
    ours_ms[$t,$r]=$(field "$o" median_ms)
    torch_ms[$t,$r]=$(field "$p" median_ms)
    blas=$(field "$p" blas)
    torch_ver=$(field "$p" torch)
  done
done

# --- table ------------------------------------------------------------------------
{
  echo "## L2O-DM meta-iteration on MLP-orig (n = 15,910 coordinates, 20 steps), CPU"
  echo
  echo "$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p'), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "torch $torch_ver, BLAS $blas, OMP_WAIT_POLICY=$OMP_WAIT_POLICY, $ITERS timed iterations per run (median), $ROUNDS alternating rounds"
  echo "cross-check (seed $SEED): $check_json"
  echo
  echo "| threads | round | ours (ms) | PyTorch (ms) | PyTorch / ours |"
  echo "|---|---|---|---|---|"
  for t in $THREADS; do
    ratios=() os=() ps=()
    for r in $(seq 1 "$ROUNDS"); do
      o=${ours_ms[$t,$r]} p=${torch_ms[$t,$r]}
      ratio=$("$PYTHON" -c "print(f'{$p/$o:.2f}')")
      ratios+=("$ratio") os+=("$o") ps+=("$p")
      echo "| $t | $r | $o | $p | $ratio |"
    done
    med() { "$PYTHON" -c 'import sys,statistics; print(f"{statistics.median(map(float,sys.argv[1:])):.2f}")' "$@"; }
    echo "| **$t** | **median** | **$(med "${os[@]}")** | **$(med "${ps[@]}")** | **$(med "${ratios[@]}")x** |"
  done
}
