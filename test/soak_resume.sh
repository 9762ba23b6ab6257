#!/usr/bin/env bash
# Kill-and-resume soak (docs/reliability.md): a short curriculum + imitation run on the quadratic is
# killed with SIGKILL at random times (fixed seed), restarted each time (--resume once a training
# state exists, else from the spec, as a user would), until it finishes. Its checkpoints must be
# byte-identical to an uninterrupted run's, and metrics.jsonl must hold the same lines apart from
# the "seconds" timing field; no *.tmp.<pid> file may be left behind.
#
# usage: test/soak_resume.sh BIN_DIR [SEED] [KILLS] [ROUNDS]
#   BIN_DIR  the folder holding l2o_train;  SEED  seeds the kill times (default 7);  KILLS  the
#   number of kills to aim for per round (default 25; a round may finish before that);  ROUNDS
#   rounds with seeds SEED, SEED+1, ... (default 4).
set -u
bin=${1:?usage: soak_resume.sh BIN_DIR [SEED] [KILLS] [ROUNDS]}
seed=${2:-7}
kills_wanted=${3:-25}
rounds=${4:-4}
train="$bin/l2o_train"
[ -x "$train" ] || { echo "soak_resume: $train not found" >&2; exit 2; }
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}

work=$(mktemp -d "${TMPDIR:-/tmp}/l2o_soak.XXXXXX")
trap '[ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
spec=$work/spec.json
# specs/l2o_dm_quadratic.json scaled down, with curriculum and imitation (as test_trainer.cpp's
# resume test), a checkpoint every epoch so kills land in checkpoint writes as often as in epochs.
cat > "$spec" <<'EOF'
{
  "seed": 11,
  "problem": {"type": "quadratic", "count": 64, "dims": 10},
  "learner": {"type": "l2o_dm", "hidden": [8, 8], "preprocess": "identity", "output_scale": 0.1},
  "training": {"epochs": 120, "n_train": 20, "unroll": 10, "meta_optimizer": {"lr": 0.005}},
  "validation": {"period": 4, "n_valid": 20, "rollouts": 4},
  "curriculum": {"enabled": true, "n_train": [10, 20, 40, 60], "period": 4, "patience": 3},
  "imitation": {"enabled": true, "ratio_per_stage": [0.3, 0.5]},
  "output": {"checkpoint_every": 1, "log_every": 1000}
}
EOF

ms() { echo $(( $(date +%s%N) / 1000000 )); }

# 1. The uninterrupted reference.
t0=$(ms)
if ! "$train" "$spec" --out "$work/ref" 2> "$work/ref.log"; then
  echo "soak_resume: the reference run failed:" >&2
  cat "$work/ref.log" >&2
  exit 1
fi
ref_ms=$(( $(ms) - t0 ))
[ "$ref_ms" -ge 50 ] || ref_ms=50

# 2. The same run, killed and restarted, in ROUNDS rounds (seeds SEED, SEED+1, ...). Kill delays
# are uniform in [0, 2 T / KILLS], T the reference's duration, so about KILLS kills fit before the
# run completes; before the first state exists they are uniform in [0, 40 ms], so start-up (the
# run directory, spec.json, init.safetensors, the first checkpoint) is interrupted too.
max_delay=$(( 2 * ref_ms / kills_wanted + 1 ))
interrupted_writes=0
soak_round() {  # soak_round SEED RUN_DIR LOG
  local round_seed=$1 run=$2 log=$3 kills=0 starts=0 fresh_starts=0 delay pid rc args
  RANDOM=$round_seed
  while :; do
    if [ -f "$run/checkpoints/state.safetensors" ]; then
      args=(--resume "$run")
      delay=$(( (RANDOM * 32768 + RANDOM) % max_delay ))
    else
      args=("$spec" --out "$run")
      fresh_starts=$((fresh_starts + 1))
      delay=$(( RANDOM % 41 ))
    fi
    starts=$((starts + 1))
    if [ "$starts" -gt $((kills_wanted * 4 + 10)) ]; then
      echo "soak_resume: no completion after $starts starts (seed $round_seed)" >&2
      tail -20 "$log" >&2
      return 1
    fi
    "$train" "${args[@]}" 2>> "$log" &
    pid=$!
    if [ "$kills" -lt "$kills_wanted" ]; then
      sleep "$(printf '%d.%03d' $((delay / 1000)) $((delay % 1000)))"
      if kill -0 "$pid" 2> /dev/null; then
        kill -KILL "$pid" 2> /dev/null
        wait "$pid" 2> /dev/null
        rc=$?
        if [ "$rc" -eq 137 ]; then
          kills=$((kills + 1))
          # A temp file left means the kill interrupted a write (the next start removes it).
          if [ -n "$(find "$run" -name '*.tmp.*' 2> /dev/null | head -1)" ]; then
            interrupted_writes=$((interrupted_writes + 1))
          fi
          echo "--- killed after ${delay} ms (kill $kills)" >> "$log"
          continue
        fi
      else
        wait "$pid"
        rc=$?
      fi
    else
      wait "$pid"
      rc=$?
    fi
    if [ "$rc" -ne 0 ]; then
      echo "soak_resume: l2o_train ${args[*]} exited with $rc after $kills kills (seed $round_seed):" >&2
      tail -20 "$log" >&2
      return 1
    fi
    break
  done
  round_note="$kills kills in $starts starts ($fresh_starts from the spec)"
}

# 3. The same files, byte for byte.
compare() {  # compare RUN_DIR
  local run=$1 f fail=0 left
  for f in checkpoints/init.safetensors checkpoints/latest.safetensors checkpoints/best.safetensors \
           checkpoints/state.safetensors spec.json; do
    if ! cmp -s "$work/ref/$f" "$run/$f"; then
      echo "soak_resume: $f differs from the uninterrupted run's" >&2
      fail=1
    fi
  done
  if ! diff <(strip_seconds "$work/ref/metrics.jsonl") <(strip_seconds "$run/metrics.jsonl") > "$run.metrics.diff"; then
    echo "soak_resume: metrics.jsonl differs from the uninterrupted run's (seconds aside):" >&2
    head -20 "$run.metrics.diff" >&2
    fail=1
  fi
  left=$(find "$run" -name '*.tmp.*' | head -5)
  if [ -n "$left" ]; then
    echo "soak_resume: temp files left behind: $left" >&2
    fail=1
  fi
  return $fail
}
strip_seconds() { sed -E 's/"seconds":[-+0-9.eE]+,?//; s/,}/}/' "$1"; }

status=0
for ((k = 0; k < rounds; k++)); do
  s=$((seed + k))
  round_note=""
  if soak_round "$s" "$work/run$k" "$work/run$k.log" && compare "$work/run$k"; then
    verdict=identical
  else
    verdict=DIFFERENT
    status=1
  fi
  echo "soak_resume: seed $s: $round_note, $(wc -l < "$work/ref/metrics.jsonl") metrics lines: $verdict"
done
echo "soak_resume: reference ${ref_ms} ms; $interrupted_writes kills interrupted a checkpoint write (temp file left)"
if [ "$status" != 0 ]; then
  echo "soak_resume: kept for inspection: $work.failed" >&2
  cp -a "$work" "$work.failed"
fi
exit "$status"
