#!/usr/bin/env bash
# The full-budget runs across sessions on fresh machines (README.md here): build once, start or
# resume runs in the background, copy their small files back here to commit.
#   docs/results/full/long_runs.sh build
#       builds l2o_train and l2o_eval for x86-64-v3 (CPU only) into build-v3/ and copies them to
#       runs/bin/, so that edits and rebuilds never touch a running binary, and a run resumes bit for
#       bit on any AVX2 machine (docs/reliability.md, "Resuming")
#   docs/results/full/long_runs.sh start NAME [SPEC [--set KEY=VALUE ...]]
#       resumes runs/NAME, first copying it from runs/NAME here when this machine has none; with no
#       run anywhere, starts SPEC (with its --set arguments) into runs/NAME. One thread, nice 10, in
#       the background; log runs/NAME.log
#   docs/results/full/long_runs.sh stop NAME [NAME ...]
#       asks each running run to stop (SIGTERM: it finishes its epoch and any validation, writes a
#       checkpoint and exits) and waits for it, so a sync afterwards loses nothing
#   docs/results/full/long_runs.sh sync NAME [NAME ...]
#       copies each run's spec.json, metrics.jsonl and checkpoints/*.safetensors here and stages them
#       (git add); commit them every hour or so and before the session ends
#   docs/results/full/long_runs.sh status
#       each run on this machine: running or not, and its log's last line
set -euo pipefail
cd "$(dirname "$0")/../../.."
here=docs/results/full/runs
cmd=${1:-}
shift || true
case "$cmd" in
  build)
    tools/setup.sh
    cmake -S . -B build-v3 -DCMAKE_BUILD_TYPE=Release -DL2O_ENABLE_CUDA=OFF -DL2O_MARCH=x86-64-v3 >/dev/null
    cmake --build build-v3 -j"$(nproc)" --target l2o_train l2o_eval >/dev/null
    mkdir -p runs/bin
    for b in l2o_train l2o_eval; do  # a new file renamed over the old: a running binary keeps its own
      cp build-v3/$b runs/bin/.$b.new && mv -f runs/bin/.$b.new runs/bin/$b
    done
    echo "long_runs: runs/bin/l2o_train and l2o_eval, $(grep -o '"[0-9a-f]*"' build-v3/generated/l2o_version.h)"
    ;;
  start)
    name=${1:?usage: long_runs.sh start NAME [SPEC [--set KEY=VALUE ...]]}
    shift
    [ -x runs/bin/l2o_train ] || { echo "long_runs: run \"long_runs.sh build\" first" >&2; exit 2; }
    if [ ! -d "runs/$name" ] && [ -d "$here/$name" ]; then
      mkdir -p runs && cp -r "$here/$name" "runs/$name"
    fi
    if [ -f "runs/$name/checkpoints/state.safetensors" ]; then
      args=(--resume "runs/$name")
    elif [ $# -ge 1 ]; then
      args=("$@" --out "runs/$name")
    else
      echo "long_runs: no run $name here or in $here: give its SPEC to start it" >&2
      exit 2
    fi
    L2O_DATA_DIR=${L2O_DATA_DIR:-$PWD/data} OMP_NUM_THREADS=1 \
      nohup nice -n 10 runs/bin/l2o_train "${args[@]}" >>"runs/$name.log" 2>&1 &
    echo "long_runs: $name running (pid $!), log runs/$name.log"
    ;;
  stop)
    [ $# -ge 1 ] || { echo "usage: long_runs.sh stop NAME [NAME ...]" >&2; exit 2; }
    pids=()
    for name in "$@"; do
      pid=$(pgrep -f -- "l2o_train (--resume runs/$name|.* --out runs/$name)( |\$)" || true)
      if [ -z "$pid" ]; then echo "long_runs: $name is not running"; continue; fi
      kill -TERM $pid && pids+=($pid) && echo "long_runs: $name (pid $pid) asked to stop; it ends its epoch first"
    done
    for pid in "${pids[@]}"; do
      while kill -0 "$pid" 2>/dev/null; do sleep 2; done
    done
    [ ${#pids[@]} -eq 0 ] || echo "long_runs: stopped; the logs' last lines say at which epoch"
    ;;
  sync)
    [ $# -ge 1 ] || { echo "usage: long_runs.sh sync NAME [NAME ...]" >&2; exit 2; }
    for name in "$@"; do
      src=runs/$name
      [ -f "$src/spec.json" ] || { echo "long_runs: $src is not a run directory" >&2; exit 2; }
      mkdir -p "$here/$name/checkpoints"
      cp "$src/spec.json" "$src/metrics.jsonl" "$here/$name/"
      cp "$src"/checkpoints/*.safetensors "$here/$name/checkpoints/"
      git add "$here/$name"
      echo "long_runs: $name: $(wc -l <"$src/metrics.jsonl") metrics lines staged"
    done
    ;;
  status)
    for log in runs/*.log; do
      [ -f "$log" ] || continue
      name=$(basename "$log" .log)
      [ -d "runs/$name" ] && [ -f "runs/$name/spec.json" ] || continue
      if pgrep -f -- "l2o_train (--resume runs/$name|.* --out runs/$name)( |\$)" >/dev/null; then st=running; else st=stopped; fi
      echo "$name ($st): $(tail -n 1 "$log")"
    done
    ;;
  *)
    sed -n '2,19p' "$0" >&2
    exit 2
    ;;
esac
