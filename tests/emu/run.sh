#!/usr/bin/env bash
# make test-emu: every GPU test case (name contains "GPU") on the emulated GPU of build/cudaemu,
# three times: block threads scheduled forward, reverse and in a seeded random order; then the
# pipeline (tests/emu/pipeline.sh, EMU_PIPELINE=0 skips it). Ends with one line
# "tests: N passed, N failed, N skipped" over all of it; exit code 1 when any failed.
set -uo pipefail
cd "$(dirname "$0")/../.."
bin=${EMU_BIN:-build/cudaemu/bin}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
passed=0 failed=0 skipped=0
for order in forward reverse random:${EMU_SEED:-20261201}; do
  echo "== GPU tests on the emulated GPU, threads in $order order"
  log=$(mktemp)
  CONVERGENT_EMU_ORDER=$order "$bin/tests" -tc='*GPU*' ${EMU_TESTS_ARGS:-} 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  line=$(grep -E '^tests: [0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' "$log" | tail -1)
  rm -f "$log"
  if [ -z "$line" ]; then
    echo "test-emu: the $order run ended without its closing line (exit code $rc)"
    failed=$((failed + 1))
    continue
  fi
  read -r p f s <<<"$(echo "$line" | sed -E 's/tests: ([0-9]+) passed, ([0-9]+) failed, ([0-9]+) skipped/\1 \2 \3/')"
  passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
  [ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && failed=$((failed + 1))
done
# The pipeline (train, correlate, visualize, match on the emulated GPU) counts as one more test.
if [ "${EMU_PIPELINE:-1}" != 0 ]; then
  if bash tests/emu/pipeline.sh; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
fi
echo "tests: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
