#!/usr/bin/python3
"""python/convergent.py against the C++ tools (run by tests/cli_test.sh with Debian's python3-numpy):
    test_python.py EXPORT_0 EXPORT_1 CORRELATE_DIR N
EXPORT_k: bin/train --export-npy of net k of CORRELATE_DIR, which bin/correlate wrote from the first N
Fashion-MNIST test images. The numpy forward pass of the exports must reproduce bin/correlate's
means, stds and between-net correlations; the labelled reader must orient every pair; the PyTorch
model (only when torch is importable) must give the numpy forward's outputs; bad inputs (a truncated
IDX file, a correlate folder missing a file or from a newer version, images of the wrong shape)
must get the reader's own errors.

Tolerances: both sides compute in float32 with different summation orders, so activations agree to
~1e-6 relative; means and stds over N x positions samples to ~1e-5 of the unit's scale and
correlations to ~1e-5 absolute. 1e-4 leaves a 10x margin and still catches a wrong layer, layout,
normalisation or pooling rule (each changes them by > 1e-2)."""
import gzip
import json
import os
import pathlib
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
import numpy as np

import convergent as cv

TOL = 1e-4


def raises(exc, words, fn, *args):
    """fn(*args) must raise exc with `words` in its message."""
    try:
        fn(*args)
    except exc as e:
        assert words in str(e), (words, str(e))
        return
    raise AssertionError(f"{fn.__name__}{args} did not raise {exc.__name__} ({words})")


def check_refusals(export_dir, corr_dir):
    """Bad or unusual inputs get the reader's own clear errors, as the C++ readers give them."""
    labels = "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz"
    want = cv.read_idx(labels)
    assert np.array_equal(cv.read_idx(pathlib.Path(labels)), want)
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copy(labels, os.path.join(tmp, "labels"))  # gzip without the .gz: read as the engine reads it
        assert np.array_equal(cv.read_idx(os.path.join(tmp, "labels")), want)
        with open(labels, "rb") as f, open(os.path.join(tmp, "short"), "wb") as g:
            g.write(gzip.decompress(f.read())[:5000])
        raises(ValueError, "truncated", cv.read_idx, os.path.join(tmp, "short"))
        c = os.path.join(tmp, "c")
        shutil.copytree(corr_dir, c)
        out = cv.CorrelateOutput(c)
        layer = out.layers[0]
        raises(ValueError, "two different nets", out.semi, layer, 0, 0)
        raises(ValueError, "two different nets", out.bipartite, layer, 1, 1)
        for f in os.listdir(os.path.join(c, layer)):  # as if the layer were not in --mi-layers
            if f.startswith("mi_"):
                os.remove(os.path.join(c, layer, f))
        raises(KeyError, "no mutual information", out.mi, layer, 0, 1)
        os.remove(os.path.join(c, layer, "between_0_1.npy"))
        raises(ValueError, "between_0_1.npy: missing", cv.CorrelateOutput, c)
        shutil.copy(os.path.join(corr_dir, layer, "between_0_1.npy"), os.path.join(c, layer))
        with open(os.path.join(c, "summary.json")) as f:
            summary = json.load(f)
        summary["version"] += 1
        with open(os.path.join(c, "summary.json"), "w") as f:
            json.dump(summary, f)
        raises(ValueError, "newer convergent", cv.CorrelateOutput, c)
    net = cv.Export(export_dir)
    c, h, w = net.config["input"]
    raises(ValueError, "the net takes", net.preprocess, np.zeros((2, h + 1, w), np.uint8))
    raises(ValueError, "the net takes", net.preprocess, np.zeros((c, h, w + 1), np.uint8))
    raises(ValueError, "the net takes", net.preprocess, np.zeros((2, c + 1, h, w), np.uint8))


def main(exp0, exp1, corr_dir, n):
    check_refusals(exp0, corr_dir)
    nets = [cv.Export(exp0), cv.Export(exp1)]
    pixels = cv.read_idx("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz")[:n]
    x = nets[0].preprocess(pixels)
    assert nets[0].config["pooling"]["rounding"] == "ceil"
    # kernels/pool.h's sizes (tests/test_pool.cpp): ceil, less a last window that would start past the image
    assert [cv._pool_size(*a) for a in [(13, 3, 2, 0), (5, 2, 2, 1), (5, 1, 3, 0), (3, 2, 3, 0)]] == [6, 3, 2, 1]
    # the engine's defaults for fields a config omits (nn/layers.cpp's parse_maxpool)
    assert cv._pool_args({}) == (2, 2, 0) and cv._pool_args({"kernel_size": 3}) == (3, 3, 0)
    acts = [net.forward(x) for net in nets]
    out = cv.CorrelateOutput(corr_dir)
    checked = 0
    for layer in out.layers:
        flat = []
        for k in range(2):
            a = acts[k][layer].astype(np.float64)
            a = a.transpose(0, 2, 3, 1).reshape(-1, a.shape[1]) if a.ndim == 4 else a
            flat.append(a)
            mean, std = out.mean(layer, k).values, out.std(layer, k).values
            scale = np.sqrt(mean ** 2 + std ** 2).max()
            assert np.abs(a.mean(0) - mean).max() <= TOL * scale, (layer, k, "mean")
            assert np.abs(a.std(0) - std).max() <= TOL * scale, (layer, k, "std")
        c = out.between(layer, 0, 1).values
        live = (flat[0].std(0) > 0)[:, None] & (flat[1].std(0) > 0)[None, :]
        with np.errstate(invalid="ignore", divide="ignore"):  # dead units: NaN here, 0 in the files
            ref = np.corrcoef(flat[0].T, flat[1].T)[:c.shape[0], c.shape[0]:]
        assert np.abs(np.where(live, ref, 0) - np.where(live, c, 0)).max() <= TOL, (layer, "between")
        # Reversed order: the transpose, and the same pairs seen from the other side.
        name0, name1 = out.nets
        r = out.between(layer, name1, name0)
        assert (r.rows, r.cols) == (name1, name0) and np.array_equal(r.values, c.T)
        fwd = out.matched_pairs(layer, 0, 1)
        rev = out.matched_pairs(layer, name1, name0)
        assert sorted((b, a) for a, b, _ in fwd) == sorted((a, b) for a, b, _ in rev)
        assert all(abs(v - c[a, b]) == 0 for a, b, v in fwd)
        checked += 1
    assert checked >= 2
    try:
        import torch
    except ImportError:
        print("python: numpy forward matches bin/correlate on", checked, "layers; PyTorch part skipped (torch not importable)")
        return
    with torch.no_grad():
        logits = nets[0].torch_model()(torch.from_numpy(x)).numpy()
    last = [l["name"] for l in nets[0].layers if l["type"] == "fc"][-1]
    ref = acts[0][last]
    assert np.abs(logits - ref).max() <= TOL * max(1.0, np.abs(ref).max()), "torch logits"
    print("python: numpy forward matches bin/correlate on", checked, "layers; the PyTorch model matches too")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))
