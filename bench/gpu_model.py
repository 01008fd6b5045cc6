#!/usr/bin/env python3
"""GPU performance model: a stated target for every kernel before the first GPU timing.

For each layer of a net (default CaffeNet at batch 256) and each kernel family run on it, the FP32
FLOPs and the compulsory DRAM bytes of one call (every input read once, every output written once;
4-byte floats), and the lower bound max(FLOPs / peak FP32, bytes / bandwidth) on an H100 SXM5
(FP32 without tensor cores: 66.9 TFLOP/s; HBM3: 3.35 TB/s). Then, from `cuobjdump
--dump-resource-usage` of the built CUDA objects, each kernel's registers per thread and static
shared memory per block (from `ptxas -v` where cuobjdump is absent), and the occupancy they allow on sm_90 (65536 registers, 2048 threads,
32 blocks and 228 KB of shared memory per SM; registers allocated per warp in units of 256).
Dynamic shared memory is set at launch and not seen here.

usage: gpu_model.py [--net data/nets/caffenet.json] [--batch 256] [--objects build/cuda1] [--out FILE.json]
Standard library only. Writes the project's bench JSON schema (see bench/bench_util.h)."""
import argparse, datetime, glob, json, os, re, shutil, subprocess, sys

PEAK_FLOPS = 66.9e12   # H100 SXM5 FP32 (non-tensor)
PEAK_BYTES = 3.35e12   # H100 SXM5 HBM3
SM_REGS, SM_THREADS, SM_BLOCKS, SM_SMEM, SMEM_RESERVED = 65536, 2048, 32, 228 * 1024, 1024


