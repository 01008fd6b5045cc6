#!/usr/bin/env python3
"""Compares two output folders file by file (bin/correlate under mpirun vs one process, or two
exports of trained weights): both must hold the same files; .npy arrays and the numbers of .json
files must agree to RTOL, any other file byte for byte. Keys named by --ignore (timings, say) are
skipped in JSON. Prints the worst difference per kind and exits 1 when anything differs.

A value a is within RTOL of b when |a - b| <= RTOL * max(|b|, s), s the largest |value| of its
array (for a JSON number: of itself). Results that differ only in the order float64 sums were added
differ by ~1e-16 of the sums' terms; an element near 0 inside an array of larger values (a
correlation of 1e-5 beside ones of 1) carries the rounding of its terms, hence the array's scale."""
import argparse, json, os, sys

import numpy as np


def files(root):
    out = set()
    for d, _, names in os.walk(root):
        for n in names:
            out.add(os.path.relpath(os.path.join(d, n), root))
    return out


def rel_err(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return float("inf")
    if a.size == 0:
        return 0.0
    same = (a == b) | (np.isnan(a) & np.isnan(b))
    scale = np.maximum(np.abs(b), np.nanmax(np.where(np.isfinite(b), np.abs(b), 0)))
    with np.errstate(invalid="ignore", divide="ignore"):
        e = np.where(same, 0.0, np.abs(a - b) / np.where(scale > 0, scale, 1e-300))
    return float(np.nan_to_num(e, nan=np.inf).max())


def json_err(a, b, ignore, path=""):
    """(worst relative difference, first path where the structure differs or None)."""
    if isinstance(a, dict) and isinstance(b, dict):
        if set(a) - ignore != set(b) - ignore:
            return 0.0, path + " (keys differ)"
        worst, bad = 0.0, None
        for k in a:
            if k in ignore:
                continue
            e, p = json_err(a[k], b[k], ignore, path + "/" + k)
            worst, bad = max(worst, e), bad or p
        return worst, bad
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return 0.0, path + " (lengths differ)"
        worst, bad = 0.0, None
        for i, (x, y) in enumerate(zip(a, b)):
            e, p = json_err(x, y, ignore, f"{path}[{i}]")
            worst, bad = max(worst, e), bad or p
        return worst, bad
    num = (int, float)
    if isinstance(a, num) and isinstance(b, num) and not isinstance(a, bool) and not isinstance(b, bool):
        return rel_err(a, b), None
    return (0.0, None) if a == b else (0.0, path + f" ({a!r} vs {b!r})")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--rtol", type=float, default=1e-12)
    ap.add_argument("--ignore", default="", help="comma-separated JSON keys to skip")
    args = ap.parse_args()
    ignore = set(filter(None, args.ignore.split(",")))
    fa, fb = files(args.a), files(args.b)
    problems = [f"only in {args.a}: {f}" for f in sorted(fa - fb)] + [f"only in {args.b}: {f}" for f in sorted(fb - fa)]
    worst = {}
    for f in sorted(fa & fb):
        pa, pb = os.path.join(args.a, f), os.path.join(args.b, f)
        kind = os.path.splitext(f)[1] or "other"
        if f.endswith(".npy"):
            e, bad = rel_err(np.load(pa), np.load(pb)), None
        elif f.endswith(".json"):
            e, bad = json_err(json.load(open(pa)), json.load(open(pb)), ignore)
        else:
            e, bad = 0.0, None if open(pa, "rb").read() == open(pb, "rb").read() else "bytes differ"
        if bad:
            problems.append(f"{f}: {bad}")
        if e > args.rtol:
            problems.append(f"{f}: relative difference {e:.3g} > {args.rtol:g}")
        worst[kind] = max(worst.get(kind, 0.0), e)
    print(json.dumps({"files": len(fa & fb), "worst_relative_difference": worst, "problems": problems[:20]}))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
