#!/usr/bin/env bash
# Checks that the Makefile's dependency files are complete: a changed header must rebuild every
# object that includes it, CUDA objects included (nvcc once ran without -MMD, so editing a kernel
# header silently left stale .cu objects), and that a finished build compiles nothing again (make
# once deleted the tools' objects as intermediates, and the next make compiled them all again).
# Uses `make -n` (what-if), so nothing is rebuilt.
set -euo pipefail
cd "$(dirname "$0")/.."
unset MAKEFLAGS MFLAGS MAKELEVEL  # a clean what-if run, also when called from make test
fail=0
check() {  # check HEADER OBJECT: a change to HEADER must rebuild OBJECT
  if ! make -n -W "$1" "$2" 2>/dev/null | grep -q -- "-o $2"; then
    echo "error: changing $1 does not rebuild $2" >&2; fail=1
  fi
}
build=build/cuda$(make -s print-cuda 2>/dev/null || echo 0)
check kernels/conv.h "$build/kernels/conv_cpu.o"
if [ "$build" = build/cuda1 ]; then
  check kernels/conv.h "$build/kernels/conv.cu.o"
  check kernels/gemm.h "$build/kernels/conv.cu.o"
fi
# After a build nothing is compiled again (the version stamp is remade every time, by design).
again=$(make -n all 2>/dev/null | grep -- ' -c ' | grep -v -- '-c build/[^ ]*/version\.cpp' || true)
if [ -n "$again" ]; then
  echo "error: a second make would compile again:" >&2
  echo "$again" | head -3 | cut -c1-200 >&2
  fail=1
fi
[ $fail -eq 0 ] && echo "rebuild check: header changes rebuild their objects, and a second make compiles nothing ($build)"
exit $fail
