#!/usr/bin/env python3
"""Times the Python assignment solvers on .npy matrices (maximising), for bin/bench_assign.

usage: lsa_baselines.py REPEATS FILE.npy...   ->  one JSON object on stdout:
  {"versions": {"scipy": "1.x", "lap": ..., "lapjv": ...},
   "skipped": {"lapjv": "why", ...},
   "results": {"FILE.npy": {"scipy": {"ms": best_ms, "objective": value}, "lap": {...}, ...}}}
Each solver runs REPEATS times per matrix and the best time is kept (the machine may be shared).
  scipy: scipy.optimize.linear_sum_assignment(M, maximize=True), double precision.
  lap:   lap.lapjv(-M) (gatagat/lap, Jonker-Volgenant), double precision.
  lapjv: lapjv.lapjv(-M) (src-d/lapjv); it casts float64 input to float32 and solves that, so it is
         not exact in double. Square matrices only.
A solver that cannot be imported is listed under "skipped"; exits 3 (printing nothing) without numpy.
"""
import importlib
import json
import sys
import time
from importlib import metadata

try:
    import numpy as np
except ImportError:
    sys.exit(3)


def solvers():
    found, skipped = {}, {}
    try:
        from scipy.optimize import linear_sum_assignment

        def run_scipy(M):
            r, c = linear_sum_assignment(M, maximize=True)
            return M[r, c].sum()
        found["scipy"] = run_scipy
    except ImportError as e:
        skipped["scipy"] = str(e)
    # Both take a cost matrix (minimised): lap.lapjv returns (cost, x, y), lapjv.lapjv (x, y, duals).
    for name, row_to_col in (("lap", lambda mod, C: mod.lapjv(C)[1]), ("lapjv", lambda mod, C: mod.lapjv(C)[0])):
        try:
            mod = importlib.import_module(name)
        except ImportError as e:
            skipped[name] = str(e)
            continue

        def run_jv(M, mod=mod, row_to_col=row_to_col):
            x = row_to_col(mod, np.ascontiguousarray(-M))
            return M[np.arange(len(x)), x].sum()
        found[name] = run_jv
    return found, skipped


def main():
    repeats = int(sys.argv[1])
    found, skipped = solvers()
    versions = {}
    for name in found:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "unknown"
    out = {"versions": versions, "skipped": skipped, "results": {}}
    for path in sys.argv[2:]:
        M = np.load(path)
        res = {}
        for name, run in found.items():
            best, objective = float("inf"), None
            for _ in range(repeats):
                t = time.perf_counter()
                objective = run(M)
                best = min(best, time.perf_counter() - t)
            res[name] = {"ms": 1e3 * best, "objective": float(objective)}
        out["results"][path] = res
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
