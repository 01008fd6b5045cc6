#!/usr/bin/env bash
# The project's GPU check (make gpu-check): every GPU test (failing, not skipping, without a GPU),
# the short benchmarks, and the main pipeline on the GPU (train two small nets on synthetic data,
# bin/correlate on the GPU and on the CPU, compared; bin/visualize); writes one JSON result under
# bench/results/ (or $OUT when set). Finds cuDNN/cuBLAS for the baselines in the CUDA toolkit or
# in PyTorch's Python environment. On a GPU machine that cannot build the project, it runs the
# binaries of build/gpu-bundle.tar.xz (make gpu-bundle, here) when that archive is present.
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
BIN=bin
if [ -f build/gpu-bundle.tar.xz ]; then
  mkdir -p "$work/bundle" && tar -C "$work/bundle" -xJf build/gpu-bundle.tar.xz
  BIN="$work/bundle/bin"
  export LD_LIBRARY_PATH="$work/bundle/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  echo "== binaries from build/gpu-bundle.tar.xz (commit $(cat "$work/bundle/COMMIT" 2>/dev/null || echo unknown))"
fi

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
CONVERGENT_REQUIRE_GPU=1 CONVERGENT_GPU_REPORT="$work/tests.json" "$BIN/tests" 2>&1 | tee "$work/tests.log"
tests_rc=${PIPESTATUS[0]}
tests_s=$(( $(date +%s) - start ))

# compute-sanitizer over the GPU test cases: out-of-bounds and misaligned accesses (memcheck),
# shared-memory races (racecheck), illegal barriers (synccheck). SANITIZE=0 skips it.
san_rc=0
cs=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
if [ "${SANITIZE:-1}" != 0 ] && [ -x "$cs" ]; then
  for tool in memcheck racecheck synccheck; do
    echo "== compute-sanitizer --tool $tool over the GPU tests"
    timeout 300 "$cs" --tool "$tool" --error-exitcode 3 "$BIN/tests" -tc='*GPU*' > "$work/san-$tool.log" 2>&1 ||
      { san_rc=1; echo "compute-sanitizer $tool failed (rc $?)"; }
    tail -3 "$work/san-$tool.log"
  done
fi

benches=()
for b in "$BIN"/bench_*; do
  [ -x "$b" ] || continue
  name=$(basename "$b")
  echo "== $name --quick"
  if timeout 100 "$b" --quick --out "$work/$name.json"; then benches+=("$name"); else echo "$name failed (rc $?)"; fi
done

echo "== pipeline on the GPU: train, correlate (GPU and CPU, compared), visualize"
pipe="$work/pipeline"
mkdir -p "$pipe"
start=$(date +%s)
runs="$pipe/runs/alexnet-mini-seed1 $pipe/runs/alexnet-mini-seed2"
{
  "$BIN/train" --device cuda --data synthetic:4096 --iters 300 --seeds 1,2 --out "$pipe/runs" &&
    "$BIN/correlate" $runs --device cuda --solver auction --out "$pipe/gpu" &&
    "$BIN/correlate" $runs --device cpu --out "$pipe/cpu" &&
    "$BIN/visualize" $runs --device cuda --layer conv1,conv3 --correlate-dir "$pipe/gpu" --out "$pipe/vis" &&
    python3 scripts/compare_correlate.py "$pipe/gpu" "$pipe/cpu" > "$pipe/compare.json"
} > "$pipe/log" 2>&1
pipe_rc=$?
pipe_s=$(( $(date +%s) - start ))
grep -v '\[#' "$pipe/log" | tail -40
echo "pipeline exit code $pipe_rc ($pipe_s s)"

python3 - "$work" "$gpu" "$tests_rc" "$tests_s" "$dest/gpu-check-$tag-$stamp.json" "$pipe_rc" "$pipe_s" <<'PY'
import json, sys, os, glob, re
work, gpu, rc, secs, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
res = {"gpu": gpu, "tests_exit_code": rc, "tests_seconds": secs}
pipe = {"exit_code": int(sys.argv[6]), "seconds": int(sys.argv[7])}
try:
    pipe["gpu_vs_cpu_correlate"] = json.load(open(os.path.join(work, "pipeline", "compare.json")))
except Exception as e:
    pipe["gpu_vs_cpu_correlate"] = f"missing: {e}"
lines = [l for l in open(os.path.join(work, "pipeline", "log"), errors="replace") if "[#" not in l]
pipe["log_tail"] = "".join(lines[-60:])
res["pipeline"] = pipe
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
[ "$tests_rc" -ne 0 ] && exit "$tests_rc"
[ "$san_rc" -ne 0 ] && exit "$san_rc"
exit "$pipe_rc"
