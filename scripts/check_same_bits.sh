#!/usr/bin/env bash
# Results must not depend on the CPU: a net trained with the AVX2 GEMM kernels (what a CPU without
# AVX-512 runs), with OpenBLAS pinned to another kernel set, or on one thread must have exactly the
# weights of one trained with this CPU's own choice and all its cores. Trains a small alexnet-mini three times and compares every
# exported parameter byte for byte.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
train() {  # $1: label; the environment says which kernels
  ./bin/train --data synthetic:256:64 --seeds 3 --iters 6 --batch 32 --device cpu --out "$work/$1" >/dev/null 2>&1
  ./bin/train --export-npy "$work/$1/alexnet-mini-seed3" "$work/npy-$1" >/dev/null
  rm "$work/npy-$1/config.json"  # names the checkpoint's path, nothing else differs
}
train native
CONVERGENT_CPU_GEMM=avx2 train avx2
OPENBLAS_CORETYPE=Sandybridge train sandybridge
OMP_NUM_THREADS=1 train one-thread
for v in avx2 sandybridge one-thread; do
  if ! diff -rq "$work/npy-native" "$work/npy-$v" >/dev/null; then
    echo "check_same_bits: FAILED: the weights trained with '$v' differ from this CPU's own ($(./bin/train --version))" >&2
    diff -rq "$work/npy-native" "$work/npy-$v" >&2 || true
    exit 1
  fi
done
echo "check_same_bits: same weights with this CPU's GEMM kernels, the AVX2 ones, OpenBLAS on Sandybridge kernels, and one thread"
