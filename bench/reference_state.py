#!/usr/bin/env python3
"""Writes the reference state that tests/test_reference_state.cpp checks the engine against (in
llm.c's spirit): a tiny net (tests/data/reference_state/net.json), a batch, the parameters our
initialisation draws from the seed (our counter RNG and Box-Muller, re-implemented here), and, from
the PyTorch rebuild of the net (bench/pytorch_nets.py) run in float64: the logits, the mean loss,
the gradients, and the parameters and momenta after two SGD steps in Caffe's form
(v = momentum v + lr_mult lr (g + decay_mult wd w); w -= v; the second step reuses the gradient).

It also writes what the test's bounds need, computed in float64 on the "absolute net" (|weights|,
|biases|, |input|, LRN as the identity, ReLU and max pooling taking the real net's branches), which
dominates every path of the real net: its logits bound the forward's rounding, its gradients (of
<|dL/dlogits|, .>) bound the backward's. The batch is the first (by data seed) that keeps every
ReLU input and max-pool runner-up at least 4x the forward's rounding bound from its kink, so float32
takes the same branches (a window of exact ReLU zeros ties in float32 as well and sends its gradient
to a dead input).

Run once, commit the output; rerun only when the net or the format changes:
  /work/main/.venv-bench/bin/python bench/reference_state.py [--out tests/data/reference_state]"""
import argparse, copy, json, math, os, sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pytorch_nets import build, nn, torch  # noqa: E402  (exits 3 without PyTorch)
import torch.nn.functional as F  # noqa: E402

M64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15
U = 2.0 ** -24  # float32 unit roundoff


def mix64(z):  # kernels/rng.h
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def rng_bits(seed, stream, index):
    return mix64((mix64(mix64((seed + GOLDEN) & M64) ^ stream) + index * GOLDEN) & M64)


def rng_stream(name, salt=0):
    h = 0xCBF29CE484222325 ^ salt
    for b in name.encode():
        h = ((h ^ b) * 0x100000001B3) & M64
    return h


def fill_gaussian(n, std, seed, stream):  # kernels/init_cpu.cpp, same double operations
    out = np.empty(n, dtype=np.float32)
    for i in range(n):
        u1 = ((rng_bits(seed, stream, 2 * i) >> 11) + 1) * 2.0 ** -53
        u2 = (rng_bits(seed, stream, 2 * i + 1) >> 11) * 2.0 ** -53
        out[i] = 0.0 + std * math.sqrt(-2.0 * math.log(u1)) * math.cos(6.283185307179586 * u2)
    return out


def gamma(n):
    return n * U / (1 - n * U)


def abs_twin(m):
    if isinstance(m, (nn.Conv2d, nn.Linear)):
        t = copy.deepcopy(m)
        with torch.no_grad():
            for p in t.parameters():
                p.abs_()
        return t
    if isinstance(m, nn.LocalResponseNorm):
        return nn.Identity()  # |y| <= |x| (scale >= k = 1); its Jacobian is the identity but for tiny terms
    return m  # Flatten; ReLU and max pooling follow the real net's branches (forward_with_margin)


