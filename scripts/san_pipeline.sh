#!/usr/bin/env bash
# The tools built with AddressSanitizer + UBSan (BINDIR, from `make san-test`): a short
# train / correlate / align / match pipeline, then the tool-level hostile inputs of issue 13, each
# checked for its exit code and message. Any sanitizer report aborts the tool and fails this script.
#   usage: scripts/san_pipeline.sh BINDIR
set -euo pipefail
bin=$1
work=$(mktemp -d /tmp/cvg-san.XXXXXX)
trap 'rm -rf "$work"' EXIT
net=fuzz/corpus/config/tiny.json
fail=0
# expect CODE PATTERN CMD...: CMD exits with CODE and its stderr matches PATTERN (grep -E).
expect() {
  local code=$1 pattern=$2; shift 2
  local rc=0
  "$@" >"$work/out" 2>"$work/err" || rc=$?
  if [ "$rc" != "$code" ] || ! grep -qE -- "$pattern" "$work/err"; then
    echo "san_pipeline: FAILED: $* -> exit $rc (want $code), stderr:"; head -5 "$work/err"; fail=1
  fi
}

# 1. The pipeline: two tiny nets on synthetic data, correlated, aligned, matched.
data=synthetic:64
cat > "$work/net.json" <<'JSON'
{"name": "sannet", "input": [3, 32, 32], "layers": [
  {"name": "conv1", "type": "conv", "num_output": 4, "kernel_size": 5, "stride": 3, "weight_std": "msra"},
  {"name": "relu1", "type": "relu"},
  {"name": "pool1", "type": "maxpool", "kernel_size": 3, "stride": 2},
  {"name": "norm1", "type": "lrn", "local_size": 3},
  {"name": "fc2", "type": "fc", "num_output": 8, "weight_std": "msra"},
  {"name": "relu2", "type": "relu"},
  {"name": "drop2", "type": "dropout"},
  {"name": "fc3", "type": "fc", "num_output": "classes"},
  {"name": "loss", "type": "softmax_loss"}],
 "solver": {"base_lr": 0.01, "batch": 16, "max_iter": 8, "stepsize": 100}}
JSON
"$bin/train" --net "$work/net.json" --data $data --seeds 1,2 --iters 8 --device cpu --out "$work/runs" --threads 1 >/dev/null 2>"$work/train.err" || { echo "san_pipeline: train failed:"; cat "$work/train.err"; exit 1; }
"$bin/correlate" --help >/dev/null
"$bin/correlate" "$work/runs/sannet-seed1/ckpt-000000008.bin" "$work/runs/sannet-seed2/ckpt-000000008.bin" \
  --data $data --device cpu --out "$work/corr" >/dev/null 2>"$work/corr.err" || { echo "san_pipeline: correlate failed:"; cat "$work/corr.err"; exit 1; }
"$bin/align" --correlate-dir "$work/corr" --out "$work/align" >/dev/null 2>"$work/align.err" || { echo "san_pipeline: align failed:"; cat "$work/align.err"; exit 1; }
"$bin/match" "$(ls "$work"/corr/conv1/between_*.npy | head -1)" --out "$work/match.npy" >/dev/null 2>"$work/match.err" || { echo "san_pipeline: match failed:"; cat "$work/match.err"; exit 1; }
echo "san_pipeline: train / correlate / align / match ran clean under ASan+UBSan"

# 2. Tool-level hostile inputs (issue 13), each with its message and exit code.
t="$bin/train --net $work/net.json --data $data --device cpu --threads 1"
expect 2 "seeds: '99999999999999999999' is too large" $t --seeds 99999999999999999999 --out "$work/x"
expect 2 "threads must be in \[0, [0-9]+\]" $t --seeds 1 --threads 100000 --out "$work/x"
expect 2 "batch must be in \[1, 65536\]" $t --seeds 1 --batch 4294967312 --out "$work/x"
expect 2 "$work: is a folder, expected a file" $t --net "$work" --seeds 1 --out "$work/x"
printf '{"name": "../../escape", "input": [3,32,32], "layers": [{"name": "loss", "type": "softmax_loss"}]}' > "$work/evil.json"
expect 2 "net name '../../escape' must not start with '.'" $t --net "$work/evil.json" --seeds 1 --out "$work/x" --force
expect 2 "already holds checkpoints" $t --seeds 1 --iters 2 --out "$work/runs"
# --max-images 0 or negative
expect 2 "max-images must be at least 1" "$bin/correlate" "$work/runs/sannet-seed1/ckpt-000000008.bin" \
  "$work/runs/sannet-seed2/ckpt-000000008.bin" --data $data --device cpu --out "$work/c0" --max-images 0

# Lock: a second run on the same folder exits 2 naming the first one's pid.
$t --seeds 7 --iters 100000 --out "$work/lock" >/dev/null 2>&1 &
first=$!
for _ in $(seq 100); do [ -s "$work/lock/sannet-seed7/.lock" ] && break; sleep 0.1; done
expect 2 "in use by another process \(pid $first holds" $t --seeds 7 --iters 2 --out "$work/lock" --resume
# Graceful stop: SIGTERM -> step finished, checkpoint written and named, exit 128+15.
kill -TERM $first
rc=0; wait $first || rc=$?
ck=$(ls "$work/lock/sannet-seed7/" | grep '^ckpt-.*\.bin$' | grep -vc '^ckpt-0*\.bin$' || true)  # not the untrained one
if [ "$rc" != 143 ] || [ "$ck" -lt 1 ]; then echo "san_pipeline: FAILED: SIGTERM gave exit $rc and $ck checkpoints"; fail=1; fi
# and resuming from that checkpoint works, with no temporary file left behind
expect 0 "resuming from" $t --seeds 7 --iters $(( $(ls "$work/lock/sannet-seed7/" | grep '^ckpt-' | tail -1 | grep -o '[0-9]\+' | sed 's/^0*//') + 2 )) \
  --out "$work/lock" --resume
if ls "$work/lock/sannet-seed7/" | grep -q '\.tmp\.'; then echo "san_pipeline: FAILED: temporary files left"; fail=1; fi
[ $fail = 0 ] && echo "san_pipeline: hostile tool inputs all rejected with their messages"
exit $fail
