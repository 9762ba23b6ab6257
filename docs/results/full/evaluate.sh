#!/usr/bin/env bash
# Every evaluation the report reads (make_report.sh), as l2o_eval commands: the full protocol, 10
# seeds x 10,000 steps on the official test split, one model (or the baselines) on one problem each,
# into runs/eval/<name>/. An evaluation is skipped when runs/eval/<name> already holds a
# summary.json, or when eval/<name> here holds one with its curves_thin.csv (so a fresh machine
# reruns just the evaluations whose curves were never committed). Sequential, one thread, nice 10.
# One cut short (a session's end) continues from its next seed when this runs again on the same
# machine and binary (its finished seeds wait in runs/eval/<name>/partial/).
#   docs/results/full/evaluate.sh                 all of them, in the order below
#   docs/results/full/evaluate.sh NAME...         just these, in this order (a name is
#                                                 <model prefix>_<problem>, as LIST=1 writes --out)
#   AFTER=PID docs/results/full/evaluate.sh ...   first waits for process PID to end (to queue behind
#                                                 a running evaluation or training run)
#   ONLY=mlp_relu docs/results/full/evaluate.sh   those whose name matches this (extended regex:
#                                                 ONLY='authors_dm_(aug|il)_mlp' for several)
#   NEW_ONLY=1 docs/results/full/evaluate.sh      skip those with any committed summary.json
#   LIST=1 docs/results/full/evaluate.sh          print what would run
#   BACKEND=cuda docs/results/full/evaluate.sh    on a GPU (default cpu; summary.json records it)
#   JOBS=8 docs/results/full/evaluate.sh          8 seeds at once, one thread each (default 1: these
#                                                 run beside the training runs); the same results
#   SYNC_PARTIALS=1 docs/results/full/evaluate.sh copies the finished seeds of evaluations cut short
#                                                 (runs/eval/<name>/partial/) to eval_partial/<name>/
#                                                 here and stages them, dropping those of finished
#                                                 evaluations; run it after stopping this script at a
#                                                 session's end. On a fresh machine this script puts
#                                                 them back, and l2o_eval adopts them once one of their
#                                                 seeds replays to the same bits (engine/evaluate.h)
# Binary: $BIN, else runs/bin/l2o_eval (long_runs.sh build: CPU only), else build/l2o_eval (the one
# with CUDA, taken for BACKEND=cuda).
set -euo pipefail
# One brace group, read whole before it runs: an edit to this file (while an evaluation runs for
# hours) cannot change what a running copy does next. Edit by writing a new file and renaming it.
{
cd "$(dirname "$0")/../../.."
here=docs/results/full
if [ -n "${SYNC_PARTIALS:-}" ]; then
  for d in "$here"/eval_partial/*/; do  # evaluations finished since: their seeds are in eval/ now
    [ -d "$d" ] || continue
    name=$(basename "$d")
    [ -f "runs/eval/$name/summary.json" ] || [ -f "$here/eval/$name/summary.json" ] && rm -rf "$d"
  done
  for d in runs/eval/*/partial/; do
    [ -d "$d" ] || continue
    name=$(basename "$(dirname "$d")")
    [ -f "runs/eval/$name/summary.json" ] && continue
    # A lr grid's selection seeds make a baseline cell's partials large: those stay on this machine.
    size=$(du -sk "$d" | cut -f1)
    if [ "$size" -gt 4096 ]; then echo "evaluate: $name: partial results of $size KB not kept" >&2; continue; fi
    rm -rf "$here/eval_partial/$name" && mkdir -p "$here/eval_partial" && cp -r "${d%/}" "$here/eval_partial/$name"
    echo "evaluate: $name: $(ls "$d" | wc -l) finished seeds kept in $here/eval_partial/$name" >&2
  done
  git add -A "$here/eval_partial" 2>/dev/null || true
  exit 0
fi
bin=${BIN:-runs/bin/l2o_eval}
[ -x "$bin" ] && [ "${BACKEND:-cpu}" != cuda ] || bin=${BIN:-build/l2o_eval}
[ -x "$bin" ] || { echo "evaluate: no $bin: run tools/build.sh (or long_runs.sh build, CPU only)" >&2; exit 2; }
A=docs/results/authors_models/checkpoints
# name prefix = model; each is evaluated on every problem below (name: <prefix>_<problem>).
models=(
  "ours_l2o_dm $here/runs/l2o_dm/checkpoints/best.safetensors"
  "ours_l2o_dm_cl_il $here/runs/l2o_dm_cl_il_seed0/checkpoints/best.safetensors"
  "authors_dm_cl_il $A/dm_cl_il.safetensors"
  "authors_dm $A/dm.safetensors"
  "authors_dm_aug $A/dm_aug.safetensors"
  "authors_dm_cl $A/dm_cl.safetensors"
  "authors_dm_il $A/dm_il.safetensors"
  "ours_l2o_dm_cl $here/runs/l2o_dm_cl_seed0/checkpoints/best.safetensors"
  "ours_l2o_dm_il $here/runs/l2o_dm_il/checkpoints/best.safetensors"
  "ours_l2o_dm_il_adam $here/runs/l2o_dm_il_adam_seed0/checkpoints/best.safetensors"
  "ours_l2o_dm_cl_il_adam $here/runs/l2o_dm_cl_il_adam_seed0/checkpoints/best.safetensors"
  "ours_rnnprop docs/results/rnnprop/runs/rnnprop/checkpoints/best.safetensors"
  "ours_rnnprop_cl_il docs/results/rnnprop/runs/rnnprop_cl_il/checkpoints/best.safetensors"
  "authors_rnnprop $A/rnnprop.safetensors"
  "authors_rnnprop_cl_il $A/rnnprop_cl_il.safetensors"
  "ours_l2o_scale_reset_state docs/results/l2o_scale/runs/l2o_scale_reset_state/checkpoints/best.safetensors"
  "ours_l2o_scale_cl_il_v2 docs/results/l2o_scale/runs/l2o_scale_cl_il/checkpoints/best.safetensors"
  "authors_l2o_scale_cl_il $A/l2o_scale_cl_il.safetensors"
  "baselines_now adam,rmsprop,sgd,momentum,adagrad"
)
problems=(mlp_orig mlp_relu mlp_deeper conv_cifar_standin conv_mnist)
export OMP_NUM_THREADS=1 L2O_DATA_DIR=${L2O_DATA_DIR:-$PWD/data}
# Every cell in the default order (problem by problem), as "name problem optimizer".
cells=()
for p in "${problems[@]}"; do
  for m in "${models[@]}"; do cells+=("${m%% *}_$p $p ${m#* }"); done
done
# Cells named on the command line: exactly those, in that order (a queue for the session's time).
if [ $# -gt 0 ]; then
  picked=()
  for want in "$@"; do
    found=
    for c in "${cells[@]}"; do [ "${c%% *}" = "$want" ] && { picked+=("$c"); found=1; break; }; done
    [ -n "$found" ] || { echo "evaluate: no evaluation named \"$want\" (LIST=1 shows them)" >&2; exit 2; }
  done
  cells=("${picked[@]}")
fi
if [ -n "${AFTER:-}" ] && [ -z "${LIST:-}" ]; then
  echo "evaluate: waiting for process $AFTER to end" >&2
  while kill -0 "$AFTER" 2>/dev/null; do sleep 15; done
fi
for c in "${cells[@]}"; do
  name=${c%% *}; rest=${c#* }; p=${rest%% *}; opt=${rest#* }; prefix=${name%_"$p"}
  [[ -z "${ONLY:-}" || "$name" =~ $ONLY ]] || continue
  [ -f "runs/eval/$name/summary.json" ] && continue
  [ -f "$here/eval/$name/summary.json" ] && [ -f "$here/eval/$name/curves_thin.csv" ] && continue
  [ -n "${NEW_ONLY:-}" ] && [ -f "$here/eval/$name/summary.json" ] && continue
  args=(--optimizer "$opt" --problem "$p" --steps 10000 --seeds 10 --backend "${BACKEND:-cpu}"
        --jobs "${JOBS:-1}" --out "runs/eval/$name")
  # The baselines pick their lr per problem on separate selection seeds (never the reported ones).
  [ "$prefix" = baselines_now ] && args+=(--lr-grid 0.001,0.003,0.01,0.03,0.1)
  if [ -n "${LIST:-}" ]; then echo "$bin ${args[*]}"; continue; fi
  mkdir -p runs/eval
  # Seeds an earlier session finished (SYNC_PARTIALS above), unless this machine has its own.
  if [ -d "$here/eval_partial/$name" ] && [ ! -d "runs/eval/$name/partial" ]; then
    mkdir -p "runs/eval/$name" && cp -r "$here/eval_partial/$name" "runs/eval/$name/partial"
  fi
  echo "evaluate: $name ($(date -u +%H:%M) UTC)" >&2
  nice -n 10 "$bin" "${args[@]}" >"runs/eval/$name.log" 2>&1 || {
    echo "evaluate: $name failed (runs/eval/$name.log):" >&2; tail -3 "runs/eval/$name.log" >&2; }
done
exit
}
