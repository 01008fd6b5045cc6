#!/usr/bin/env python3
"""The same nets in PyTorch, built from our JSON configs, as the baseline for bin/bench_train.

Prints one JSON object: images/s of a training step (forward + backward + SGD with momentum) and
of a forward-only pass, median over repeats (with the min and max times), for the given config,
batch, input shape and device. On a GPU it runs strict FP32 as our kernels do (TF32 off for cuDNN
and matmuls) with cudnn.benchmark on, so cuDNN picks its fastest algorithms.
Exit code 3 (and a line on stderr) when PyTorch is not importable."""
import argparse, json, sys, time

try:
    import torch
    import torch.nn as nn
except Exception as e:  # noqa: BLE001
    print(f"pytorch not available: {e}", file=sys.stderr)
    sys.exit(3)


def pool_size(n, k, s, p):  # ceil, less a last window that would start past the image (kernels/pool.h)
    out = -(-(n + 2 * p - k) // s) + 1
    return out - 1 if (out - 1) * s >= n + p else out


def build(cfg, in_shape, classes):
    layers, c, h, w = [], *in_shape
    for L in cfg["layers"]:
        t = L["type"]
        if t == "conv":
            k, s, p, g = L.get("kernel_size", 1), L.get("stride", 1), L.get("pad", 0), L.get("group", 1)
            layers.append(nn.Conv2d(c, L["num_output"], k, s, p, groups=g))
            c, h, w = L["num_output"], (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
        elif t == "relu":
            layers.append(nn.ReLU(inplace=True))
        elif t == "maxpool":
            k, s, p = L["kernel_size"], L.get("stride", L["kernel_size"]), L.get("pad", 0)
            layers.append(nn.MaxPool2d(k, s, p, ceil_mode=True))
            h, w = pool_size(h, k, s, p), pool_size(w, k, s, p)
        elif t == "lrn":
            layers.append(nn.LocalResponseNorm(L.get("local_size", 5), L.get("alpha", 1e-4), L.get("beta", 0.75), L.get("k", 1.0)))
        elif t == "fc":
            if c * h * w != 0 and (h, w) != (1, 1):
                layers.append(nn.Flatten())
            out = classes if L["num_output"] == "classes" else L["num_output"]
            layers.append(nn.Linear(c * h * w, out))
            c, h, w = out, 1, 1
        elif t == "dropout":
            layers.append(nn.Dropout(L.get("ratio", 0.5)))
    return nn.Sequential(*layers)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--net", required=True)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--input", default="")
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=20)
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.benchmark = True
    cfg = json.load(open(a.net))
    in_shape = [int(v) for v in a.input.split(",")] if a.input else cfg["input"]
    dev = torch.device(a.device)
    net = build(cfg, in_shape, a.classes).to(dev)
    s = cfg.get("solver", {})
    opt = torch.optim.SGD(net.parameters(), lr=s.get("base_lr", 0.01), momentum=s.get("momentum", 0.9),
                          weight_decay=s.get("weight_decay", 5e-4))
    x = torch.randn(a.batch, *in_shape, device=dev)
    y = torch.randint(0, a.classes, (a.batch,), device=dev)
    loss_fn = nn.CrossEntropyLoss()

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize()

    def step():
        opt.zero_grad(set_to_none=True)
        loss_fn(net(x), y).backward()
        opt.step()

    def fwd():
        with torch.no_grad():
            net(x)

    out = {"torch": torch.__version__, "threads": torch.get_num_threads(), "device": str(dev), "batch": a.batch,
           # what ATen's CPU kernels run (ATEN_CPU_CAPABILITY caps it): the AVX2 comparison's check
           "cpu_capability": torch.backends.cpu.get_cpu_capability() if hasattr(torch.backends, "cpu") else ""}
    for name, fn in (("train", step), ("forward", fwd)):
        net.train(name == "train")
        fn(); fn(); sync()
        ts = []
        for _ in range(a.repeats):
            t = time.perf_counter(); fn(); sync(); ts.append(time.perf_counter() - t)
        ts.sort()
        out[f"{name}_ms"] = ts[len(ts) // 2] * 1e3
        out[f"{name}_min_ms"], out[f"{name}_max_ms"] = ts[0] * 1e3, ts[-1] * 1e3
        out[f"{name}_images_per_s"] = a.batch / ts[len(ts) // 2]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
