#!/usr/bin/env bash
# The device check (DESIGN.md section 7): one short run on a machine with a GPU. Builds the GPU
# targets for sm_90, runs the GPU-vs-CPU tests, the CPU and CUDA backends side by side on MLP-orig
# (eager and with CUDA graph replay), the PyTorch reference on CUDA, and each CUDA op against its
# CPU twin, and prints summary.md last.
#
# Output contract (the device tool returns at most 8 files from $OUT, no deeper than two folders):
# $OUT gets exactly summary.md, test_gpu.log, bench_backends.jsonl, bench_graph.jsonl,
# bench_ops_cuda.jsonl, torch_cuda.json and logs.tar.gz (every other log); the logs are written to
# a scratch folder first. A failing test log's last 80 lines also go to stdout.
# Budget: GPU_CHECK_BUDGET seconds from the start (default 470, under 8 minutes with the build),
# shared by the steps, most valuable first, so a slow step cannot cost the later ones their output.
# On a machine without a GPU the GPU tests report Skipped and the CUDA rows are absent: that is
# how it is rehearsed. On the lent machine (no network, no Debian build packages): run
# tools/gpu_bundle.sh here first, then the device tool's run with command "tools/gpu_check.sh"
# and carry [".gpu_deps"].
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/gpu_results}
LOGS=$PWD/build-gpu/logs
rm -rf "$LOGS"
mkdir -p "$OUT" "$LOGS"
t0=$(date +%s)
deadline=$(( t0 + ${GPU_CHECK_BUDGET:-470} ))
export OMP_WAIT_POLICY=PASSIVE  # spinning OpenMP workers stall when cores are shared
nvidia-smi >"$LOGS/nvidia-smi.txt" 2>&1 || echo "no nvidia-smi" >"$LOGS/nvidia-smi.txt"
commit=$(git rev-parse HEAD 2>/dev/null || head -2 .gpu_deps/commit.txt 2>/dev/null | tr '\n' ' ' || echo unknown)

