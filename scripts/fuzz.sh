#!/usr/bin/env bash
# Runs every libFuzzer target in BINDIR for SECONDS each, on its committed seed corpus
# fuzz/corpus/<target>/ (read only: new inputs go to a scratch folder). A crash leaves its input in
# BINDIR/../fuzz-crashes/<target>/ and fails the run; add it to fuzz/corpus/<target>/ and fix.
#   usage: [FUZZ_SEED=N] scripts/fuzz.sh BINDIR SECONDS   (a fixed seed makes a short run repeatable)
set -euo pipefail
bindir=$1 seconds=$2
crashes=$(dirname "$bindir")/fuzz-crashes
scratch=$(mktemp -d /tmp/cvg-fuzz.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
export CVG_FUZZ_DIR=$scratch
fail=0
for bin in "$bindir"/*; do
  name=$(basename "$bin")
  mkdir -p "$scratch/$name" "$crashes/$name"
  log="$scratch/$name.log"
  # -rss_limit_mb: an input that needs gigabytes is a finding (unbounded allocation), not a pass.
  if "$bin" -max_total_time="$seconds" ${FUZZ_SEED:+-seed=$FUZZ_SEED} -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=1024 -print_final_stats=1 \
       -artifact_prefix="$crashes/$name/" "$scratch/$name" "fuzz/corpus/$name" >"$log" 2>&1; then
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    echo "fuzz $name: ${seconds}s, $runs inputs, no crash"
  else
    echo "fuzz $name: FAILED (input kept in $crashes/$name/):"
    grep -E 'ERROR|runtime error|==[0-9]+==|SUMMARY|Test unit written' "$log" | head -8
    fail=1
  fi
done
exit $fail
