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
    try:
        import lap

        def run_lap(M):
            _, x, _ = lap.lapjv(np.ascontiguousarray(-M))
            return M[np.arange(len(x)), x].sum()
        found["lap"] = run_lap
    except ImportError as e:
        skipped["lap"] = str(e)
    try:
        import lapjv

        def run_lapjv(M):
            x, _, _ = lapjv.lapjv(np.ascontiguousarray(-M))
            return M[np.arange(len(x)), x].sum()
        found["lapjv"] = run_lapjv
    except ImportError as e:
        skipped["lapjv"] = str(e)
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
