#!/usr/bin/env python3
"""Times scipy.optimize.linear_sum_assignment (maximize=True) on .npy matrices, for bench_assign.

usage: scipy_lsa.py REPEATS FILE.npy...   ->  one JSON object on stdout:
  {"scipy": "1.x", "results": {"FILE.npy": {"ms": median_ms, "objective": value}, ...}}
Exits 3 (printing nothing) when numpy or scipy cannot be imported.
"""
import json
import sys
import time

try:
    import numpy as np
    import scipy
    from scipy.optimize import linear_sum_assignment
except ImportError:
    sys.exit(3)


def main():
    repeats = int(sys.argv[1])
    out = {"scipy": scipy.__version__, "results": {}}
    for path in sys.argv[2:]:
        M = np.load(path)
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            r, c = linear_sum_assignment(M, maximize=True)
            times.append(time.perf_counter() - t)
        out["results"][path] = {"ms": 1e3 * float(np.median(times)), "objective": float(M[r, c].sum())}
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