def forward_with_margin(net, absnet, x):
    """Runs the net and its absolute twin layer by layer; returns the logits, the absolute logits, the
    forward's sum length and the smallest distance of a ReLU input or max-pool runner-up to its kink,
    in units of the rounding bound there."""
    xt = torch.from_numpy(x.astype(np.float64))
    h, ha, n_fwd, worst_margin = xt, xt.abs(), 0, math.inf
    for m, ma in zip(net, absnet):
        if isinstance(m, nn.Conv2d):
            n_fwd += m.weight[0].numel() + 1
        elif isinstance(m, nn.Linear):
            n_fwd += m.weight.shape[1] + 1
        elif isinstance(m, nn.LocalResponseNorm):
            n_fwd += 8  # the squares' fma, powf (<= 4 ulp on CUDA, < 1 on glibc), the product: margin
        bound = 2 * gamma(n_fwd) * ha  # see tests/test_reference_state.cpp
        if isinstance(m, nn.ReLU):
            worst_margin = min(worst_margin, float((h.abs() / bound).min().detach()))
        if isinstance(m, nn.MaxPool2d):  # the top two of every window must be apart
            k, s = m.kernel_size, m.stride
            wins = F.pad(h, (0, k, 0, k), value=-math.inf).unfold(2, k, s).unfold(3, k, s)
            wb = F.pad(bound, (0, k, 0, k)).unfold(2, k, s).unfold(3, k, s)
            oh, ow = F.max_pool2d(h, k, s, ceil_mode=True).shape[2:]
            top2 = wins[:, :, :oh, :ow].flatten(-2).topk(2, dim=-1).values
            gap = (top2[..., 0] - top2[..., 1]) / (2 * wb[:, :, :oh, :ow].flatten(-2).max(-1).values)
            # A window of ReLU zeros ties exactly in float32 too, and routes its gradient to a dead input.
            gap = torch.where(top2[..., 0] > 0, gap, torch.full_like(gap, math.inf))
            worst_margin = min(worst_margin, float(gap.min().detach()))
        # The absolute net takes the real net's branches (the margin above guarantees float32 takes
        # them too): ReLU's mask, max pooling's argmax.
        if isinstance(m, nn.ReLU):
            ha = ha * (h > 0)
        elif isinstance(m, nn.MaxPool2d):
            out, idx = F.max_pool2d(h, m.kernel_size, m.stride, ceil_mode=True, return_indices=True)
            ha = ha.flatten(2).gather(2, idx.flatten(2)).view_as(out)
        else:
            ha = ma(ha)
        h = m(h)
    return h, ha, n_fwd, worst_margin


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "tests", "data", "reference_state"))
    ap.add_argument("--seed", type=int, default=5, help="the net's seed (its initialisation)")
    a = ap.parse_args()
    cfg_path = os.path.join(a.out, "net.json")
    cfg = json.load(open(cfg_path))
    batch, classes, in_shape = 2, 5, cfg["input"]
    lr, momentum, wd = 0.1, 0.9, 5e-4
    torch.set_default_dtype(torch.float64)

    net = build(cfg, in_shape, classes)  # float64 (the default dtype above)
    layers = [L for L in cfg["layers"] if L["type"] in ("conv", "fc")]
    mods = [m for m in net if isinstance(m, (nn.Conv2d, nn.Linear))]
    names, shapes, lr_mults, decay_mults, init = [], [], [], [], []
    for L, m in zip(layers, mods):
        for suffix, p in (("weight", m.weight), ("bias", m.bias)):
            name = L["name"] + "." + suffix
            if suffix == "weight":
                std = L.get("weight_std", 0.01)
                if std == "msra":  # nn/layers.cpp: sqrt(2 / fan_in) in float32
                    std = float(np.sqrt(np.float32(2.0) / np.float32(p[0].numel())))
                vals = fill_gaussian(p.numel(), float(np.float32(std)), a.seed, rng_stream(name))
            else:
                vals = np.full(p.numel(), np.float32(L.get("bias", 0.0)), dtype=np.float32)
            with torch.no_grad():
                p.copy_(torch.from_numpy(vals.astype(np.float64)).reshape(p.shape))
            names.append(name), shapes.append(list(p.shape)), init.append(vals)
            lr_mults.append(L.get("lr_mult", [1, 2])[suffix == "bias"])
            decay_mults.append(L.get("decay_mult", [1, 0])[suffix == "bias"])

    # The batch: the first data seed whose forward stays clear of every kink (see above).
    absnet = [abs_twin(m) for m in net]
    for data_seed in range(1000):
        rng = np.random.default_rng(data_seed)
        x = rng.standard_normal((batch, *in_shape)).astype(np.float32)
        labels = rng.integers(0, classes, batch).astype(np.int32)
        h, ha, n_fwd, margin = forward_with_margin(net, absnet, x)
        if margin >= 4:
            break
    else:
        sys.exit("error: no batch among 1000 data seeds keeps 4x the rounding bound from every kink")
    yt = torch.from_numpy(labels.astype(np.int64))
    logits = h
    loss = F.cross_entropy(logits, yt)
    net.zero_grad()
    loss.backward()
    grads = [p.grad.detach().numpy().ravel().copy() for m in mods for p in (m.weight, m.bias)]
    prob = torch.softmax(logits.detach(), dim=1)
    d_abs = (prob + F.one_hot(yt, classes)) / batch  # >= |dL/dlogits| elementwise
    (ha * d_abs).sum().backward()
    abs_mods = [m for m in absnet if isinstance(m, (nn.Conv2d, nn.Linear))]
    abs_grads = [p.grad.detach().numpy().ravel().copy() for m in abs_mods for p in (m.weight, m.bias)]

    # Backward sum lengths: data gradients through each layer, plus the longest weight-gradient sum.
    n_bwd, longest_w, t = classes + 4, 0, torch.from_numpy(x.astype(np.float64))  # softmax's sum and its few elementwise ops
    with torch.no_grad():
        for m in net:
            if isinstance(m, nn.Conv2d):
                n_bwd += m.out_channels // m.groups + m.kernel_size[0] * m.kernel_size[1]
            elif isinstance(m, nn.Linear):
                n_bwd += m.out_features
            elif isinstance(m, nn.MaxPool2d):
                n_bwd += m.kernel_size * m.kernel_size  # overlapping windows add up at an input
            elif isinstance(m, nn.LocalResponseNorm):
                n_bwd += 2 * m.size + 8
            t = m(t)
            if isinstance(m, nn.Conv2d):  # over the batch's positions, as chunk partials
                longest_w = max(longest_w, batch * t.shape[2] * t.shape[3] + 16)
            elif isinstance(m, nn.Linear):
                longest_w = max(longest_w, batch)
    n_bwd += longest_w

    w0 = np.concatenate(init).astype(np.float64)
    g = np.concatenate(grads)
    lrm = np.concatenate([np.full(len(v), lr * mlt) for v, mlt in zip(init, lr_mults)])
    wdm = np.concatenate([np.full(len(v), wd * mlt) for v, mlt in zip(init, decay_mults)])
    v1 = lrm * (g + wdm * w0)
    w1 = w0 - v1
    v2 = momentum * v1 + lrm * (g + wdm * w1)
    w2 = w1 - v2

    def save(name, arr):
        np.save(os.path.join(a.out, name), arr)

    save("x.npy", x)
    save("labels.npy", labels)
    save("params.npy", np.concatenate(init))
    save("logits.npy", logits.detach().numpy())
    save("abs_logits.npy", ha.detach().numpy())
    save("loss.npy", np.array([loss.item()]))
    save("grads.npy", g)
    save("abs_grads.npy", np.concatenate(abs_grads))
    for name, arr in (("v1", v1), ("w1", w1), ("v2", v2), ("w2", w2)):
        save(name + ".npy", arr)
    meta = {"seed": a.seed, "batch": batch, "classes": classes, "input": in_shape, "lr": lr, "momentum": momentum,
            "weight_decay": wd, "logits_layer": layers[-1]["name"], "params": names, "shapes": shapes,
            "forward_sum_length": n_fwd, "backward_sum_length": n_bwd, "data_seed": data_seed, "kink_margin": margin,
            "torch": torch.__version__, "made_by": "bench/reference_state.py"}
    with open(os.path.join(a.out, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")
    print(json.dumps({k: meta[k] for k in ("forward_sum_length", "backward_sum_length", "kink_margin")}))


if __name__ == "__main__":
    main()
