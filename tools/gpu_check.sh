#!/usr/bin/env bash
# The device check (DESIGN.md section 7): one short run on a machine with a GPU. Builds for sm_90,
# runs the GPU-vs-CPU tests, the CPU and CUDA backends side by side on MLP-orig, and each CUDA op
# against its CPU twin (bench_ops_cuda), and writes everything under $OUT (default ./gpu_results):
# logs, bench JSON lines, summary.md (printed last).
# On a machine without a GPU the GPU tests report Skipped and the CUDA rows are absent, which is how
# this script is rehearsed. Budget: well under 10 minutes (the build is most of it).
# On the lent machine (no network, no Debian build packages): run tools/gpu_bundle.sh here first,
# then the device tool's run with command "tools/gpu_check.sh" and carry ["data", ".gpu_deps"].
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/gpu_results}
mkdir -p "$OUT"
t0=$(date +%s)
nvidia-smi >"$OUT/nvidia-smi.txt" 2>&1 || echo "no nvidia-smi" >"$OUT/nvidia-smi.txt"
git rev-parse HEAD >"$OUT/commit.txt" 2>/dev/null || true
[ -f data/mnist/train-images-idx3-ubyte ] || tools/fetch_data.sh >"$OUT/fetch_data.log" 2>&1

# The GPU machine's image lacks the Debian build dependencies: tools/gpu_bundle.sh packs them
# into .gpu_deps/ here, and the device call carries it (with data/).
deps=()
if [ -d .gpu_deps ]; then
  deps=(-DCMAKE_PREFIX_PATH="$PWD/.gpu_deps" -DZLIB_ROOT="$PWD/.gpu_deps" -DZLIB_USE_STATIC_LIBS=ON)
fi
cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90 "${deps[@]}" >"$OUT/configure.log" 2>&1 \
  || { tail -30 "$OUT/configure.log"; exit 1; }
cmake --build build-gpu -j"$(nproc)" --target test_gpu test_l2o bench_backends bench_ops_cuda \
  >"$OUT/build.log" 2>&1 || { tail -50 "$OUT/build.log"; exit 1; }
grep -ciE "warning" "$OUT/build.log" >"$OUT/build_warnings.txt" || true

# Each step's timeout is capped by what is left of the budget (GPU_CHECK_BUDGET seconds from the
# start, default 560: the device tool stops a command at 600 s), so a slow step cannot cost the
# later ones their output; a step with under 20 s left is skipped and says so.
deadline=$(( t0 + ${GPU_CHECK_BUDGET:-560} ))
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

# Most valuable first: correctness, the two GPU targets (ms per meta-iteration; the ratio to
# PyTorch), then the per-kernel table.
# Every GPU test, with each test case's name and duration.
(cd build-gpu && capped 240 ./test_gpu --durations yes >"$OUT/test_gpu.log" 2>&1)
gpu_rc=$?
capped 150 build-gpu/bench_backends --backends cpu,cuda --tasks 1,8 --rounds 5 --eval-steps 10 --max-seconds 90 \
  --data-dir data --json "$OUT/bench_backends.jsonl" >"$OUT/bench_backends.md" 2>"$OUT/bench_backends.err"
bench_rc=$?
# The same with CUDA Graph replay of the segment, if this build supports it (ignored otherwise).
L2O_CUDA_GRAPH=1 capped 60 build-gpu/bench_backends --backends cuda --tasks 1,8 --rounds 10 --eval-steps 5 --max-seconds 30 \
  --data-dir data --json "$OUT/bench_graph.jsonl" >"$OUT/bench_graph.md" 2>"$OUT/bench_graph.err"

# The PyTorch reference on the GPU (the image's python3 has PyTorch with CUDA), for the 20x target.
capped 120 python3 bench/reference/l2o_dm_torch.py --time 10 --device cuda --data data \
  >"$OUT/torch_cuda.json" 2>"$OUT/torch_cuda.err"
# Each CUDA op verified against its CPU twin, then timed (rc 1: a verification failed).
capped 120 build-gpu/bench_ops_cuda --max-seconds 60 --json "$OUT/bench_ops_cuda.jsonl" >"$OUT/bench_ops_cuda.md" \
  2>"$OUT/bench_ops_cuda.err"
ops_rc=$?
torch_line=$(python3 - "$OUT/torch_cuda.json" "$OUT/bench_backends.jsonl" <<'PY' 2>/dev/null
import json, sys
t = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
ours = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
c = [r for r in ours if r["backend"] == "cuda" and r["tasks"] == 1]
ratio = t["median_ms"] / c[0]["median_ms_meta_iteration"] if c else float("nan")
print(f"PyTorch CUDA {t['median_ms']:.3f} ms per meta-iteration ({t['device']}), ours {c[0]['median_ms_meta_iteration']:.3f} ms: {ratio:.1f}x" if c else f"PyTorch CUDA {t['median_ms']:.3f} ms; no CUDA row of ours")
PY
)

case $gpu_rc in 0) gpu_result="passed" ;; 77) gpu_result="skipped (no device)" ;; 124) gpu_result="TIMED OUT or skipped for time (rc 124)" ;; *) gpu_result="FAILED (rc $gpu_rc)" ;; esac
case $ops_rc in
  0) ops_result="ok" ;;
  77) ops_result="skipped (no device)" ;;
  1) ops_result="verification FAILED or CUDA error (rc 1, see bench_ops_cuda.err)" ;;
  124) ops_result="timed out or skipped for time (see bench_ops_cuda.err)" ;;
  *) ops_result="FAILED (rc $ops_rc)" ;;
esac
{
  echo "## gpu_check $(cat "$OUT/commit.txt" 2>/dev/null | cut -c1-12), $(date -u +%FT%TZ), $(( $(date +%s) - t0 )) s"
  echo
  echo "- device: $(grep -m1 -oE 'NVIDIA [A-Z0-9 -]+' "$OUT/nvidia-smi.txt" || echo none)"
  echo "- build warnings (lines matching 'warning'): $(cat "$OUT/build_warnings.txt")"
  echo "- test_gpu: $gpu_result; $(grep -E '^(All tests passed|test cases:)' "$OUT/test_gpu.log" | tail -1)"
  echo "- bench_backends rc $bench_rc"
  echo "- bench_ops_cuda: $ops_result"
  echo "- ${torch_line:-PyTorch CUDA reference: did not run (see torch_cuda.err)}"
  echo
  cat "$OUT/bench_backends.md"
  echo
  echo "CUDA Graph replay (L2O_CUDA_GRAPH=1):"
  echo
  cat "$OUT/bench_graph.md"
  echo
  cat "$OUT/bench_ops_cuda.md"
} | tee "$OUT/summary.md"
[ "$gpu_rc" = 0 ] || [ "$gpu_rc" = 77 ]