# Data: data/ when present, else the compressed copy gpu_bundle.sh packed (the loaders read .gz).
if [ ! -f data/mnist/train-images-idx3-ubyte ] && [ ! -f data/mnist/train-images-idx3-ubyte.gz ]; then
  if [ -d .gpu_deps/data/mnist ]; then
    mkdir -p data/mnist && cp .gpu_deps/data/mnist/*.gz data/mnist/
  else
    tools/fetch_data.sh >"$LOGS/fetch_data.log" 2>&1
  fi
fi

step_times=""
stamp() { step_times="$step_times $1=$(( $(date +%s) - t0 ))s"; }

# The GPU image lacks the Debian build dependencies: .gpu_deps/ holds them.
deps=()
if [ -d .gpu_deps ]; then
  deps=(-DCMAKE_PREFIX_PATH="$PWD/.gpu_deps" -DZLIB_ROOT="$PWD/.gpu_deps" -DZLIB_USE_STATIC_LIBS=ON)
fi
gen=()
command -v ninja >/dev/null && gen=(-G Ninja)  # GNU make is not promised on the image
[ -f build-gpu/CMakeCache.txt ] && gen=()      # keep the generator an earlier run chose
build_rc=0
cmake -S . -B build-gpu "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90 "${deps[@]}" \
  >"$LOGS/configure.log" 2>&1 || build_rc=$?
# Only what the check runs (test_l2o would pull in the tools and test discovery).
[ "$build_rc" = 0 ] && { cmake --build build-gpu -j"$(nproc)" --target test_gpu bench_backends bench_ops_cuda \
  >"$LOGS/build.log" 2>&1 || build_rc=$?; }
stamp build
warnings=$(grep -ciE "warning" "$LOGS/build.log" 2>/dev/null)
warnings=${warnings:-0}

capped() {  # capped CAP_SECONDS command...: runs it under timeout min(CAP, time left - 10)
  local cap=$1 left
  shift
  left=$(( deadline - $(date +%s) - 10 ))
  if [ "$left" -lt 20 ]; then
    echo "skipped: the time budget is spent" >&2
    return 124
  fi
  timeout $(( cap < left ? cap : left )) "$@"
}

gpu_rc=125 bench_rc=125 graph_rc=125 torch_rc=125 ops_rc=125 sync_rc=""
if [ "$build_rc" = 0 ]; then
  # Most valuable first: correctness, the two GPU targets, then the per-kernel table.
  (cd build-gpu && capped 200 ./test_gpu --durations yes >"$LOGS/test_gpu.log" 2>&1)
  gpu_rc=$?
  stamp test_gpu
  if [ "$gpu_rc" != 0 ] && [ "$gpu_rc" != 77 ]; then
    # Again to the first failure with a synchronise after every launch: an asynchronous CUDA error
    # then names the launch that caused it (kernels/cuda_check.cuh). In logs.tar.gz.
    (cd build-gpu && L2O_CUDA_SYNC=1 capped 90 ./test_gpu --abort >"$LOGS/test_gpu_sync.log" 2>&1)
    sync_rc=$?
    stamp test_gpu_sync
  fi
  capped 120 build-gpu/bench_backends --backends cpu,cuda --tasks 1,8 --rounds 5 --eval-steps 10 --max-seconds 60 \
    --data-dir data --json "$OUT/bench_backends.jsonl" >"$LOGS/bench_backends.md" 2>"$LOGS/bench_backends.err"
  bench_rc=$?
  L2O_CUDA_GRAPH=1 capped 60 build-gpu/bench_backends --backends cuda --tasks 1,8 --rounds 10 --eval-steps 5 \
    --max-seconds 30 --data-dir data --json "$OUT/bench_graph.jsonl" >"$LOGS/bench_graph.md" 2>"$LOGS/bench_graph.err"
  graph_rc=$?
  stamp benches
  capped 90 python3 bench/reference/l2o_dm_torch.py --time 10 --device cuda --data data \
    >"$OUT/torch_cuda.json" 2>"$LOGS/torch_cuda.err"
  torch_rc=$?
  capped 90 build-gpu/bench_ops_cuda --max-seconds 45 --json "$OUT/bench_ops_cuda.jsonl" \
    >"$LOGS/bench_ops_cuda.md" 2>"$LOGS/bench_ops_cuda.err"
  ops_rc=$?
  stamp ops
else
  echo "gpu_check: the build failed (rc $build_rc); last lines:"
  tail -40 "$LOGS/configure.log" "$LOGS/build.log" 2>/dev/null
fi
[ -f "$LOGS/test_gpu.log" ] && cp "$LOGS/test_gpu.log" "$OUT/test_gpu.log"
if [ "$gpu_rc" != 0 ] && [ "$gpu_rc" != 77 ] && [ -f "$LOGS/test_gpu.log" ]; then
  echo "gpu_check: test_gpu failed (rc $gpu_rc); its last 80 lines:"
  tail -80 "$LOGS/test_gpu.log"
fi

torch_line=$(python3 - "$OUT/torch_cuda.json" "$OUT/bench_backends.jsonl" <<'PY' 2>/dev/null
import json, sys
t = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
ours = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
c = [r for r in ours if r["backend"] == "cuda" and r["tasks"] == 1]
ratio = t["median_ms"] / c[0]["median_ms_meta_iteration"] if c else float("nan")
print(f"PyTorch CUDA {t['median_ms']:.3f} ms per meta-iteration ({t['device']}), ours {c[0]['median_ms_meta_iteration']:.3f} ms: {ratio:.1f}x" if c else f"PyTorch CUDA {t['median_ms']:.3f} ms; no CUDA row of ours")
PY
)
rc_word() {  # rc_word RC: a word for a step's exit code
  case $1 in 0) echo ok ;; 77) echo "skipped (no device)" ;; 124) echo "timed out or skipped for time" ;;
    125) echo "not run (build failed)" ;; 2) echo "refused (rc 2: no backend could run, or bad input)" ;;
    *) echo "FAILED (rc $1, see logs.tar.gz)" ;; esac
}
stamp total
{
  echo "## gpu_check ${commit:0:12}, $(date -u +%FT%TZ), $(( $(date +%s) - t0 )) s"
  echo
  echo "- device: $(grep -m1 -oE 'NVIDIA [A-Z0-9 -]+' "$LOGS/nvidia-smi.txt" || echo none)"
  echo "- commit: $commit"
  echo "- build: $(rc_word "$build_rc"), lines matching 'warning': $warnings"
  echo "- test_gpu: $(rc_word "$gpu_rc"); $(grep -E '^(All tests passed|test cases:)' "$LOGS/test_gpu.log" 2>/dev/null | tail -1)"
  [ -n "$sync_rc" ] && echo "- test_gpu again with L2O_CUDA_SYNC=1 to its first failure: $(rc_word "$sync_rc"); $(grep -m1 -E 'CUDA error|FAILED' "$LOGS/test_gpu_sync.log" 2>/dev/null)"
  echo "- bench_backends: $(rc_word "$bench_rc"); with graphs: $(rc_word "$graph_rc")"
  echo "- bench_ops_cuda: $(rc_word "$ops_rc")$([ "$ops_rc" = 1 ] && echo ': a verification failed or a CUDA error')"
  echo "- ${torch_line:-PyTorch CUDA reference: $(rc_word "$torch_rc") (see torch_cuda.err in logs.tar.gz)}"
  echo "- seconds since start:$step_times"
  echo
  cat "$LOGS/bench_backends.md" 2>/dev/null
  echo
  echo "CUDA Graph replay (L2O_CUDA_GRAPH=1):"
  echo
  cat "$LOGS/bench_graph.md" 2>/dev/null
  echo
  cat "$LOGS/bench_ops_cuda.md" 2>/dev/null
} >"$OUT/summary.md"
tar -czf "$OUT/logs.tar.gz" -C "$LOGS" . 2>/dev/null
cat "$OUT/summary.md"
[ "$gpu_rc" = 0 ] || [ "$gpu_rc" = 77 ]
