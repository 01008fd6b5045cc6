#!/usr/bin/env bash
# The project's GPU check (make gpu-check): every GPU test (failing, not skipping, without a GPU)
# and the short benchmarks; writes one JSON result under bench/results/ (or $OUT when set).
# Finds cuDNN/cuBLAS for the baselines in the CUDA toolkit or in PyTorch's Python environment.
set -uo pipefail
cd "$(dirname "$0")/.."
if ! command -v nvidia-smi >/dev/null || ! nvidia-smi -L >/dev/null 2>&1; then
  echo "error: make gpu-check needs a GPU, and none was found (nvidia-smi -L failed)" >&2
  exit 1
fi
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
tag=$(echo "$gpu" | tr -c 'A-Za-z0-9\n' '-' | tr -s '-' | sed 's/-$//')
stamp=$(date -u +%Y%m%dT%H%MZ)
dest=${OUT:-bench/results}
mkdir -p "$dest"
work=$(mktemp -d)

# Libraries for the baselines: the toolkit's, else PyTorch's wheels (nvidia/*/lib).
extra=$(python3 - 2>/dev/null <<'PY'
import glob, os, site
paths = []
for sp in site.getsitepackages() + [site.getusersitepackages()]:
    paths += glob.glob(os.path.join(sp, "nvidia", "*", "lib"))
print(":".join(paths))
PY
)
export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:-}:/usr/local/cuda/lib64${extra:+:$extra}"

echo "== GPU tests on $gpu"
start=$(date +%s)
CONVERGENT_REQUIRE_GPU=1 CONVERGENT_GPU_REPORT="$work/tests.json" ./bin/tests 2>&1 | tee "$work/tests.log"
tests_rc=${PIPESTATUS[0]}
tests_s=$(( $(date +%s) - start ))

benches=()
for b in bin/bench_*; do
  [ -x "$b" ] || continue
  name=$(basename "$b")
  echo "== $name --quick"
  if timeout 240 "$b" --quick --out "$work/$name.json"; then benches+=("$name"); else echo "$name failed (rc $?)"; fi
done

python3 - "$work" "$gpu" "$tests_rc" "$tests_s" "$dest/gpu-check-$tag-$stamp.json" <<'PY'
import json, sys, os, glob, re
work, gpu, rc, secs, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
res = {"gpu": gpu, "tests_exit_code": rc, "tests_seconds": secs}
try:
    res["gpu_vs_cpu"] = json.load(open(os.path.join(work, "tests.json")))
except Exception as e:
    res["gpu_vs_cpu"] = f"missing: {e}"
log = open(os.path.join(work, "tests.log")).read()
m = re.findall(r"^tests: (\d+) passed, (\d+) failed, (\d+) skipped$", log, re.M)
if m: res["tests"] = dict(zip(["passed", "failed", "skipped"], map(int, m[-1])))
res["benchmarks"] = {}
for f in sorted(glob.glob(os.path.join(work, "bench_*.json"))):
    try: res["benchmarks"][os.path.basename(f)[:-5]] = json.load(open(f))
    except Exception as e: res["benchmarks"][os.path.basename(f)[:-5]] = f"unreadable: {e}"
tmp = out + ".tmp"
json.dump(res, open(tmp, "w"), indent=1)
os.replace(tmp, out)
print("wrote", out)
PY
rm -rf "$work"
exit $tests_rc
