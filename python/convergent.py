"""convergent's outputs from Python (numpy only; PyTorch optional). docs/OUTPUTS.md describes the files.

    import convergent as cv
    net = cv.Export("exported/")            # bin/train --export-npy RUN exported/
    x = net.preprocess(uint8_images)        # [N, H, W] or [N, C, H, W], 0..255 -> normalised float32 NCHW
    acts = net.forward(x)                   # numpy reference: {"conv1": [N, C, H, W] after its ReLU, ..., "fc8": logits}
    model = net.torch_model()               # torch.nn.Module with the same weights (needs torch)

    out = cv.CorrelateOutput("runs/correlate")
    out.nets                                # run names, in bin/correlate's order (index = k in file names)
    c = out.between("conv1", 1, 0)          # rows: net 1's units, columns: net 0's (transposed as needed);
                                            # nets by index or by name, e.g. "alexnet-mini-seed2"
    out.matched_pairs("conv1", 1, 0)        # [(unit of net 1, unit of net 0, correlation)], best first
"""
import gzip
import json
import os

import numpy as np

__all__ = ["Export", "CorrelateOutput", "Labelled", "read_idx"]

_CORRELATE_VERSION = 2  # the newest summary.json version this reader knows (analysis/stats/correlate_io.h)


def read_idx(path):
    """An IDX file (MNIST, Fashion-MNIST), gzipped or not whatever its name, as a numpy array."""
    path = os.fspath(path)
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    if len(data) < 4 or data[:2] != b"\0\0" or data[2] != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    dims = data[3]
    if len(data) < 4 + 4 * dims:
        raise ValueError(f"{path}: truncated IDX header")
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    need = 4 + 4 * dims + int(np.prod(shape, dtype=np.int64))
    if len(data) != need:
        raise ValueError(f"{path}: {len(data)} bytes, but its header {shape} needs {need}: truncated or not an IDX file")
    return np.frombuffer(data, np.uint8, offset=4 + 4 * dims).reshape(shape)


# ---------------------------------------------------------------------------------------------
# Exported nets

def _conv(x, w, b, stride, pad, group):
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    x = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    oh, ow = (h + 2 * pad - kh) // stride + 1, (wd + 2 * pad - kw) // stride + 1
    win = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(2, 3))[:, :, ::stride, ::stride][:, :, :oh, :ow]
    og = o // group
    outs = [np.einsum("nchwij,ocij->nohw", win[:, g * cg:(g + 1) * cg], w[g * og:(g + 1) * og], optimize=True)
            for g in range(group)]
    return np.concatenate(outs, axis=1) + b[None, :, None, None]


