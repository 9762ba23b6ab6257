#!/usr/bin/env bash
# The README's main job: set up, build, train the L2O-DM learner briefly on MLP-orig (CPU), then
# evaluate it against its untrained initialisation and Adam, and plot the curves.
# At a few minutes' budget the meta-loss alone does not get L2O-DM moving on MLP-orig
# (docs/results/README.md); imitation of Adam (the paper's imitation learning, r = 1) does, so the
# demo uses it. DEMO_IMITATION=0 trains on the plain meta-loss instead.
# A few minutes on 2 cores. Output: runs/demo/ (training run) and runs/demo_eval/ (curves, summary, plot).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh
tools/build.sh
epochs=${DEMO_EPOCHS:-60}
jobs=$(nproc)  # validation rollouts and evaluation seeds in parallel (the same results as one at a time)
rm -rf runs/demo runs/demo_eval
imitation=()
if [ "${DEMO_IMITATION:-1}" != 0 ]; then
  imitation=(--set imitation.enabled=true --set imitation.ratio=1.0
             --set 'imitation.teachers=[{"type":"adam","lr":0.01}]')
fi
build/l2o_train specs/l2o_dm.json --out runs/demo --set training.epochs="$epochs" \
  --set validation.period=20 --set validation.rollouts=5 "${imitation[@]}" --jobs "$jobs"
build/l2o_eval --optimizer runs/demo/checkpoints/best.safetensors,runs/demo/checkpoints/init.safetensors,adam \
  --lr 0.01 --problem mlp_orig --steps 500 --seeds 3 --jobs "$jobs" --out runs/demo_eval
tools/plot runs/demo_eval/curves.csv -o runs/demo_eval/mlp_orig.png --title "L2O-DM demo on MLP-orig"
echo "demo: summary in runs/demo_eval/summary.json, plot in runs/demo_eval/mlp_orig.png"
