#!/usr/bin/env python3
"""PyTorch's time for single layer ops, the baseline of bin/bench_layers on the CPU (and usable on a GPU).

Reads a JSON list of ops from the file given (each {"id", "op", shape fields}, written by
bench_layers), times each with the same plan as bench/bench_kit.h (one call to warm up and size
the plan, repeats of `inner` calls lasting at least --min-repeat-ms, about --budget-ms in all) and
prints one JSON object {"torch", "threads", "device", "results": [{"id", "median_ms", "min_ms",
"max_ms", "repeats"} or {"id", "error"}]}. Exit code 3 when PyTorch is not importable.

The ops are what autograd runs for each layer: conv2d and aten.convolution_backward (input or
weight mask), linear and its two matmuls, max_pool2d_with_indices and its backward (ceil mode),
local_response_norm and its autograd backward, relu and threshold_backward, native_dropout and
its backward, and torch.optim.SGD (momentum, weight decay) on one flat parameter."""
import argparse, json, math, sys, time

try:
    import torch
    import torch.nn.functional as F
except Exception as e:  # noqa: BLE001
    print(f"pytorch not available: {e}", file=sys.stderr)
    sys.exit(3)


def make_op(s, dev):
    g = torch.Generator().manual_seed(1234)

    def rnd(*shape):
        return torch.randn(*shape, generator=g).to(dev)

    op, n = s["op"], s.get("n", 1)
    if op.startswith("conv_"):
        c, h, w, k, kk, st, p, gr = s["c"], s["h"], s["w"], s["k"], s["kernel"], s["stride"], s["pad"], s["groups"]
        x, wt = rnd(n, c, h, w), rnd(k, c // gr, kk, kk)
        if op == "conv_forward":
            return lambda: F.conv2d(x, wt, None, st, p, 1, gr)
        dy = torch.randn_like(F.conv2d(x, wt, None, st, p, 1, gr))
        mask = [True, False, False] if op == "conv_backward_data" else [False, True, False]
        return lambda: torch.ops.aten.convolution_backward(dy, x, wt, None, [st, st], [p, p], [1, 1], False, [0, 0], gr, mask)
    if op.startswith("fc_"):
        i, o = s["in"], s["out"]
        x, wt, dy = rnd(n, i), rnd(o, i), rnd(n, o)
        return {"fc_forward": lambda: F.linear(x, wt),
                "fc_backward_data": lambda: dy.mm(wt),
                "fc_backward_weights": lambda: dy.t().mm(x)}[op]
    if op.startswith("maxpool_"):
        c, h, w, kk, st, p = s["c"], s["h"], s["w"], s["kernel"], s["stride"], s["pad"]
        x = rnd(n, c, h, w)
        args = ([kk, kk], [st, st], [p, p], [1, 1], True)
        if op == "maxpool_forward":
            return lambda: torch.ops.aten.max_pool2d_with_indices(x, *args)
        y, idx = torch.ops.aten.max_pool2d_with_indices(x, *args)
        dy = torch.randn_like(y)
        return lambda: torch.ops.aten.max_pool2d_with_indices_backward(dy, x, *args, idx)
    if op.startswith("lrn_"):
        x = rnd(n, s["c"], s["h"], s["w"])
        prm = (s["size"], s["alpha"], s["beta"], s["k"])
        if op == "lrn_forward":
            return lambda: F.local_response_norm(x, *prm)
        xg = x.clone().requires_grad_(True)
        with torch.enable_grad():
            y = F.local_response_norm(xg, *prm)
        dy = torch.randn_like(y)
        return lambda: torch.autograd.grad(y, xg, dy, retain_graph=True)
    if op.startswith("relu_"):
        x = rnd(s["count"])
        if op == "relu_forward":
            return lambda: torch.relu(x)
        y, dy = torch.relu(x), rnd(s["count"])
        return lambda: torch.ops.aten.threshold_backward(dy, y, 0)
    if op.startswith("dropout_"):
        x, p = rnd(s["count"]), s["p"]
        if op == "dropout_forward":
            return lambda: torch.ops.aten.native_dropout(x, p, True)
        _, mask = torch.ops.aten.native_dropout(x, p, True)
        dy = rnd(s["count"])
        return lambda: torch.ops.aten.native_dropout_backward(dy, mask, 1.0 / (1.0 - p))
    if op == "sgd_update":
        w = torch.nn.Parameter(rnd(s["count"]))
        w.grad = rnd(s["count"])
        opt = torch.optim.SGD([w], lr=0.01, momentum=0.9, weight_decay=5e-4, foreach=False)
        return opt.step
    raise ValueError(f"unknown op {op}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("spec")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--min-repeat-ms", type=float, default=2.0)
    ap.add_argument("--budget-ms", type=float, default=300.0)
    ap.add_argument("--min-repeats", type=int, default=3)
    ap.add_argument("--max-repeats", type=int, default=30)
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    if a.device.startswith("cuda"):  # strict FP32, as our kernels
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.benchmark = True
    dev = torch.device(a.device)

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize()

    results = []
    for s in json.load(open(a.spec)):
        try:
            with torch.no_grad():
                fn = make_op(s, dev)
                t0 = time.perf_counter(); fn(); sync()
                first = max((time.perf_counter() - t0) * 1e3, 1e-6)
                inner = int(min(10000, max(1, math.ceil(a.min_repeat_ms / first))))
                reps = int(min(a.max_repeats, max(a.min_repeats, math.floor(a.budget_ms / (inner * first)))))
                ts = []
                for _ in range(reps):
                    t0 = time.perf_counter()
                    for _ in range(inner):
                        fn()
                    sync()
                    ts.append((time.perf_counter() - t0) * 1e3 / inner)
            ts.sort()
            results.append({"id": s["id"], "median_ms": ts[len(ts) // 2], "min_ms": ts[0], "max_ms": ts[-1], "repeats": reps})
        except Exception as e:  # noqa: BLE001 -- one failing op must not lose the others
            results.append({"id": s["id"], "error": str(e).splitlines()[0] if str(e) else type(e).__name__})
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "device": str(dev), "results": results}))


if __name__ == "__main__":
    main()
