#!/usr/bin/env bash
# Fault test (issue 13): kills bin/train with SIGKILL at random moments KILLS times, resuming each
# time, and checks the promises after every kill and at the end:
#   - every visible checkpoint ckpt-*.bin reads back intact (magic, sizes, CRC) — never a torn one;
#   - the next start removes the killed run's temporary files, none is left at the end;
#   - the run resumed across all the kills ends with weights and momenta bit-identical to an
#     uninterrupted run.
#   usage: scripts/fault_test.sh BINDIR     env: KILLS (default 12), FAULT_SEED (default 1)
set -euo pipefail
bin=$1
kills=${KILLS:-12}
RANDOM=${FAULT_SEED:-1}
work=$(mktemp -d /tmp/cvg-fault.XXXXXX)
trap 'rm -rf "$work"' EXIT
export OMP_NUM_THREADS=1
cat > "$work/net.json" <<'JSON'
{"name": "faultnet", "input": [3, 32, 32], "layers": [
  {"name": "conv1", "type": "conv", "num_output": 8, "kernel_size": 5, "stride": 2, "weight_std": "msra"},
  {"name": "relu1", "type": "relu"},
  {"name": "pool1", "type": "maxpool", "kernel_size": 3, "stride": 2},
  {"name": "fc2", "type": "fc", "num_output": 32, "weight_std": "msra"},
  {"name": "relu2", "type": "relu"},
  {"name": "drop2", "type": "dropout"},
  {"name": "fc3", "type": "fc", "num_output": "classes"},
  {"name": "loss", "type": "softmax_loss"}],
 "solver": {"base_lr": 0.01, "batch": 16, "max_iter": 300, "stepsize": 100}}
JSON
train=("$bin/train" --net "$work/net.json" --data synthetic:512 --seeds 5 --iters 300 --snapshot 7 --device cpu --threads 1)
run="$work/killed/faultnet-seed5"
fail=0 reached=""
payload() {  # the bytes after the JSON header, without the CRC: every weight and momentum
  local hlen; hlen=$(od -An -t u8 -j 12 -N 8 "$1" | tr -d ' ')
  tail -c +$((21 + hlen)) "$1" | head -c -4
}
check_visible() {
  for ck in "$run"/ckpt-*.bin; do
    [ -e "$ck" ] || continue
    if ! "$bin/train" --export-npy "$ck" "$work/export" >/dev/null 2>"$work/err"; then
      echo "fault_test: FAILED: visible checkpoint $ck does not read back: $(cat "$work/err")"; fail=1
    fi
  done
}

t0=$(date +%s%N)
"${train[@]}" --out "$work/straight" >/dev/null 2>&1
# Kill after a random 0..3 T/KILLS, T = the uninterrupted run's time: the kills spread over the
# whole run on a fast machine as on a slow one.
span_ms=$(( ($(date +%s%N) - t0) / 1000000 * 3 / kills + 1 ))
straight=$(ls "$work/straight/faultnet-seed5"/ckpt-*.bin | tail -1)

for i in $(seq "$kills"); do
  "${train[@]}" --out "$work/killed" $( [ "$i" -gt 1 ] && echo --resume ) >/dev/null 2>"$work/run.err" &
  pid=$!
  ms=$(( (RANDOM * 32768 + RANDOM) % span_ms ))
  sleep "$((ms / 1000)).$(printf '%03d' $((ms % 1000)))"
  kill -KILL $pid 2>/dev/null || true
  wait $pid 2>/dev/null || true
  check_visible
  reached+=" $(ls "$run" 2>/dev/null | grep -c '^ckpt-.*\.bin$' || true)"
done
echo "fault_test: checkpoints visible after each kill:$reached"
# A temporary file as a kill during a write leaves it: the next start must remove it.
echo torn > "$run/ckpt-000000999.bin.tmp.12345"
"${train[@]}" --out "$work/killed" --resume >/dev/null 2>"$work/run.err" || { echo "fault_test: FAILED: final resume: $(cat "$work/run.err")"; exit 1; }
check_visible
if ls "$run" | grep -q '\.tmp\.'; then echo "fault_test: FAILED: temporary files left: $(ls "$run" | grep '\.tmp\.')"; fail=1; fi
resumed=$(ls "$run"/ckpt-*.bin | tail -1)
if [ "$(basename "$resumed")" != "$(basename "$straight")" ] || ! cmp -s <(payload "$straight") <(payload "$resumed"); then
  echo "fault_test: FAILED: $resumed (resumed across $kills kills) differs from the uninterrupted $straight"; fail=1
fi
[ $fail = 0 ] && echo "fault_test: $kills random kills: every visible checkpoint intact, no temporary file left, resumed run bit-identical ($(basename "$resumed"))"
exit $fail
