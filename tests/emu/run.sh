#!/usr/bin/env bash
# make test-emu: every GPU test case (name contains "GPU") on the emulated GPU of build/cudaemu,
# three times: block threads scheduled forward, reverse and in a seeded random order; then the
# pipeline (tests/emu/pipeline.sh, EMU_PIPELINE=0 skips it), side by side on the cores. Ends with one line
# "tests: N passed, N failed, N skipped" over all of it; exit code 1 when any failed.
set -uo pipefail
cd "$(dirname "$0")/../.."
bin=${EMU_BIN:-build/cudaemu/bin}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
# The emulator runs each kernel on one thread, so the three orders and the pipeline run side by
# side, as many at once as there are cores; each one's output is shown whole when it is done.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
orders=(forward reverse random:${EMU_SEED:-20261201})
run_order() {
  echo "== GPU tests on the emulated GPU, threads in $1 order"
  CONVERGENT_EMU_ORDER=$1 "$bin/tests" -tc='*GPU*' ${EMU_TESTS_ARGS:-} 2>&1
}
slots=$(nproc)
start() {  # start "$2..." in the background: output to $work/$1.log, exit code to $work/$1.rc
  local i=$1; shift
  while [ "$(jobs -rp | wc -l)" -ge "$slots" ]; do wait -n; done
  ("$@" > "$work/$i.log" 2>&1; echo $? > "$work/$i.rc") &
}
# The pipeline (train, correlate, visualize, match on the emulated GPU; the longest, so it starts
# first) counts as one more test; its output comes last.
pipeline=${#orders[@]}
[ "${EMU_PIPELINE:-1}" != 0 ] && start "$pipeline" bash tests/emu/pipeline.sh
for i in "${!orders[@]}"; do start "$i" run_order "${orders[$i]}"; done
wait
passed=0 failed=0 skipped=0
for i in "${!orders[@]}"; do
  order=${orders[$i]}
  cat "$work/$i.log"
  rc=$(cat "$work/$i.rc" 2>/dev/null || echo 1)
  line=$(grep -E '^tests: [0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' "$work/$i.log" | tail -1)
  if [ -z "$line" ]; then
    echo "test-emu: the $order run ended without its closing line (exit code $rc)"
    failed=$((failed + 1))
    continue
  fi
  read -r p f s <<<"$(echo "$line" | sed -E 's/tests: ([0-9]+) passed, ([0-9]+) failed, ([0-9]+) skipped/\1 \2 \3/')"
  passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
  [ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && failed=$((failed + 1))
done
if [ "${EMU_PIPELINE:-1}" != 0 ]; then
  cat "$work/$pipeline.log"
  if [ "$(cat "$work/$pipeline.rc" 2>/dev/null)" = 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
fi
echo "tests: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
