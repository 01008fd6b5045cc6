#!/usr/bin/env bash
# make gpu-bundle: everything `make gpu-check` needs on a GPU machine that cannot build the project
# (no Debian -dev packages there, no network): the CUDA build's binaries, stripped, and the shared
# libraries they need beyond glibc/libstdc++, in one xz archive, build/gpu-bundle.tar.xz (~4 MB:
# the binaries share most of their bytes, which xz's 64 MiB window folds). On the GPU machine,
# in a copy of this repository with the archive beside it, `bash scripts/gpu_check.sh` unpacks it.
set -euo pipefail
cd "$(dirname "$0")/.."
# MPI=0: the bundle runs one process, without OpenMPI's shared libraries on the GPU machine.
make --no-print-directory CUDA=1 MPI=0 -j"$(nproc)" all
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bin" "$stage/lib"
for b in bin/tests bin/bench_* bin/train bin/correlate bin/visualize bin/match bin/align; do
  strip -o "$stage/bin/$(basename "$b")" "$b"
done
# Shared libraries a bare CUDA/PyTorch image may lack (ldd names what the binaries link).
for lib in libgfortran.so.5 libquadmath.so.0 libgomp.so.1 libz.so.1; do
  path=$(ldd bin/tests | awk -v l="$lib" '$1 == l {print $3}')
  [ -n "$path" ] && cp -L "$path" "$stage/lib/"
done
git rev-parse HEAD > "$stage/COMMIT" 2>/dev/null || true
mkdir -p build
tar -C "$stage" -cf - . | xz -9e -T"$(nproc)" > build/gpu-bundle.tar.xz.tmp
mv build/gpu-bundle.tar.xz.tmp build/gpu-bundle.tar.xz
echo "wrote build/gpu-bundle.tar.xz ($(du -h build/gpu-bundle.tar.xz | cut -f1)) for commit $(cat "$stage/COMMIT" 2>/dev/null)"
