#!/usr/bin/env bash
# make test-emu-mutants: injects six kinds of kernel bugs (and two bad launches), one at a time, into a copy of a real
# kernels/*.cu file, links that copy into the emulated-GPU test binary, runs the GPU test that uses
# the kernel, and asserts the bug is caught (the run fails with the expected report). Needs the
# objects of make CUDA=emu (build/cudaemu). Prints "mutants: N of 8 caught"; exit code 1 unless all.
set -uo pipefail
cd "$(dirname "$0")/../.."
: "${EMU_CXX:?run through make test-emu-mutants}" "${EMU_LDLIBS:?}"
build=build/cudaemu
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export ASAN_OPTIONS=detect_leaks=0 OMP_WAIT_POLICY=passive
caught=0 total=0

# mutant NAME FILE SED-EXPRESSION TEST-FILTER EXPECTED-REGEX
mutant() {
  local name=$1 file=$2 expr=$3 filter=$4 expect=$5
  total=$((total + 1))
  local dir="$work/$total"
  mkdir -p "$dir/$(dirname "$file")"
  sed -E "$expr" "$file" > "$dir/$file"
  if cmp -s "$file" "$dir/$file"; then echo "mutant $name: the edit did not apply to $file (stale mutant)"; return; fi
  local base obj
  base=$(basename "$file" .cu)
  obj="$dir/$base.cu.o"
  # The copy keeps the real file's name, so reports name kernels/<file>:<line>.
  (cd "$dir" && python3 "$OLDPWD/tests/emu/rewrite.py" "$file" "$base.emu.cpp") &&
    $EMU_CXX -Wno-sign-compare -Wno-unknown-pragmas -include tests/emu/cuda_emu.h -c "$dir/$base.emu.cpp" -o "$obj" &&
    cp "$build/libconvergent.a" "$dir/lib.a" && ar r "$dir/lib.a" "$obj" 2>/dev/null &&
    $EMU_CXX "$build"/tests/*.o "$dir/lib.a" -o "$dir/tests" $EMU_LDLIBS || { echo "mutant $name: build failed"; return; }
  "$dir/tests" -tc="$filter" > "$dir/log" 2>&1
  local rc=$?
  if [ "$rc" -ne 0 ] && grep -Eq "$expect" "$dir/log"; then
    caught=$((caught + 1))
    echo "mutant $name: caught ($(grep -Em1 "$expect" "$dir/log" | cut -c1-160))"
  else
    echo "mutant $name: NOT caught (exit code $rc)"; tail -5 "$dir/log"
  fi
}

mutant "global write one past the end" kernels/sgd.cu \
  's/threadIdx\.x; i < n; i \+=/threadIdx.x; i <= n; i +=/' 'sgd:*GPU*' 'AddressSanitizer: heap-buffer-overflow'
mutant "static shared array too small" kernels/stats.cu \
  's/__shared__ double warp_total\[kThreads \/ 32\];/__shared__ double warp_total[kThreads \/ 32 - 1];/' \
  'stats: GPU twin*' 'AddressSanitizer: heap-buffer-overflow|runtime error: index [0-9]+ out of bounds'
mutant "dynamic shared memory 64 bytes short" kernels/stats.cu \
  's/\(size_t\)\(JI \+ JJ\) \* JROW;/(size_t)(JI + JJ) * JROW - 64;/' 'stats: GPU twin*' 'AddressSanitizer: heap-buffer-overflow'
mutant "missing __syncthreads" kernels/stats.cu \
  '33{n;s/^  __syncthreads\(\);$/  \/\/ barrier removed/}' 'stats: GPU twin*' 'ERROR: CHECK'
mutant "barrier inside a divergent if" kernels/stats.cu \
  '33,34{N;s/if \(lane == 0\) warp_total\[warp\] = v;\n  __syncthreads\(\);/if (lane == 0) { warp_total[warp] = v; __syncthreads(); }/}' \
  'stats: GPU twin*' 'emu: error: (divergent barrier|__syncthreads)'
mutant "shuffle mask omitting participating lanes" kernels/loss.cu \
  's/fmaxf\(v, __shfl_xor_sync\(0xffffffffu, v, o\)\)/fmaxf(v, __shfl_xor_sync(0x0000ffffu, v, o))/' 'loss:*GPU*' \
  'emu: error: __shfl_xor_sync'
# Two launch checks as well: dynamic shared memory above 48 KB without cudaFuncSetAttribute, and a
# block larger than the kernel's __launch_bounds__.
mutant "dynamic shared memory above 48 KB without the attribute" kernels/stats.cu \
  's/if \(smem > 48 \* 1024\)/if (false)/' 'stats: GPU twin*' 'emu: error: [0-9]+ bytes of dynamic shared memory, above 48 KB'
mutant "block above __launch_bounds__" kernels/stats.cu \
  's/__launch_bounds__\(JT\) joint_hist_kernel/__launch_bounds__(64) joint_hist_kernel/' 'stats: GPU twin*' \
  "emu: error: block of 128 threads exceeds the kernel's __launch_bounds__"
echo "mutants: $caught of $total caught"
[ "$caught" -eq "$total" ] && [ "$total" -eq 8 ]
