#!/usr/bin/env bash
# make bench: bin/correlate and bin/train as 1 process and as 2 MPI ranks on this machine (alexnet-mini
# on Fashion-MNIST, both in one run, so the ratio is measured under the same load), and the bytes each
# reduction sends per layer (from the nets' shapes; nn/data_parallel.h, analysis/stats/correlate.h).
# Usage: bench_mpi.sh OUT.json. Without mpirun it writes nothing and says so.
set -euo pipefail
out=$1
command -v mpirun > /dev/null || { echo "mpi bench: skipped (no mpirun; scripts/deps.sh installs openmpi-bin)"; exit 0; }
repo=$(cd "$(dirname "$0")/.." && pwd)
W=$(mktemp -d /tmp/cvg_bench_mpi.XXXXXX)
trap 'rm -rf "$W"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
net=$repo/data/nets/alexnet-mini.json
iters=${MPI_BENCH_ITERS:-30} images=${MPI_BENCH_IMAGES:-3000}
run() {  # run N CMD...: wall seconds of CMD on N ranks (1: no mpirun), one OpenMP thread per rank
  local n=$1; shift
  local t0=$(date +%s.%N)
  if [ "$n" = 1 ]; then OMP_NUM_THREADS=1 "$@"; else
    mpirun -np "$n" --oversubscribe --bind-to none -x OMP_NUM_THREADS=1 "$@"; fi > "$W/out.txt" 2> "$W/err.txt" ||
    { cat "$W/err.txt" >&2; exit 1; }
  echo "$(date +%s.%N) - $t0" | bc
}
$repo/bin/train --net "$net" --seeds 1,2 --iters 2 --out "$W/nets" --threads 1 > /dev/null 2>&1
declare -A wall
for n in 1 2; do
  wall[train$n]=$(run $n $repo/bin/train --net "$net" --seeds 3 --iters "$iters" --lr-step 1000 --threads 1 --out "$W/t$n")
  grep "\"iteration\":$iters" "$W/t$n/alexnet-mini-seed3/log.jsonl" > "$W/train$n.json"
  wall[corr$n]=$(run $n $repo/bin/correlate "$W/nets/alexnet-mini-seed1" "$W/nets/alexnet-mini-seed2" --max-images "$images" \
    --blocks 0 --bootstrap 0 --threads 1 --out "$W/c$n")
done
$repo/bin/train --export-npy "$W/nets/alexnet-mini-seed1" "$W/export" > /dev/null
/usr/bin/python3 - "$W" "$out" "$iters" "$images" "${wall[train1]}" "${wall[train2]}" "${wall[corr1]}" "${wall[corr2]}" <<'PY'
import glob, json, os, platform, sys
import numpy as np
W, out, iters, images = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
t1, t2, c1, c2 = map(float, sys.argv[5:9])
train = {n: json.load(open(f"{W}/train{n}.json")) for n in (1, 2)}
# Training: each step every rank but 0 sends its float32 gradients to rank 0, which sends the sum back.
grad = {}
for f in sorted(glob.glob(f"{W}/export/*.npy")):
    layer = os.path.basename(f).split(".")[0]
    grad[layer] = grad.get(layer, 0) + 4 * int(np.load(f, mmap_mode="r").size)
# correlate: at the end of each pass every rank but 0 sends its float64 accumulators per layer (per
# net: sum, sum of squares, Gram; per pair: cross-products; times the blocks), MI layers their uint64
# joint histograms; the recentring's all-reduce sends 2 doubles per unit at batches 2, 4, 8, ...
summary = json.load(open(f"{W}/c1/summary.json"))
corr = {}
for l in summary["layers"]:
    units = {}
    for p in l["pairs"]:
        for k, c in zip(p["nets"], p["units"]):
            units[k] = c
    c = list(units.values())
    moments = 8 * (sum(2 * u + u * u for u in c) + sum(c[i] * c[j] for i in range(len(c)) for j in range(i + 1, len(c))))
    bins = l["pairs"][0].get("mi_bins")
    hist = 8 * sum(c[i] * c[j] for i in range(len(c)) for j in range(i + 1, len(c))) * bins * bins + 8 * sum(c) * bins if bins else 0
    corr[l["layer"]] = {"units": c, "moments_bytes_per_block": moments, "mi_histogram_bytes": hist}
r = {
    "bench": "mpi", "machine": platform.processor() or platform.machine(), "cores": os.cpu_count(),
    "load_average": open("/proc/loadavg").read().split()[:3],
    "net": "alexnet-mini", "note": "1 process vs mpirun -np 2, one OpenMP thread per rank, in one run (same load)",
    "train": {"iterations": iters, "batch": 64,
              "images_per_s": {"1": train[1]["images_per_s"], "2": train[2]["images_per_s"]},
              "ratio_2_to_1": train[2]["images_per_s"] / train[1]["images_per_s"],
              "wall_s": {"1": t1, "2": t2},
              "gradient_bytes_per_step_per_rank": grad, "gradient_bytes_total": sum(grad.values())},
    "correlate": {"images": images, "nets": 2, "wall_s": {"1": c1, "2": c2},
                  "images_per_s": {"1": images / c1, "2": images / c2}, "ratio_2_to_1": c1 / c2,
                  "bytes_per_rank_per_layer": corr},
}
import datetime
r["date"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
r["columns"] = ["tool", "ranks", "images_per_s", "ratio_to_1", "reduction_MiB_per_rank"]
r["rows"] = []
for tool, per in (("train", r["train"]), ("correlate", r["correlate"])):
    for n in ("1", "2"):
        mib = (sum(grad.values()) if tool == "train" else sum(v["moments_bytes_per_block"] + v["mi_histogram_bytes"] for v in corr.values())) / 2**20
        r["rows"].append({"tool": tool + (" (per step)" if tool == "train" else " (per pass)"), "ranks": int(n),
                          "images_per_s": per["images_per_s"][n], "ratio_to_1": per["images_per_s"][n] / per["images_per_s"]["1"],
                          "reduction_MiB_per_rank": mib if n == "2" else 0.0})
json.dump(r, open(out, "w"), indent=1)
print(f"mpi: train {r['train']['images_per_s']['1']:.0f} -> {r['train']['images_per_s']['2']:.0f} img/s on 2 ranks "
      f"(x{r['train']['ratio_2_to_1']:.2f}), {sum(grad.values()) / 2**20:.2f} MiB of gradients per step per rank; "
      f"correlate {images / c1:.0f} -> {images / c2:.0f} img/s (x{c1 / c2:.2f}, wall, with start-up and matching)")
PY
