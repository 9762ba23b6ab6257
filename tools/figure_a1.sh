#!/usr/bin/env bash
# The supplement's Figure A1: plain L2O-DM (specs/l2o_dm.json) trained at several (N_train, N_valid)
# settings, RUNS runs (training seeds) each; every run's best model evaluated on MLP-orig; the final
# losses plotted per setting (tools/figure_a1). Reruns continue: a finished or interrupted run is
# resumed, an existing evaluation kept.
#   tools/figure_a1.sh                      reduced: 3 settings x 3 runs x 500 epochs, 10 seeds x 10,000 steps
#   EPOCHS=5000 RUNS=20 tools/figure_a1.sh  the supplement's budget and run count (days on 2 CPU cores)
#   SETTINGS="100:100 100:200 200:200"      N_train:N_valid pairs (multiples of the 20-step unroll)
#   JOBS=4 tools/figure_a1.sh               validation rollouts and evaluation seeds 4 at once (default 1;
#                                           the same results for any JOBS)
# Settings that share N_train share their training: the first trains, the others rescore its kept
# validation weights at their N_valid (l2o_rescore; runs trained before keep_validated existed train).
# Output: $OUT (runs/figure_a1) / <setting>_seed<r>/ (runs), eval/, figure_a1.png, figure_a1.md.
set -euo pipefail
cd "$(dirname "$0")/.."
SETTINGS=${SETTINGS:-"100:100 100:200 200:200"}
RUNS=${RUNS:-3}
EPOCHS=${EPOCHS:-500}
STEPS=${STEPS:-10000}
SEEDS=${SEEDS:-10}
OUT=${OUT:-runs/figure_a1}
BUILD=${BUILD:-build}
JOBS=${JOBS:-1}
[ -x "$BUILD/l2o_train" ] || { tools/setup.sh; tools/build.sh; }

evals=()
declare -A first_run=()  # N_train:run -> the run directory that trained it
for s in $SETTINGS; do
  nt=${s%%:*}; nv=${s#*:}
  [[ "$nt" =~ ^[0-9]+$ && "$nv" =~ ^[0-9]+$ && "$s" == *:* ]] || {
    echo "figure_a1: SETTINGS entry \"$s\": expected N_TRAIN:N_VALID" >&2; exit 2; }
  for ((r = 0; r < RUNS; r++)); do
    name=nt${nt}_nv${nv}_seed${r}
    run=$OUT/$name
    model=$run/checkpoints/best.safetensors
    # The first setting with this N_train trains (keeping its validations' weights); a later one with the
    # same N_train and run would train the same weights (N_valid only changes the validation), so it
    # takes what validating at its N_valid picks among them (l2o_rescore). Runs made otherwise resume.
    base=${first_run[$nt:$r]:-}
    if [ -f "$run/checkpoints/state.safetensors" ]; then
      "$BUILD/l2o_train" --resume "$run" --jobs "$JOBS"
    elif [ -n "$base" ] && [ -d "$base/checkpoints/validated" ]; then
      model=$run/picked.safetensors
      [ -f "$model" ] || { mkdir -p "$run" && "$BUILD/l2o_rescore" "$base" --n-valid "$nv" --jobs "$JOBS" \
        --best-out "$model.new" >"$run/rescore.md" && mv "$model.new" "$model"; }
    else
      "$BUILD/l2o_train" specs/l2o_dm.json --out "$run" --set seed="$r" --set training.epochs="$EPOCHS" \
        --set training.n_train="$nt" --set validation.n_valid="$nv" --set output.keep_validated=true --jobs "$JOBS"
    fi
    [ -n "$base" ] || first_run[$nt:$r]=$run
    ev=$OUT/eval/$name
    [ -f "$ev/summary.json" ] || "$BUILD/l2o_eval" --optimizer "$model" \
      --problem mlp_orig --steps "$STEPS" --seeds "$SEEDS" --jobs "$JOBS" --out "$ev"
    evals+=("$ev")
  done
done
tools/figure_a1 "${evals[@]}" -o "$OUT/figure_a1.png" --md "$OUT/figure_a1.md" \
  --title "L2O-DM on MLP-orig by N_train/N_valid: $RUNS run$([ "$RUNS" = 1 ] || echo s) x $EPOCHS epochs, $SEEDS seeds x $STEPS steps"
echo "figure_a1: $OUT/figure_a1.png and $OUT/figure_a1.md"
