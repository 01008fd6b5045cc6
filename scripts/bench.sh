#!/usr/bin/env bash
# make bench: runs every bench program (CPU figures everywhere, GPU figures where a GPU exists),
# each writing its JSON under bench/results/, then renders the latest results as markdown.
# BENCH_ARGS="--quick" runs the short versions. The Python baselines (bench/requirements.txt) live in
# a virtual environment, BENCH_VENV (default .venv-bench), created or reused here; without network the
# run goes on and each baseline that is missing is reported as skipped.
set -uo pipefail
cd "$(dirname "$0")/.."
venv=${BENCH_VENV:-.venv-bench}
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv" 2>/dev/null || echo "baselines: cannot create the virtual environment $venv (python3 -m venv failed)"
fi
if [ -x "$venv/bin/python" ]; then
  # One package at a time, each only when its pinned version is not there yet.
  grep -v '^[[:space:]]*#' bench/requirements.txt | while read -r req; do
    [ -n "$req" ] || continue
    name=${req%%==*}
    if [ "$("$venv/bin/python" -c "from importlib import metadata; print(metadata.version('$name'))" 2>/dev/null)" != "${req#*==}" ]; then
      "$venv/bin/pip" install -q --disable-pip-version-check --timeout 30 --retries 1 "$req" >/dev/null 2>&1 ||
        echo "baselines: could not install $req (offline?)"
    fi
  done
  export PATH="$PWD/$venv/bin:$PATH"
fi
for name in numpy scipy lap lapjv torch; do
  v=$(python3 -c "from importlib import metadata; print(metadata.version('$name'))" 2>/dev/null)
  echo "baseline $name: ${v:-skipped (not installed)}"
done
host=$(hostname -s 2>/dev/null || echo host)
if command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then
  host=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1 | tr -c 'A-Za-z0-9\n' '-' | tr -s '-' | sed 's/-$//')
  # cuDNN / cuBLAS for the GPU baselines (dlopen'ed by the benches): the toolkit's, else PyTorch's wheels.
  extra=$(python3 -c 'import glob, os, site
sp = site.getsitepackages() + [site.getusersitepackages()]
print(":".join(p for s in sp for p in glob.glob(os.path.join(s, "nvidia", "*", "lib"))))' 2>/dev/null)
  export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:-}:/usr/local/cuda/lib64${extra:+:$extra}"
else
  # The vendor and AVX-512 too: an AMD and an Intel machine with as many cores, or an AMD with AVX-512
  # and one without, must not overwrite each other's day.
  vendor=$(awk -F': ' '/^vendor_id/ {print $2; exit}' /proc/cpuinfo 2>/dev/null | sed 's/AuthenticAMD/amd/; s/GenuineIntel/intel/')
  grep -qw avx512f /proc/cpuinfo 2>/dev/null && vendor="${vendor:+$vendor-}avx512"
  host="cpu-$(nproc)core${vendor:+-$vendor}"
fi
# OpenMP threads that wait by sleeping, not spinning: on a shared, busy machine a spinning thread burns
# the time slice its partner needs, and the CPU figures (ours and PyTorch's alike) become 3-4x slower
# and erratic. On an idle machine passive waiting costs microseconds per parallel region.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
echo "CPU: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), OMP_WAIT_POLICY=$OMP_WAIT_POLICY"
stamp=$(date -u +%Y%m%d)
mkdir -p bench/results
rc=0
for b in bin/bench_*; do
  [ -x "$b" ] || continue
  name=$(basename "$b" | sed 's/^bench_//')
  echo "== $name"
  "$b" ${BENCH_ARGS:-} --out "bench/results/$name-$host-$stamp.json" || { echo "bench $name failed"; rc=1; }
done
# What a CPU without AVX-512 runs: our AVX2 GEMM twins against PyTorch capped at AVX2 as well.
if [ -x bin/bench_train ]; then
  echo "== train, AVX2 path"
  mkdir -p bench/results/avx2
  CONVERGENT_CPU_GEMM=avx2 ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 bin/bench_train ${BENCH_ARGS:-} --cpu-only \
    --out "bench/results/avx2/train-$host-$stamp.json" || { echo "bench train (AVX2) failed"; rc=1; }
fi
echo "== mpi"
bash scripts/bench_mpi.sh "bench/results/mpi-$host-$stamp.json" || { echo "mpi bench failed"; rc=1; }
echo "== gpu_model"
python3 bench/gpu_model.py --out "bench/results/gpu_model-H100-model-$stamp.json" || { echo "gpu model failed"; rc=1; }
python3 scripts/bench_table.py > bench/RESULTS.md && echo "wrote bench/RESULTS.md"
exit $rc