def _pool_size(n, k, s, p):
    out = -(-(n + 2 * p - k) // s) + 1  # ceil, as Caffe
    if (out - 1) * s >= n + p:  # the last window must start inside the image
        out -= 1
    return out


def _pool_args(L):
    """A maxpool layer's kernel, stride and pad with the engine's defaults (nn/layers.cpp: kernel 2,
    stride = kernel, pad 0): the export keeps the config as written, omitted fields included."""
    k = L.get("kernel_size", 2)
    return k, L.get("stride", k), L.get("pad", 0)


def _maxpool(x, k, s, p):
    n, c, h, w = x.shape
    oh, ow = _pool_size(h, k, s, p), _pool_size(w, k, s, p)
    need_h, need_w = (oh - 1) * s + k, (ow - 1) * s + k
    xp = np.full((n, c, max(need_h, h + p), max(need_w, w + p)), -np.inf, x.dtype)
    xp[:, :, p:p + h, p:p + w] = x
    win = np.lib.stride_tricks.sliding_window_view(xp, (k, k), axis=(2, 3))[:, :, ::s, ::s][:, :, :oh, :ow]
    return win.max(axis=(4, 5))


def _lrn(x, size, alpha, beta, k):
    sq = np.pad(x * x, ((0, 0), (size // 2, (size - 1) // 2), (0, 0), (0, 0)))
    acc = sum(sq[:, i:i + x.shape[1]] for i in range(size))
    return x * (k + alpha / size * acc) ** -beta


class Export:
    """A net written by `bin/train --export-npy`: config.json and one .npy per parameter."""

    def __init__(self, folder):
        with open(os.path.join(folder, "config.json")) as f:
            self.config = json.load(f)
        if self.config.get("format") != "convergent-export":
            raise ValueError(f"{folder}/config.json: not a convergent export")
        self.params = {p["name"]: np.load(os.path.join(folder, p["file"])) for p in self.config["parameters"]}
        self.layers = self.config["net"]["layers"]

    def preprocess(self, pixels):
        """uint8 images [N, C, H, W], or [N, H, W] for a one-channel net, -> the normalised float32
        input the net was trained on; the shape must be the export's `input` ([C, H, W])."""
        pre = self.config["preprocessing"]
        if pre.get("mean") is None:
            raise ValueError("the export does not know its normalisation (see preprocessing.note)")
        x = np.asarray(pixels, np.float32)
        want = list(self.config["input"])
        if x.ndim == 3 and want[0] == 1:
            x = x[:, None]
        if x.ndim != 4 or list(x.shape[1:]) != want:
            raise ValueError(f"images of shape {list(np.shape(pixels))}: the net takes [N, {', '.join(map(str, want))}]" +
                             (" or [N, %d, %d]" % (want[1], want[2]) if want[0] == 1 else ""))
        mean = np.array(pre["mean"], np.float32)[None, :, None, None]
        std = np.array(pre["std"], np.float32)[None, :, None, None]
        return ((x / np.float32(255) - mean) / std).astype(np.float32)

    def forward(self, x):
        """A numpy reference forward pass (inference: no dropout). Returns {layer: activations} for every
        conv and fc layer: after the ReLU right above it where there is one, else its own output (what
        bin/correlate analyses: nn/net.cpp's units_index). It holds every layer's activations at once
        (alexnet-mini: ~0.9 MB per image), so give it a few hundred images at a time."""
        x = np.asarray(x, np.float32)
        acts, prev = {}, None
        for L in self.layers:
            t, name = L["type"], L["name"]
            if t == "conv":
                x = _conv(x, self.params[name + ".weight"], self.params[name + ".bias"], L.get("stride", 1),
                          L.get("pad", 0), L.get("group", 1)).astype(np.float32)
            elif t == "fc":
                x = (x.reshape(len(x), -1) @ self.params[name + ".weight"].T + self.params[name + ".bias"]).astype(np.float32)
            elif t == "relu":
                x = np.maximum(x, 0)
            elif t == "maxpool":
                x = _maxpool(x, *_pool_args(L))
            elif t == "lrn":
                x = _lrn(x, L.get("local_size", 5), L.get("alpha", 1e-4), L.get("beta", 0.75), L.get("k", 1.0)).astype(np.float32)
            elif t in ("dropout", "softmax_loss"):
                pass
            else:
                raise ValueError(f"layer {name}: unknown type {t}")
            if t in ("conv", "fc"):
                acts[name] = x
            elif t == "relu" and prev is not None and prev["type"] in ("conv", "fc"):
                acts[prev["name"]] = x
            prev = L
        return acts

    def torch_model(self):
        """The net as a torch.nn.Sequential with the exported weights (eval mode). Needs PyTorch."""
        import torch
        from torch import nn
        mods = []
        for L in self.layers:
            t, name = L["type"], L["name"]
            if t in ("conv", "fc"):
                w = torch.from_numpy(self.params[name + ".weight"].copy())
                b = torch.from_numpy(self.params[name + ".bias"].copy())
                if t == "conv":
                    m = nn.Conv2d(w.shape[1] * L.get("group", 1), w.shape[0], w.shape[2], L.get("stride", 1),
                                  L.get("pad", 0), groups=L.get("group", 1))
                else:
                    if not mods or not isinstance(mods[-1][1], nn.Flatten):
                        mods.append((name + "_flatten", nn.Flatten()))
                    m = nn.Linear(w.shape[1], w.shape[0])
                with torch.no_grad():
                    m.weight.copy_(w)
                    m.bias.copy_(b)
            elif t == "relu":
                m = nn.ReLU()
            elif t == "maxpool":
                k, st, pad = _pool_args(L)
                m = nn.MaxPool2d(k, st, pad, ceil_mode=True) if 2 * pad <= k else _padded_pool(k, st, pad)
            elif t == "lrn":
                m = nn.LocalResponseNorm(L.get("local_size", 5), L.get("alpha", 1e-4), L.get("beta", 0.75), L.get("k", 1.0))
            elif t == "dropout":
                m = nn.Dropout(L.get("ratio", 0.5))
            else:
                continue
            mods.append((name, m))
        from collections import OrderedDict
        return nn.Sequential(OrderedDict(mods)).eval()


def _padded_pool(k, s, p):
    """A max pool with the engine's pad and output size (_pool_size) where torch's MaxPool2d refuses
    the pad (more than half the kernel): pads with -inf itself, pools unpadded, keeps oh x ow."""
    from torch import nn
    import torch.nn.functional as F

    class PaddedPool(nn.Module):
        def forward(self, x):
            h, w = x.shape[2], x.shape[3]
            oh, ow = _pool_size(h, k, s, p), _pool_size(w, k, s, p)
            right, bottom = max(0, (ow - 1) * s + k - w - p), max(0, (oh - 1) * s + k - h - p)
            x = F.pad(x, (p, right, p, bottom), value=float("-inf"))
            return F.max_pool2d(x, k, s)[:, :, :oh, :ow]

    return PaddedPool()


# ---------------------------------------------------------------------------------------------
# bin/correlate's output

class Labelled:
    """A matrix or vector with the nets its axes belong to: values[i, j] is unit i of `rows` with unit j
    of `cols` (units numbered from 0)."""

    def __init__(self, values, rows, cols=None):
        self.values, self.rows, self.cols = values, rows, cols

    def __array__(self, dtype=None, copy=None):
        v = self.values if dtype is None else self.values.astype(dtype)
        return v.copy() if copy else v

    def __repr__(self):
        axes = f"rows: {self.rows}" + (f", columns: {self.cols}" if self.cols else "")
        return f"Labelled({axes}, shape {self.values.shape})"


class CorrelateOutput:
    """A complete bin/correlate output folder; refuses partial, mixed or old-format folders."""

    def __init__(self, folder):
        self.dir = folder
        path = os.path.join(folder, "summary.json")
        if not os.path.exists(path):
            raise ValueError(f"{folder}: no summary.json: not a complete bin/correlate output")
        with open(path) as f:
            self.summary = json.load(f)
        if self.summary.get("format") != "convergent-correlate":
            raise ValueError(f"{path}: not written by this version of bin/correlate; run it again")
        if self.summary.get("version", 0) > _CORRELATE_VERSION:
            raise ValueError(f"{path}: written by a newer convergent (version {self.summary.get('version')}); update convergent.py")
        self.nets = [n["name"] for n in self.summary["nets"]]
        self.layers = [l["layer"] for l in self.summary["layers"]]
        K = len(self.nets)
        # The files every layer has (analysis/stats/correlate_io.cpp: check_correlate_layer).
        need = ["moments/count.npy"] + [f"{f}_{k}.npy" for k in range(K) for f in ("mean", "std", "within")]
        need += [f"{f}_{p}_{q}.npy" for p in range(K) for q in range(p + 1, K) for f in ("between", "bipartite", "semi")]
        for l in self.summary["layers"]:
            for f in need:
                if not os.path.exists(os.path.join(folder, l["layer"], f)):
                    raise ValueError(f"{folder}/{l['layer']}/{f}: missing, though summary.json lists layer {l['layer']}: "
                                     "an incomplete or mixed bin/correlate output; run bin/correlate again")
            count = np.load(os.path.join(folder, l["layer"], "moments", "count.npy"))
            if count[0] != l["samples_per_unit"]:
                raise ValueError(f"{folder}/{l['layer']}: files of different bin/correlate runs are mixed")

    def net(self, net):
        """The index of a net given by name or index."""
        if isinstance(net, (int, np.integer)):
            if not 0 <= net < len(self.nets):
                raise KeyError(f"net {net}: the output holds nets 0..{len(self.nets) - 1}")
            return int(net)
        if net not in self.nets:
            raise KeyError(f"net {net!r} is not in {self.dir} (its nets: {', '.join(self.nets)})")
        return self.nets.index(net)

    def _file(self, layer, stem, *nets):
        if layer not in self.layers:
            raise KeyError(f"layer {layer!r} is not in {self.dir} (its layers: {', '.join(self.layers)})")
        return np.load(os.path.join(self.dir, layer, stem + "_" + "_".join(str(n) for n in nets) + ".npy"))

    def _two(self, a, b):
        p, q = self.net(a), self.net(b)
        if p == q:
            raise ValueError("a pair needs two different nets")
        return p, q

    def _pair(self, layer, stem, a, b):
        p, q = self._two(a, b)
        m = self._file(layer, stem, min(p, q), max(p, q))
        return Labelled(m if p < q else m.T, self.nets[p], self.nets[q])

    def mean(self, layer, net):
        return Labelled(self._file(layer, "mean", self.net(net)), self.nets[self.net(net)])

    def std(self, layer, net):
        return Labelled(self._file(layer, "std", self.net(net)), self.nets[self.net(net)])

    def within(self, layer, net):
        n = self.nets[self.net(net)]
        return Labelled(self._file(layer, "within", self.net(net)), n, n)

    def between(self, layer, a, b):
        """Correlations [units of a, units of b]."""
        return self._pair(layer, "between", a, b)

    def mi(self, layer, a, b):
        """Mutual information in nats [units of a, units of b] (layers in --mi-layers only)."""
        p, q = self._two(a, b)
        if layer in self.layers and not os.path.exists(os.path.join(self.dir, layer, f"mi_{min(p, q)}_{max(p, q)}.npy")):
            raise KeyError(f"layer {layer!r} of {self.dir} has no mutual information (it was not in bin/correlate's --mi-layers)")
        return self._pair(layer, "mi", a, b)

    def semi(self, layer, a, b):
        """For each unit of a, its best partner (highest correlation) in b (-1: a dead, zero-variance unit;
        dead units of b are nobody's partner)."""
        p, q = self._two(a, b)
        return Labelled(self._file(layer, "semi", p, q), self.nets[p], self.nets[q])

    def bipartite(self, layer, a, b):
        """For each unit of a, its partner in b in the one-to-one matching (-1: unmatched, or a dead unit)."""
        p, q = self._two(a, b)
        m = self._file(layer, "bipartite", min(p, q), max(p, q))
        if p > q:
            inv = np.full(self.between(layer, a, b).values.shape[0], -1, np.int64)
            rows = np.nonzero(m >= 0)[0]
            inv[m[rows]] = rows
            m = inv
        return Labelled(m, self.nets[p], self.nets[q])

    def matched_pairs(self, layer, a, b):
        """[(unit of a, unit of b, correlation)] of the bipartite matching, best first."""
        c, m = self.between(layer, a, b).values, self.bipartite(layer, a, b).values
        pairs = [(int(i), int(j), float(c[i, j])) for i, j in enumerate(m) if j >= 0]
        return sorted(pairs, key=lambda t: (-t[2], t[0]))
