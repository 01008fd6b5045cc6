#!/usr/bin/env bash
# Runs the tests that exercise the CPU GEMMs again on the OpenBLAS fallback (AVX-512 CPUs use our
# own kernels by default, as do AVX2 CPUs; CPUs without AVX2 and FMA run this path). Each pattern must select at least one test
# case, so renaming a test cannot silently drop it from this run.
set -euo pipefail
cd "$(dirname "$0")/.."
patterns=('cpu gemm*' 'conv*' 'stats*' 'net*')
total=0
for p in "${patterns[@]}"; do
  n=$(./bin/tests -tc="$p" -ltc | sed -n 's/^\[doctest\] unskipped test cases passing the current filters: \([0-9]*\).*/\1/p')
  if [ "${n:-0}" -eq 0 ]; then echo "error: test pattern '$p' selects no test case" >&2; exit 1; fi
  total=$((total + n))
done
list=$(IFS=,; echo "${patterns[*]}")
echo "OpenBLAS fallback: $total test cases ($list)"
CONVERGENT_CPU_GEMM=openblas ./bin/tests -tc="$list"
