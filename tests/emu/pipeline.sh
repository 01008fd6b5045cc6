#!/usr/bin/env bash
# The pipeline on the emulated GPU (part of make test-emu): bin/train for a few iterations on tiny
# synthetic data, bin/correlate on the emulated GPU and on the CPU (compared),
# bin/visualize --device cuda, and bin/match --solver auction --device cuda against the exact
# solver. Uses build/cudaemu/bin. Exit code 0 when every step ran and agreed.
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=${EMU_BIN:-build/cudaemu/bin}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=1}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
runs="$work/runs/alexnet-mini-seed1 $work/runs/alexnet-mini-seed2"
echo "== pipeline on the emulated GPU: train, correlate (GPU and CPU), visualize, match"
# Training on the emulated GPU: a few iterations and a 32-image test split (synthetic:N:T).
"$bin/train" --device cuda --data synthetic:64:32 --iters 3 --batch 8 --seeds 1,2 --threads 1 --out "$work/runs" > "$work/train.log" 2>&1 ||
  { tail -20 "$work/train.log"; exit 1; }
grep -q "on cuda" "$work/train.log" || { echo "error: bin/train did not run on the emulated GPU"; tail -5 "$work/train.log"; exit 1; }
for dev in cuda cpu; do
  "$bin/correlate" $runs --device "$dev" --max-images 32 --batch 16 --mi-layers conv1 --threads 1 --out "$work/$dev" \
    > "$work/correlate-$dev.log" 2>&1 || { tail -20 "$work/correlate-$dev.log"; exit 1; }
done
"$bin/visualize" $runs --device cuda --layer conv1,conv3 --correlate-dir "$work/cuda" --limit 32 --k 4 --best 2 \
  --worst 2 --out "$work/vis" > "$work/vis.log" 2>&1 || { tail -20 "$work/vis.log"; exit 1; }
ls "$work/vis/conv1/"*.png > /dev/null
m="$work/cuda/conv3/between_0_1.npy"
"$bin/match" "$m" --solver auction --device cuda --out "$work/auction.npy" > "$work/auction.log" 2>&1 ||
  { cat "$work/auction.log"; exit 1; }
"$bin/match" "$m" --solver exact --out "$work/exact.npy" > "$work/exact.log" 2>&1 || { cat "$work/exact.log"; exit 1; }
# Standard library only (no numpy on the CI machine): the .npy format is a header and raw data.
python3 - "$work" <<'PY'
import ast, array, json, os, sys
work = sys.argv[1]

def npy(path):
    with open(path, "rb") as f:
        assert f.read(6) == b"\x93NUMPY"
        major = f.read(2)[0]
        hlen = int.from_bytes(f.read(2 if major == 1 else 4), "little")
        h = ast.literal_eval(f.read(hlen).decode("latin1"))
        a = array.array({"<f4": "f", "<f8": "d", "<i8": "q"}[h["descr"]])
        a.frombytes(f.read())
        return h["shape"], a

worst, bad = 0.0, []
for layer in sorted(os.listdir(os.path.join(work, "cpu"))):
    for name in ("between_0_1.npy", "within_0.npy", "within_1.npy", "mean_0.npy", "std_0.npy", "mean_1.npy", "std_1.npy"):
        c, g = os.path.join(work, "cpu", layer, name), os.path.join(work, "cuda", layer, name)
        if not os.path.exists(c):
            continue
        (sc, ac), (sg, ag) = npy(c), npy(g)
        # Correlations in [-1, 1] from float32 forward passes that differ by summation order:
        # 1e-4 (scripts/compare_correlate.py's tolerance); moments relative to the layer's largest.
        scale = 1.0 if name.startswith(("between", "within")) else (max(abs(v) for v in ac) if ac else 1.0) or 1.0
        d = max([abs(x - y) for x, y in zip(ac, ag)] + [0.0]) / scale
        worst = max(worst, d)
        if sc != sg or d > 1e-4:
            bad.append(f"{layer}/{name}: {d:.3g}")
M_shape, M = npy(os.path.join(work, "cuda", "conv3", "between_0_1.npy"))
n, m = M_shape
def total(path):
    _, r = npy(path)
    return sum(M[i * m + j] for i, j in enumerate(r) if j >= 0)
ta, te = total(os.path.join(work, "auction.npy")), total(os.path.join(work, "exact.npy"))
# The auction is optimal for the matrix quantised to levels; its distance from the exact optimum
# is bounded by n * quantum, far below 1e-3 * n for correlations in [-1, 1].
if not (te - 1e-3 * n <= ta <= te + 1e-9):
    bad.append(f"auction total {ta} vs exact {te}")
print(json.dumps({"worst_correlate_difference": worst, "auction_total": ta, "exact_total": te, "problems": bad}))
sys.exit(1 if bad else 0)
PY
echo "pipeline on the emulated GPU: ok"
