#!/usr/bin/env bash
# Trains the paper's L2O-DM variants, evaluates them and the hand-designed baselines on the MLP
# problems, and writes the report (table + one figure per problem).
#   tools/reproduce.sh          quick budgets (specs/*_quick.json, 3 seeds x 2000 steps; ~30 min on 2 cores)
#   tools/reproduce.sh --full   the paper's budgets (5,000 epochs each, 10 seeds x 10,000 steps; days on a CPU)
#   LR_GRID=0.1,0.01,0.001 tools/reproduce.sh   baselines pick their lr per problem (on separate seeds)
# Output: runs/repro[_full]/<variant>/ (training runs), eval/, report/report.md and report/*.png.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=quick
[ "${1:-}" = "--full" ] && mode=full
tools/setup.sh
tools/build.sh

variants=(l2o_dm l2o_dm_aug l2o_dm_cl l2o_dm_il l2o_dm_cl_il)
names=(L2O-DM L2O-DM-AUG L2O-DM-CL L2O-DM-IL L2O-DM-CL-IL)
if [ "$mode" = quick ]; then
  out=runs/repro; suffix=_quick; steps=${STEPS:-2000}; seeds=${SEEDS:-3}
else
  out=runs/repro_full; suffix=; steps=${STEPS:-10000}; seeds=${SEEDS:-10}
fi
mkdir -p "$out"

ckpts=(); maps=()
for i in "${!variants[@]}"; do
  v=${variants[$i]}$suffix
  if [ -f "$out/$v/checkpoints/state.safetensors" ]; then
    build/l2o_train --resume "$out/$v"       # finishes (or confirms) an earlier run
  else
    build/l2o_train "specs/$v.json" --out "$out/$v"
  fi
  ckpts+=("$out/$v/checkpoints/best.safetensors")
  maps+=(--label-map "l2o:$v/best=${names[$i]}")
done

optimizers=$(IFS=,; echo "${ckpts[*]}")
build/l2o_eval --optimizer "$optimizers" --problem mlp_orig,mlp_relu,mlp_deeper \
  --steps "$steps" --seeds "$seeds" --out "$out/eval_learned"
lr_args=(--lr 0.01)
[ -n "${LR_GRID:-}" ] && lr_args=(--lr-grid "$LR_GRID")
build/l2o_eval --optimizer adam,sgd,adagrad,rmsprop "${lr_args[@]}" --problem mlp_orig,mlp_relu,mlp_deeper \
  --steps "$steps" --seeds "$seeds" --out "$out/eval_baselines"
tools/report --eval "$out/eval_learned" --eval "$out/eval_baselines" --out "$out/report" "${maps[@]}" \
  --title "L2O-DM variants ($mode budgets), built from $(grep -o '"[^"]*"' build/generated/l2o_version.h)"
echo "reproduce: report in $out/report/report.md"
