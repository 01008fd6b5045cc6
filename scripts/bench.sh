#!/usr/bin/env bash
# make bench: runs every bench program (CPU figures everywhere, GPU figures where a GPU exists),
# each writing its JSON under bench/results/, then renders the latest results as markdown.
# BENCH_ARGS="--quick" runs the short versions.
set -uo pipefail
cd "$(dirname "$0")/.."
host=$(hostname -s 2>/dev/null || echo host)
if command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then
  host=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1 | tr -c 'A-Za-z0-9\n' '-' | tr -s '-' | sed 's/-$//')
  # cuDNN / cuBLAS for the GPU baselines (dlopen'ed by the benches): the toolkit's, else PyTorch's wheels.
  extra=$(python3 -c 'import glob, os, site
sp = site.getsitepackages() + [site.getusersitepackages()]
print(":".join(p for s in sp for p in glob.glob(os.path.join(s, "nvidia", "*", "lib"))))' 2>/dev/null)
  export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:-}:/usr/local/cuda/lib64${extra:+:$extra}"
else
  host="cpu-$(nproc)core"
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
python3 scripts/bench_table.py > bench/RESULTS.md && echo "wrote bench/RESULTS.md"
exit $rc