def layer_calls(cfg, batch, classes):
    """Yields (layer, family, shape text, flops, bytes) for every kernel call of a training step."""
    c, h, w = cfg["input"]
    N, f = batch, 4
    for L in cfg["layers"]:
        t, name = L["type"], L["name"]
        x = N * c * h * w
        if t == "conv":
            k, s, p, g = L.get("kernel_size", 1), L.get("stride", 1), L.get("pad", 0), L.get("group", 1)
            co = L["num_output"]
            ho, wo = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
            y, wt = N * co * ho * wo, co * (c // g) * k * k
            fl = 2 * y * (c // g) * k * k
            shape = f"{c}x{h}x{w} -> {co}x{ho}x{wo} k{k} s{s} g{g}"
            yield name, "conv forward", shape, fl, f * (x + wt + co + y)
            if name != "conv1":  # the first layer's input needs no gradient
                yield name, "conv backward_data", shape, fl, f * (y + wt + x)
            yield name, "conv backward_weights", shape, fl + 2 * y, f * (x + y + wt + co)
            c, h, w = co, ho, wo
        elif t == "relu":
            yield name, "relu forward", f"{c}x{h}x{w}", x, f * 2 * x
            yield name, "relu backward", f"{c}x{h}x{w}", x, f * 3 * x
        elif t == "maxpool":
            k, s = L["kernel_size"], L.get("stride", L["kernel_size"])
            ho, wo = -(-(h - k) // s) + 1, -(-(w - k) // s) + 1
            y = N * c * ho * wo
            shape = f"{c}x{h}x{w} -> {c}x{ho}x{wo} k{k} s{s}"
            yield name, "maxpool forward", shape, y * k * k, f * (x + y)
            yield name, "maxpool backward", shape, y * k * k, f * (x + 2 * y + x)  # input + out + dout -> din
            h, w = ho, wo
        elif t == "lrn":
            n = L.get("local_size", 5)
            yield name, "lrn forward", f"{c}x{h}x{w} size {n}", x * (2 * n + 6), f * 3 * x  # in -> out, scale
            yield name, "lrn backward", f"{c}x{h}x{w} size {n}", x * (2 * n + 8), f * 5 * x  # in, out, scale, dout -> din
        elif t == "fc":
            fin = c * h * w
            out = classes if L["num_output"] == "classes" else L["num_output"]
            fl, wt = 2 * N * fin * out, fin * out
            shape = f"{fin} -> {out}"
            yield name, "fc forward", shape, fl, f * (N * fin + wt + out + N * out)
            yield name, "fc backward_data", shape, fl, f * (N * out + wt + N * fin)
            yield name, "fc backward_weights", shape, fl + N * out, f * (N * fin + N * out + wt + out)
            c, h, w = out, 1, 1
        elif t == "dropout":
            yield name, "dropout forward", f"{c}x{h}x{w}", x, f * 2 * x + x  # in -> out, 1-byte mask
            yield name, "dropout backward", f"{c}x{h}x{w}", x, f * 2 * x + x
        elif t == "softmax_loss":
            yield name, "softmax_loss", f"{c}", 6 * N * c, f * 2 * N * c
    yield "all", "sgd update (momentum, weight decay)", "parameters", None, None


def param_count(cfg, classes):
    c, h, w = cfg["input"]
    total = 0
    for L in cfg["layers"]:
        if L["type"] == "conv":
            k, s, p, g = L.get("kernel_size", 1), L.get("stride", 1), L.get("pad", 0), L.get("group", 1)
            co = L["num_output"]
            total += co * (c // g) * k * k + co
            c, h, w = co, (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
        elif L["type"] == "maxpool":
            k, s = L["kernel_size"], L.get("stride", L["kernel_size"])
            h, w = -(-(h - k) // s) + 1, -(-(w - k) // s) + 1
        elif L["type"] == "fc":
            out = classes if L["num_output"] == "classes" else L["num_output"]
            total += c * h * w * out + out
            c, h, w = out, 1, 1
    return total


def scan_resources(text, func_re, use_re):
    """[(mangled kernel, registers, static shared bytes)] from a tool's report: a line naming the
    kernel (func_re), then one with its registers and shared memory (use_re, two groups)."""
    rows, func = [], None
    for line in text.splitlines():
        m = re.search(func_re, line)
        if m:
            func = m.group(1)
            continue
        m = re.search(use_re, line)
        if m and func:
            rows.append((func, int(m.group(1)), int(m.group(2) or 0)))
            func = None
    return rows


def ptxas_resources(cache):
    """[(file, mangled kernel, registers, static shared bytes)] from `nvcc -Xptxas -v` on kernels/*.cu,
    cached per source under `cache` (reused while newer than the source)."""
    nvcc = shutil.which("nvcc") or ("/usr/local/cuda/bin/nvcc" if os.path.exists("/usr/local/cuda/bin/nvcc") else None)
    if not nvcc:
        return [], "neither cuobjdump nor nvcc found"
    os.makedirs(cache, exist_ok=True)
    rows = []
    for src in sorted(glob.glob("kernels/*.cu") + glob.glob("analysis/*.cu")):
        stem = os.path.basename(src)[:-3]
        log = os.path.join(cache, stem + ".ptxas.txt")
        if not os.path.exists(log) or os.path.getmtime(log) < os.path.getmtime(src):
            cmd = [nvcc, "-I.", "-DFMT_HEADER_ONLY", "-DCONVERGENT_CUDA=1", "-std=c++17", "-O3", "--expt-relaxed-constexpr",
                   "-arch=sm_90", "-cubin", "-Xptxas", "-v", "-o", os.devnull, src]
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode != 0:
                return [], f"nvcc failed on {src}"
            with open(log, "w") as fh:
                fh.write(r.stderr)
        for func, regs, smem in scan_resources(open(log).read(), r"Compiling entry function '(\S+)'",
                                               r"Used (\d+) registers(?:.*?(\d+) bytes smem)?"):
            rows.append((stem, func, regs, smem))
    return rows, ""


def resources(objects):
    """[(file, kernel, registers, static shared bytes)] from cuobjdump on the built objects, else from
    ptxas -v; [] with a reason when neither works."""
    tool = shutil.which("cuobjdump") or ("/usr/local/cuda/bin/cuobjdump" if os.path.exists("/usr/local/cuda/bin/cuobjdump") else None)
    files = sorted(glob.glob(os.path.join(objects, "**", "*.cu.o"), recursive=True))
    rows, why, source = [], "", "cuobjdump --dump-resource-usage"
    if tool and files:
        for path in files:
            out = subprocess.run([tool, "--dump-resource-usage", path], capture_output=True, text=True).stdout
            for func, regs, smem in scan_resources(out, r"Function (\S+):", r"REG:(\d+).*?SHARED:(\d+)"):
                rows.append((os.path.basename(path).replace(".cu.o", ""), func, regs, smem))
    else:
        rows, why = ptxas_resources(os.path.join("build", "gpu_model"))
        source = "ptxas -v"
    if not rows:
        return [], why or "no kernels found", source
    names = subprocess.run(["c++filt"], input="\n".join(r[1] for r in rows), capture_output=True, text=True).stdout.splitlines() \
        if shutil.which("c++filt") else [r[1] for r in rows]
    if len(names) != len(rows):
        names = [r[1] for r in rows]
    short = [re.sub(r"\(.*", "", n.replace("(anonymous namespace)::", "").replace("cvg::", "")).replace("void ", "")
             for n in names]
    return [(o, s, r, sh) for (o, _, r, sh), s in zip(rows, short)], "", source


def occupancy(regs, smem, block=256):
    """Resident warps per SM (of 64) for blocks of `block` threads, and what limits it."""
    warps_per_block = block // 32
    regs_per_warp = -(-max(regs, 1) * 32 // 256) * 256
    by_regs = (SM_REGS // regs_per_warp) // warps_per_block
    by_smem = SM_SMEM // (smem + SMEM_RESERVED) if smem else SM_BLOCKS
    by_threads = SM_THREADS // block
    blocks = min(by_regs, by_smem, by_threads, SM_BLOCKS)
    limit = min((by_regs, "registers"), (by_smem, "shared memory"), (by_threads, "threads"), (SM_BLOCKS, "blocks"))[1]
    return blocks * warps_per_block, "none (full)" if blocks * warps_per_block == 64 else limit


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--net", default="data/nets/caffenet.json")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--classes", type=int, default=1000)
    ap.add_argument("--objects", default="build/cuda1")
    ap.add_argument("--out", default="")
    a = ap.parse_args()
    cfg = json.load(open(a.net))
    rows, total_us = [], 0.0
    params = param_count(cfg, a.classes)
    print(f"GPU performance model: {cfg['name']} at batch {a.batch} on an H100 SXM5 "
          f"(FP32 {PEAK_FLOPS / 1e12:.1f} TFLOP/s, {PEAK_BYTES / 1e12:.2f} TB/s); lower bound = max(compute, memory)")
    print(f"{'layer':7} {'kernel':36} {'shape':34} {'GFLOP':>9} {'MB':>9} {'bound us':>9} {'by':>7}")
    for layer, fam, shape, fl, by in layer_calls(cfg, a.batch, a.classes):
        if fl is None:  # SGD: read w, grad, history; write w, history
            fl, by, shape = 5 * params, 4 * 5 * params, f"{params} parameters"
        t_c, t_m = fl / PEAK_FLOPS * 1e6, by / PEAK_BYTES * 1e6
        bound = max(t_c, t_m)
        total_us += bound
        lim = "compute" if t_c >= t_m else "memory"
        print(f"{layer:7} {fam:36} {shape:34} {fl / 1e9:9.3f} {by / 1e6:9.2f} {bound:9.1f} {lim:>7}")
        rows.append({"layer": layer, "kernel": fam, "shape": shape, "gflop": fl / 1e9, "mbytes": by / 1e6,
                     "compute_us": t_c, "memory_us": t_m, "lower_bound_us": bound, "bound_by": lim})
    print(f"training step lower bound: {total_us / 1e3:.2f} ms = {a.batch / (total_us * 1e-6):.0f} images/s at most")

    res, why, source = resources(a.objects)
    kernels = []
    if not res:
        print(f"kernel resources: none ({why})")
    else:
        print(f"\nkernel resources ({source}, sm_90); occupancy for 256-thread blocks, static shared memory only")
        print(f"{'file':10} {'kernel':58} {'regs':>5} {'smem B':>7} {'warps/SM':>9} {'limit':>14}")
        for obj, k, r, sh in res:
            warps, lim = occupancy(r, sh)
            print(f"{obj:10} {k[:58]:58} {r:5d} {sh:7d} {warps:4d}/64 {lim:>14}")
            kernels.append({"file": obj, "kernel": k, "registers": r, "static_shared_bytes": sh,
                            "warps_per_sm_256": warps, "occupancy_256": warps / 64, "limited_by": lim})
    if a.out:
        doc = {"bench": "gpu_model", "machine": "H100 SXM5 (model, not measured)",
               "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d"),
               "columns": ["layer", "kernel", "shape", "gflop", "mbytes", "compute_us", "memory_us", "lower_bound_us", "bound_by"],
               "rows": rows,
               "note": (f"{cfg['name']} at batch {a.batch}: per kernel call, FP32 FLOPs and compulsory DRAM bytes, lower bound "
                        f"max(FLOPs / {PEAK_FLOPS / 1e12:.1f} TFLOP/s, bytes / {PEAK_BYTES / 1e12:.2f} TB/s). Training step "
                        f"lower bound {total_us / 1e3:.2f} ms. Kernel registers and shared memory: the 'kernels' key "
                        + (f"({len(kernels)} kernels)." if kernels else f"(none: {why}).")),
               "step_lower_bound_ms": total_us / 1e3, "kernels": kernels, "kernels_source": source if kernels else why,
               "peaks": {"fp32_flops": PEAK_FLOPS, "dram_bytes_per_s": PEAK_BYTES}}
        os.makedirs(os.path.dirname(a.out) or ".", exist_ok=True)
        tmp = a.out + ".tmp"
        with open(tmp, "w") as fh:
            json.dump(doc, fh, indent=1)
            fh.write("\n")
        os.replace(tmp, a.out)
        print(f"wrote {a.out}")


if __name__ == "__main__":
    sys.exit(main())
