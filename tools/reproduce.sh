#!/usr/bin/env bash
# Trains the paper's L2O-DM variants, RNNprop(-CL-IL) and L2O-Scale(-CL-IL), evaluates them, the hand-designed
# baselines and (AUTHORS=1, the default with --full) the authors' published models on the MLP and
# conv problems, and writes the report (tables, one figure per problem, and Figure A3's comparison of
# the enhanced L2O-DM with RNNprop and L2O-Scale and their enhanced versions).
#   tools/reproduce.sh          quick budgets (specs/*_quick.json, 3 seeds x 2000 steps; ~40 min on 2 cores)
#   tools/reproduce.sh --full   the paper's budgets (5,000 epochs each, 10 seeds x 10,000 steps; days on a CPU)
#   LR_GRID=0.1,0.01,0.001 tools/reproduce.sh   baselines pick their lr per problem (on separate seeds)
#   VARIANTS="l2o_dm rnnprop" tools/reproduce.sh  train and evaluate only these specs (without _quick)
#   JOBS=4 tools/reproduce.sh   seeds (and validation rollouts) run 4 at once (default: every core);
#                               the results are the same bytes for any JOBS
#   The conv optimizees (Conv-MNIST; Conv-CIFAR, or its MNIST stand-in when no CIFAR-10 copy is found)
#   are evaluated too, at CONV_SEEDS x CONV_STEPS (quick: 2 x 500, about 10 more minutes; full:
#   10 x 10,000); CONV=0 skips them.
# Output: runs/repro[_full]/<variant>/ (training runs), eval/, report/report.md and report/*.png.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=quick
[ "${1:-}" = "--full" ] && mode=full
tools/setup.sh
tools/build.sh

declare -A display=([l2o_dm]=L2O-DM [l2o_dm_aug]=L2O-DM-AUG [l2o_dm_cl]=L2O-DM-CL [l2o_dm_il]=L2O-DM-IL
                    [l2o_dm_cl_il]=L2O-DM-CL-IL [rnnprop]=RNNprop [rnnprop_cl_il]=RNNprop-CL-IL
                    [l2o_scale]=L2O-Scale [l2o_scale_cl_il]=L2O-Scale-CL-IL)
read -r -a variants <<<"${VARIANTS:-l2o_dm l2o_dm_aug l2o_dm_cl l2o_dm_il l2o_dm_cl_il rnnprop rnnprop_cl_il l2o_scale l2o_scale_cl_il}"
if [ "$mode" = quick ]; then
  out=runs/repro; suffix=_quick; steps=${STEPS:-2000}; seeds=${SEEDS:-3}; authors=${AUTHORS:-0}
else
  out=runs/repro_full; suffix=; steps=${STEPS:-10000}; seeds=${SEEDS:-10}; authors=${AUTHORS:-1}
fi
mkdir -p "$out"
jobs=${JOBS:-$(nproc)}

ckpts=(); maps=(); runs=()
for v0 in "${variants[@]}"; do
  [ -n "${display[$v0]:-}" ] || { echo "reproduce: unknown variant $v0" >&2; exit 2; }
  v=$v0$suffix
  if [ -f "$out/$v/checkpoints/state.safetensors" ]; then
    build/l2o_train --resume "$out/$v" --jobs "$jobs"  # finishes (or confirms) an earlier run
  else
    build/l2o_train "specs/$v.json" --out "$out/$v" --jobs "$jobs"
  fi
  ckpts+=("$out/$v/checkpoints/best.safetensors")
  maps+=(--label-map "l2o:$v/best=${display[$v0]}")
  runs+=(--run "${display[$v0]}=$out/$v")
done
# The authors' published models (docs/results/authors_models/), labelled "<variant> (authors)".
if [ "$authors" = 1 ]; then
  for a in dm:L2O-DM dm_aug:L2O-DM-AUG dm_cl:L2O-DM-CL dm_il:L2O-DM-IL dm_cl_il:L2O-DM-CL-IL \
           rnnprop:RNNprop rnnprop_cl_il:RNNprop-CL-IL; do
    ckpts+=("docs/results/authors_models/checkpoints/${a%%:*}.safetensors")
    maps+=(--label-map "l2o:authors_models/${a%%:*}=${a#*:} (authors)")
  done
fi

optimizers=$(IFS=,; echo "${ckpts[*]}")
build/l2o_eval --optimizer "$optimizers" --problem mlp_orig,mlp_relu,mlp_deeper \
  --steps "$steps" --seeds "$seeds" --jobs "$jobs" --out "$out/eval_learned"
lr_args=(--lr 0.01)
[ -n "${LR_GRID:-}" ] && lr_args=(--lr-grid "$LR_GRID")
build/l2o_eval --optimizer adam,sgd,adagrad,rmsprop "${lr_args[@]}" --problem mlp_orig,mlp_relu,mlp_deeper \
  --steps "$steps" --seeds "$seeds" --jobs "$jobs" --out "$out/eval_baselines"
evals=(--eval "$out/eval_learned" --eval "$out/eval_baselines")
if [ "${CONV:-1}" != 0 ]; then
  # Conv-MNIST costs ~40 ms a step on the CPU, hence a smaller budget for the conv nets in quick mode.
  if [ "$mode" = quick ]; then conv_steps=${CONV_STEPS:-500}; conv_seeds=${CONV_SEEDS:-2}
  else conv_steps=${CONV_STEPS:-10000}; conv_seeds=${CONV_SEEDS:-10}; fi
  conv_problems=conv_mnist,conv_cifar_standin  # the stand-in: Conv-CIFAR on MNIST padded to 32x32x3
  [ -f "${L2O_DATA_DIR:-./data}/cifar-10-batches-bin/test_batch.bin" ] && conv_problems=conv_mnist,conv_cifar
  build/l2o_eval --optimizer "$optimizers" --problem "$conv_problems" \
    --steps "$conv_steps" --seeds "$conv_seeds" --jobs "$jobs" --out "$out/eval_learned_conv"
  build/l2o_eval --optimizer adam,sgd,adagrad,rmsprop "${lr_args[@]}" --problem "$conv_problems" \
    --steps "$conv_steps" --seeds "$conv_seeds" --jobs "$jobs" --out "$out/eval_baselines_conv"
  evals+=(--eval "$out/eval_learned_conv" --eval "$out/eval_baselines_conv")
fi
a3="L2O-DM,L2O-DM-CL-IL,RNNprop,RNNprop-CL-IL,L2O-Scale,L2O-Scale-CL-IL"
[ "$authors" = 1 ] && a3="$a3,L2O-DM-CL-IL (authors),RNNprop (authors),RNNprop-CL-IL (authors)"
tools/report "${evals[@]}" --out "$out/report" "${maps[@]}" "${runs[@]}" --figure "figure_a3=$a3" \
  --title "L2O-DM, RNNprop and L2O-Scale variants ($mode budgets), built from $(grep -o '"[^"]*"' build/generated/l2o_version.h)"
echo "reproduce: report in $out/report/report.md"
