#!/usr/bin/env python3
"""Compares two bin/correlate output folders of the same nets and data (e.g. --device cuda and
--device cpu): prints one JSON object with, per layer, the largest differences of the means, stds,
within- and between-net correlations, and of the summary's matching scores, and whether they stay
within the tolerances below. Exit code 0 when every layer is within them, 1 otherwise.

Tolerances: the statistics are float32 products summed in runs, then in float64, so two devices
agree to ~1e-6 relative on the moments; correlations (ratios of moments) to ~1e-5. 1e-4 leaves a
10x margin and still catches a wrong term. A unit's mean and std are compared relative to its rms
sqrt(mean^2 + std^2), the scale of its activations: the devices' forward passes differ by float32
rounding of that scale, so a mean near 0 (fc8's logits) is not divided by itself, and a unit dead on
one device but not quite on the other (rms ~ 0) is measured against 1e-6 of the layer's largest rms. Matching scores are means over units of correlations
picked by a solver: an exact solver and the auction (optimal within n * epsilon) may pick
different pairs where correlations tie, moving the mean by <= 1e-3."""
import glob, json, os, sys

import numpy as np

CORR_TOL, MOMENT_RTOL, SCORE_TOL = 1e-4, 1e-4, 1e-3
SCORES = ["semi_matching_ab", "semi_matching_ba", "bipartite", "within_best_a", "within_best_b"]


def max_diff(a, b):
    a, b = np.load(a).astype(np.float64), np.load(b).astype(np.float64)
    if a.shape != b.shape:
        return float("inf")
    d = np.abs(a - b)
    return float(d.max()) if d.size else 0.0


def moment_diff(x, y, name, kind):
    """Largest |a - b| / rms_b over the units of every net (see the tolerances above)."""
    worst = None
    for f in sorted(glob.glob(os.path.join(x, name, kind + "_*.npy"))):
        net = os.path.basename(f)[len(kind) + 1:-len(".npy")]
        a, b = (np.load(os.path.join(d, name, os.path.basename(f))).astype(np.float64) for d in (x, y))
        if a.shape != b.shape:
            return float("inf")
        mb, sb = (np.load(os.path.join(y, name, f"{k}_{net}.npy")).astype(np.float64) for k in ("mean", "std"))
        rms = np.sqrt(mb * mb + sb * sb)
        floor = max(1e-6 * float(rms.max()) if rms.size else 0.0, 1e-30)
        d = float((np.abs(a - b) / np.maximum(rms, floor)).max()) if a.size else 0.0
        worst = d if worst is None else max(worst, d)
    return worst


def main(x, y):
    sx, sy = (json.load(open(os.path.join(d, "summary.json"))) for d in (x, y))
    out, ok = {"a": x, "b": y, "layers": {}}, True
    for lx, ly in zip(sx["layers"], sy["layers"]):
        name = lx["layer"]
        r = {}
        for kind in ("mean", "std"):
            r[kind] = moment_diff(x, y, name, kind)
        for kind in ("within", "between"):
            files = sorted(glob.glob(os.path.join(x, name, kind + "_*.npy")))
            r[kind] = max((max_diff(f, os.path.join(y, name, os.path.basename(f))) for f in files), default=None)
        r["scores"] = max(abs(px[k] - py[k]) for px, py in zip(lx["pairs"], ly["pairs"]) for k in SCORES)
        r["ok"] = (all(r[k] is not None and r[k] <= MOMENT_RTOL for k in ("mean", "std"))
                   and all(r[k] is not None and r[k] <= CORR_TOL for k in ("within", "between"))
                   and r["scores"] <= SCORE_TOL)
        ok &= r["ok"]
        out["layers"][name] = r
    out["ok"] = ok
    print(json.dumps(out, indent=1))
    return 0 if ok else 1


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: compare_correlate.py CORRELATE_DIR_A CORRELATE_DIR_B")
    sys.exit(main(sys.argv[1], sys.argv[2]))
