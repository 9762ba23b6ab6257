#!/usr/bin/env bash
# The command line that writes report.md. It reads the committed evaluations, eval/<name>/
# (summary.json, and curves_thin.csv where l2o_eval wrote one: evaluations of the fifth session on), after
# copying in those of this machine's runs/eval/<name>/ (evaluate.sh's l2o_eval output directories).
# Evaluations from before the thin curves have summary.json only: table cells without std or curve.
set -u
cd "$(dirname "$0")/../../.."
R=docs/results/full
for d in runs/eval/*/; do
  d=${d%/}; [ -f "$d/summary.json" ] || continue
  name=$(basename "$d"); mkdir -p "$R/eval/$name"
  cp "$d/summary.json" "$R/eval/$name/"
  [ -f "$d/curves_thin.csv" ] && cp "$d/curves_thin.csv" "$R/eval/$name/"
done
evals=()
for d in "$R"/eval/*/; do evals+=(--eval "${d%/}"); done
maps=(--label-map "l2o:l2o_dm/best=L2O-DM" --label-map "l2o:rnnprop/best=RNNprop" --label-map "l2o:l2o_dm_cl_il/best=L2O-DM-CL-IL" --label-map "l2o:l2o_dm_cl_il_seed0/best=L2O-DM-CL-IL" --label-map "l2o:rnnprop_cl_il/best=RNNprop-CL-IL"
      --label-map "l2o:l2o_dm_cl_seed0/best=L2O-DM-CL" --label-map "l2o:l2o_dm_il/best=L2O-DM-IL"
      --label-map "l2o:l2o_dm_cl_il_adam_seed0/best=L2O-DM-CL-IL (Adam teacher)"
      --label-map "l2o:l2o_dm_il_adam_seed0/best=L2O-DM-IL (Adam teacher)"
      --label-map "l2o:l2o_scale/best=L2O-Scale" --label-map "l2o:l2o_scale_cl_il/best=L2O-Scale-CL-IL"
      --label-map "l2o:l2o_scale_reset_state/best=L2O-Scale")
for a in dm:L2O-DM dm_aug:L2O-DM-AUG dm_cl:L2O-DM-CL dm_il:L2O-DM-IL dm_cl_il:L2O-DM-CL-IL rnnprop:RNNprop rnnprop_cl_il:RNNprop-CL-IL l2o_scale_cl_il:L2O-Scale-CL-IL; do
  maps+=(--label-map "l2o:authors_models/${a%%:*}=${a#*:} (authors)")
done
tools/report "${evals[@]}" --out "$R" "${maps[@]}" \
  --run "L2O-DM=$R/runs/l2o_dm" --run "L2O-DM-CL (seed 0, paused in stage 3)=$R/runs/l2o_dm_cl_seed0" \
  --run "L2O-DM-CL (seed 1, paused)=$R/runs/l2o_dm_cl_seed1" --run "L2O-DM-CL (seed 2, paused)=$R/runs/l2o_dm_cl_seed2" \
  --run "L2O-DM-CL-IL (seed 0)=$R/runs/l2o_dm_cl_il_seed0" --run "L2O-DM-CL-IL (seed 1)=$R/runs/l2o_dm_cl_il_seed1" \
  --run "L2O-DM-CL-IL (seed 2)=$R/runs/l2o_dm_cl_il_seed2" \
  --run "L2O-DM-CL-IL, Adam teacher (seed 0)=$R/runs/l2o_dm_cl_il_adam_seed0" \
  --run "L2O-DM-IL=$R/runs/l2o_dm_il" --run "L2O-DM-IL, Adam teacher (seed 0)=$R/runs/l2o_dm_il_adam_seed0" \
  --run "RNNprop=docs/results/rnnprop/runs/rnnprop" --run "RNNprop-CL-IL=docs/results/rnnprop/runs/rnnprop_cl_il" \
  --run "L2O-Scale=docs/results/l2o_scale/runs/l2o_scale" --run "L2O-Scale-CL-IL=docs/results/l2o_scale/runs/l2o_scale_cl_il" \
  --figure "figure_a3=L2O-DM,L2O-DM-CL-IL,L2O-DM-CL-IL (authors),RNNprop,RNNprop (authors),RNNprop-CL-IL,RNNprop-CL-IL (authors),L2O-Scale,L2O-Scale-CL-IL,L2O-Scale-CL-IL (authors)" \
  --summary "$R/claims.md" \
  --note "\"L2O-Scale\" is the best model (epoch 5) of the run that reset the learner's state every epoch (docs/results/l2o_scale/runs/l2o_scale_reset_state). The authors' recipe, with the state carried across epochs (runs/l2o_scale), picked epoch 5 too, and its weights differ from these by at most 2.5e-7, so it was not evaluated separately (docs/results/l2o_scale/README.md)." \
  --title "Reproduction at the supplement's budgets: results so far (issues 13, 17, 18)" 2>&1 | grep -v "matches no optimizer"
