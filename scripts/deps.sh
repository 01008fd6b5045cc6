#!/usr/bin/env bash
# Installs the Debian packages convergent needs, only those that are missing.
# Runs as root, or through sudo when it is available. Safe to run again: a no-op when all is there.
set -euo pipefail
pkgs=(build-essential pkgconf zlib1g-dev libopenblas-dev liblapack-dev doctest-dev libstb-dev
      nlohmann-json3-dev dataset-fashion-mnist
      fonts-dejavu-core  # DejaVu Sans: the text of every raster figure (analysis/plot/font.h)
      libboost-context-dev  # the emulated GPU's fibers (make test-emu)
      clang libclang-rt-dev  # clang + libclang-rt: the ASan/UBSan flavour and the libFuzzer targets (make test)
      libomp-dev)  # clang's OpenMP (omp.h, libomp): only a recommendation of clang, which apt skips here
missing=()
pkgs+=(python3-numpy)  # python/convergent.py and its test against the tools (tests/cli_test.sh)
pkgs+=(chromium)  # bin/report's page opened in a real browser (scripts/check_report_browser.sh, make test)
# OpenMPI: optional for users (make MPI=0 builds without it), installed here because make test runs
# bin/correlate and bin/train as MPI ranks (tests/mpi_test.sh).
pkgs+=(openmpi-bin libopenmpi-dev)
# --list: the packages, one a line (scripts/check_deps.sh checks that they cover what the builds use).
[ "${1:-}" = --list ] && { printf '%s\n' "${pkgs[@]}"; exit 0; }
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "deps: installing ${missing[*]}"
if [ "$(id -u)" -eq 0 ]; then sudo=""; elif command -v sudo >/dev/null; then sudo="sudo"; else
  echo "error: missing Debian packages (${missing[*]}) and neither root nor sudo to install them" >&2; exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
