#!/usr/bin/env bash
# Checks that scripts/deps.sh installs what the builds use on a fresh Debian: every system header
# the sources include (as g++ and clang find them), the files the linker reads and the commands
# make test runs must come from packages in the dependency closure of deps.sh's list (Depends only:
# it installs without recommends). A machine with more packages hides a missing one: clang's omp.h
# once came from a package preinstalled here, not from deps.sh. The CUDA toolkit is not a Debian
# package here and is left out. Needs apt's package lists; without them it says so and passes.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t pkgs < <(bash scripts/deps.sh --list)
closure=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces \
  --no-enhances "${pkgs[@]}" 2>/dev/null | grep -v '^ ' | sort -u || true)
[ -z "$closure" ] && { echo "deps check: skipped (no apt package lists on this machine)"; exit 0; }
cuda=$(dirname "$(dirname "$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)")")
includes=$(grep -rhoE '^#include <[^>]+>' base kernels nn data analysis tools tests bench fuzz | sort -u)
mpi=$(mpicxx --showme:compile 2>/dev/null || true)
blas=$(pkg-config --cflags openblas 2>/dev/null || true)
fail=0
files=()
unset MAKEFLAGS MFLAGS MAKELEVEL  # make's own answers, also when called from make test
declare -A ldlibs=([g++]="$(make -s print-ldlibs)" [clang++]="$(make -s print-ldlibs CUDA=emu)")
for cxx in g++ clang++; do
  # -MG names a header that is not found by its bare name instead of failing.
  for f in $(echo "$includes" | $cxx -x c++ -std=c++17 -fopenmp -I. -I"$cuda/include" $blas $mpi -M -MG - | tr ' \\' '\n\n'); do
    case $f in
      *: | "$cuda"/*) ;;
      /*) files+=("$(realpath -s "$f")") ;;
      cudnn*.h | cublas*.h | nccl.h) ;;  # NVIDIA's libraries: the bench's GPU baselines, with the toolkit
      *) echo "error: $cxx finds no <$f>: the Debian package that provides it is not in scripts/deps.sh"; fail=1 ;;
    esac
  done
  # The files the linker reads for the libraries of the flavour this compiler builds (its LDLIBS).
  trace=$(echo 'int main() {}' | $cxx -x c++ - -x none ${ldlibs[$cxx]} -o /dev/null -Wl,--trace 2>&1) ||
    { echo "error: $cxx cannot link the engine's libraries: $(echo "$trace" | grep -m1 -i error)"; fail=1; }
  for f in $(echo "$trace" | grep -oE '/[^ ()]+\.(so|a)[.0-9]*' | grep -v "^$cuda/" | sort -u); do files+=("$(realpath -s "$f")"); done
done
for c in g++ clang++ python3 chromium mpirun pkg-config; do files+=("/usr/bin/$c"); done
# dpkg knows a file under one name: /usr/lib or /lib (the merged /usr), or the target of an
# alternatives link. A path it does not know is retried under those names.
owner_of() {
  local p r
  r=$(readlink -f "$1")
  for p in "$1" "${1/#\/usr\/lib\//\/lib\/}" "${1/#\/lib\//\/usr\/lib\/}" "$r" "${r/#\/usr\/lib\//\/lib\/}" "${r/#\/lib\//\/usr\/lib\/}"; do
    dpkg -S "$p" 2>/dev/null | grep -v '^diversion' && return
  done
  echo "dpkg-query: no path found matching pattern $1"
}
owners=$(printf '%s\n' "${files[@]}" | sort -u | xargs dpkg -S 2>&1 || true)
while IFS= read -r line; do
  case $line in
    dpkg-query:*) line=$(owner_of "${line##* }") ;;
  esac
  case $line in
    diversion*) ;;
    dpkg-query:*) echo "error: not from a Debian package: ${line##* }"; fail=1 ;;
    *)
      ok=0
      for o in $(echo "${line%%: /*}" | tr ',' ' '); do grep -qx "${o%%:*}" <<<"$closure" && ok=1; done
      [ $ok = 1 ] || { echo "error: ${line#*: } comes from ${line%%: /*}, which scripts/deps.sh does not install"; fail=1; } ;;
  esac
done <<<"$owners"
[ $fail = 0 ] && echo "deps check: the $(printf '%s\n' "${files[@]}" | sort -u | wc -l) headers, libraries and commands the builds use all come from scripts/deps.sh's packages"
exit $fail
