// bin/bench_layers: every layer of alexnet-mini and CaffeNet, each pass timed alone.
//  CPU: our CPU twin vs the naive loops of bench/naive_ref.h (single-threaded; on conv and fc they
//       run on a subset of the batch and are scaled to the full batch, stated in the table) and vs
//       PyTorch's CPU op (bench/torch_ops.py, same shapes, same threads) when torch is importable.
//  GPU: our CUDA kernels vs cuDNN (conv: the fastest algorithm cudnnFind measures in CUDNN_FMA_MATH,
//       i.e. strict FP32 as ours) and cuBLAS (fc: SGEMM in CUBLAS_DEFAULT_MATH, no TF32); conv/fc in
//       FLOP/s against the FP32 peak, pool/LRN/ReLU/dropout/SGD in GB/s against the memory
//       bandwidth (bench/gpu_libs.h says how both peaks are computed).
// Ratios are speeds: "vs X" = X's time / our time (> 1: ours is faster). Every time is the median of
// repeats in this run, with the range.
#include <omp.h>

#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "bench/bench_kit.h"
#include "bench/gpu_libs.h"
#include "bench/naive_ref.h"
#include "kernels/act.h"
#include "kernels/conv.h"
#include "kernels/fc.h"
#include "kernels/lrn.h"
#include "kernels/pool.h"
#include "kernels/rng.h"
#include "kernels/sgd.h"
#include "nn/config.h"
#include "nn/tensor.h"
#include "base/cli.h"

using namespace cvg;
using namespace cvg::bench;
using json = nlohmann::json;

namespace {

constexpr uint64_t kSeed = 1, kStream = 7;  // dropout masks
constexpr float kLr = 0.01f, kMomentum = 0.9f, kDecay = 5e-4f;

// One layer of a net at a batch size, with the geometry its kernels take.
struct LayerCase {
  std::string net, name, kind, shape;  // kind: conv fc maxpool lrn relu dropout sgd
  int n = 0;
  ConvGeom conv;
  PoolGeom pool;
  LrnGeom lrn;
  int fc_in = 0, fc_out = 0;
  size_t count = 0;  // relu / dropout elements, sgd parameters
  float p = 0.5f;
};

std::string dims(const std::vector<int>& s) {
  return std::to_string(s[0]) + "x" + std::to_string(s[1]) + "x" + std::to_string(s[2]);
}

std::vector<LayerCase> layers_of(const NetConfig& cfg, int classes, int n) {
  std::vector<LayerCase> out;
  size_t params = 0;
  for (const LayerShape& s : layer_shapes(cfg, cfg.input, classes)) {
    const LayerConfig& c = s.cfg;
    LayerCase L;
    L.net = cfg.name, L.name = c.name, L.kind = c.type, L.n = n;
    L.count = (size_t)n * s.in[0] * s.in[1] * s.in[2];
    if (c.type == "conv") {
      L.conv = ConvGeom{n, s.in[0], s.in[1], s.in[2], c.num_output, c.kernel_size, c.kernel_size, c.stride, c.pad, c.group};
      L.shape = dims(s.in) + " -> " + dims(s.out) + " k" + std::to_string(c.kernel_size) + " s" + std::to_string(c.stride) +
                " p" + std::to_string(c.pad) + (c.group > 1 ? " g" + std::to_string(c.group) : "");
      params += L.conv.w_size() + L.conv.k;
    } else if (c.type == "fc") {
      L.fc_in = s.in[0] * s.in[1] * s.in[2], L.fc_out = c.num_output;
      L.shape = std::to_string(L.fc_in) + " -> " + std::to_string(L.fc_out);
      params += (size_t)L.fc_in * L.fc_out + L.fc_out;
    } else if (c.type == "maxpool") {
      L.pool = PoolGeom{n, s.in[0], s.in[1], s.in[2], c.kernel_size, c.stride, c.pad};
      L.shape = dims(s.in) + " -> " + dims(s.out) + " k" + std::to_string(c.kernel_size) + " s" + std::to_string(c.stride);
    } else if (c.type == "lrn") {
      L.lrn = LrnGeom{n, s.in[0], s.in[1], s.in[2], c.local_size, c.alpha, c.beta, c.k};
      L.shape = dims(s.in) + " size " + std::to_string(c.local_size);
    } else if (c.type == "relu" || c.type == "dropout") {
      L.p = c.ratio;
      L.shape = dims(s.in);
    } else {
      continue;  // softmax_loss: not a layer kernel benchmarked here
    }
    out.push_back(L);
  }
  LayerCase sgd;
  sgd.net = cfg.name, sgd.name = "all params", sgd.kind = "sgd", sgd.n = n, sgd.count = params;
  sgd.shape = fmt_num(params / 1e6, "%.2f") + "M params, one call";
  out.push_back(sgd);
  return out;
}

// The work of one pass: FLOPs (conv, fc) or the bytes it must move at least (the rest).
struct Work {
  double flops = 0, bytes = 0;
};
Work work_of(const LayerCase& L, const std::string& pass) {
  Work w;
  const bool fwd = pass == "forward";
  if (L.kind == "conv") {
    w.flops = 2.0 * L.conv.y_size() * (L.conv.c / L.conv.groups) * L.conv.kh * L.conv.kw;
  } else if (L.kind == "fc") {
    w.flops = 2.0 * L.n * L.fc_in * L.fc_out;
  } else if (L.kind == "maxpool") {  // x read (written back), y and the int32 switches
    w.bytes = 4.0 * L.pool.x_size() + 8.0 * L.pool.y_size();
  } else if (L.kind == "lrn") {  // fwd: x -> y, scale; bwd: x, y, scale, dy -> dx
    w.bytes = (fwd ? 12.0 : 20.0) * L.lrn.x_size();
  } else if (L.kind == "relu") {  // fwd: x -> y; bwd: y, dy -> dx
    w.bytes = (fwd ? 8.0 : 12.0) * L.count;
  } else if (L.kind == "dropout") {  // the mask is recomputed, never stored
    w.bytes = 8.0 * L.count;
  } else if (L.kind == "sgd") {  // w, v, g -> w, v
    w.bytes = 20.0 * L.count;
  }
  return w;
}

std::vector<std::string> passes_of(const std::string& kind) {
  if (kind == "conv" || kind == "fc") return {"forward", "backward_data", "backward_weights"};
  if (kind == "sgd") return {"update"};
  return {"forward", "backward"};
}

// Deterministic uniform noise in [-1, 1), shared by every buffer (values don't change the timings).
const float* noise(size_t n) {
  static std::vector<float> pool;
  if (pool.size() < n) {
    const size_t old = pool.size();
    pool.resize(n);
#pragma omp parallel for schedule(static)
    for (size_t i = old; i < n; ++i) pool[i] = 2.0f * rng_uniform(42, 0xbe7c, i) - 1.0f;
  }
  return pool.data();
}
std::vector<float> host_noise(size_t n, size_t offset = 0) {
  const float* p = noise(n + offset) + offset;
  return std::vector<float>(p, p + n);
}

// max |a - b| / max |b|: how far our twin is from the reference on the same inputs.
double rel_error(const float* a, const float* b, size_t n) {
  double d = 0, m = 0;
  for (size_t i = 0; i < n; ++i) d = std::max(d, (double)std::fabs(a[i] - b[i])), m = std::max(m, (double)std::fabs(b[i]));
  return m > 0 ? d / m : d;
}

struct Settings {
  bool quick = false;
  int threads = 2;
  Budget ours, naive, gpu;
  double naive_flops = 0;  // naive conv/fc: time this many FLOPs' worth of images at most
};

// ---- CPU ----------------------------------------------------------------------------------------

struct CpuResult {
  json row;
  json torch_spec;  // the same op for bench/torch_ops.py (null: none)
};

// Number of images (or samples) the naive loop runs, and the factor that scales it to the batch.
int naive_subset(double flops_full, int n, const Settings& s) {
  const double per = flops_full / n;
  return std::max(1, std::min(n, (int)(s.naive_flops / std::max(per, 1.0))));
}

json base_row(const LayerCase& L, const std::string& pass, const std::string& device) {
  return {{"device", device}, {"net", L.net}, {"batch", L.n}, {"layer", L.name}, {"op", L.kind + " " + pass}, {"shape", L.shape}};
}

void fill_rates(json& r, const Work& w, double ms) {
  if (w.flops > 0) r["gflop_s"] = w.flops / (ms * 1e-3) / 1e9;
  if (w.bytes > 0) r["gb_s"] = w.bytes / (ms * 1e-3) / 1e9;
}

// Times our twin (`ours`) and the naive loop (`naive` on `m` of the n images, scaled), checks them
// against each other on those m images (`ours_m` computes ours on the subset into `got`).
void time_cpu_pass(json& row, const Work& w, const Settings& s, int n, int m, const std::function<void()>& ours,
                   const std::function<void()>& naive, const std::function<void()>& ours_m, const float* got, const float* want,
                   size_t check_n) {
  const Timing t = measure(ours, s.ours);
  row["ours_ms"] = t.median_ms, row["range"] = timing_range(t);
  fill_rates(row, w, t.median_ms);
  const Timing tn = measure(naive, s.naive);
  const double naive_ms = tn.median_ms * n / m;
  row["naive_ms"] = naive_ms;
  row["vs_naive"] = naive_ms / t.median_ms;
  if (m < n)
    row["shape"] = row["shape"].get<std::string>() + " (naive: " + std::to_string(m) + " of " + std::to_string(n) + ", scaled)";
  ours_m();
  const double err = rel_error(got, want, check_n);
  row["check"] = fmt_num(err, "%.1e");
  if (!(err <= 1e-4))
    std::fprintf(stderr, "warning: %s %s: our CPU twin and the naive loop differ by %.2e (max rel)\n",
                 row["layer"].get<std::string>().c_str(), row["op"].get<std::string>().c_str(), err);
}

std::vector<CpuResult> cpu_layer(const LayerCase& L, const Settings& s) {
  std::vector<CpuResult> out;
  if (L.kind == "conv") {
    const ConvGeom& g = L.conv;
    const int m = naive_subset(work_of(L, "forward").flops, g.n, s);
    ConvGeom gm = g;
    gm.n = m;
    auto x = host_noise(g.x_size()), w = host_noise(g.w_size(), 1), dy = host_noise(g.y_size(), 2);
    std::vector<float> y(g.y_size()), dx(g.x_size()), dw(g.w_size()), ws(cpu::conv_workspace_floats(g));
    std::vector<float> ref_y(gm.y_size()), ref_dx(gm.x_size()), ref_dw(g.w_size()), sub_dw(g.w_size());
    json spec = {{"n", g.n},       {"c", g.c},           {"h", g.h},     {"w", g.w},          {"k", g.k},
                 {"kernel", g.kh}, {"stride", g.stride}, {"pad", g.pad}, {"groups", g.groups}};
    for (const std::string& pass : passes_of("conv")) {
      json row = base_row(L, pass, "cpu");
      const Work wk = work_of(L, pass);
      if (pass == "forward")
        time_cpu_pass(
            row, wk, s, g.n, m, [&] { cpu::conv_forward(g, x.data(), w.data(), nullptr, y.data(), ws.data()); },
            [&] { naive::conv_forward(gm, x.data(), w.data(), ref_y.data()); },
            [&] { cpu::conv_forward(gm, x.data(), w.data(), nullptr, y.data(), ws.data()); }, y.data(), ref_y.data(),
            gm.y_size());
      else if (pass == "backward_data")
        time_cpu_pass(
            row, wk, s, g.n, m, [&] { cpu::conv_backward_data(g, dy.data(), w.data(), dx.data(), ws.data()); },
            [&] { naive::conv_backward_data(gm, dy.data(), w.data(), ref_dx.data()); },
            [&] { cpu::conv_backward_data(gm, dy.data(), w.data(), dx.data(), ws.data()); }, dx.data(), ref_dx.data(),
            gm.x_size());
      else
        time_cpu_pass(
            row, wk, s, g.n, m, [&] { cpu::conv_backward_weights(g, x.data(), dy.data(), dw.data(), nullptr, ws.data()); },
            [&] { naive::conv_backward_weights(gm, x.data(), dy.data(), ref_dw.data()); },
            [&] { cpu::conv_backward_weights(gm, x.data(), dy.data(), sub_dw.data(), nullptr, ws.data()); }, sub_dw.data(),
            ref_dw.data(), g.w_size());
      json sp = spec;
      sp["op"] = "conv_" + pass;
      out.push_back({row, sp});
    }
  } else if (L.kind == "fc") {
    const int n = L.n, in = L.fc_in, o = L.fc_out;
    const int m = naive_subset(work_of(L, "forward").flops, n, s);
    auto x = host_noise((size_t)n * in), w = host_noise((size_t)o * in, 1), dy = host_noise((size_t)n * o, 2);
    std::vector<float> y((size_t)n * o), dx((size_t)n * in), dw((size_t)o * in), sub_dw((size_t)o * in);
    std::vector<float> ref_y((size_t)m * o), ref_dx((size_t)m * in), ref_dw((size_t)o * in);
    for (const std::string& pass : passes_of("fc")) {
      json row = base_row(L, pass, "cpu");
      const Work wk = work_of(L, pass);
      if (pass == "forward")
        time_cpu_pass(
            row, wk, s, n, m, [&] { cpu::fc_forward(n, in, o, x.data(), w.data(), nullptr, y.data()); },
            [&] { naive::fc_forward(m, in, o, x.data(), w.data(), ref_y.data()); },
            [&] { cpu::fc_forward(m, in, o, x.data(), w.data(), nullptr, y.data()); }, y.data(), ref_y.data(), ref_y.size());
      else if (pass == "backward_data")
        time_cpu_pass(
            row, wk, s, n, m, [&] { cpu::fc_backward_data(n, in, o, dy.data(), w.data(), dx.data()); },
            [&] { naive::fc_backward_data(m, in, o, dy.data(), w.data(), ref_dx.data()); },
            [&] { cpu::fc_backward_data(m, in, o, dy.data(), w.data(), dx.data()); }, dx.data(), ref_dx.data(), ref_dx.size());
      else
        time_cpu_pass(
            row, wk, s, n, m, [&] { cpu::fc_backward_weights(n, in, o, x.data(), dy.data(), dw.data(), nullptr); },
            [&] { naive::fc_backward_weights(m, in, o, x.data(), dy.data(), ref_dw.data()); },
            [&] { cpu::fc_backward_weights(m, in, o, x.data(), dy.data(), sub_dw.data(), nullptr); }, sub_dw.data(),
            ref_dw.data(), ref_dw.size());
      out.push_back({row, {{"op", "fc_" + pass}, {"n", n}, {"in", in}, {"out", o}}});
    }
  } else if (L.kind == "maxpool") {
    const PoolGeom& g = L.pool;
    auto x = host_noise(g.x_size()), dy = host_noise(g.y_size(), 2);
    std::vector<float> y(g.y_size()), ref_y(g.y_size()), dx(g.x_size()), ref_dx(g.x_size());
    std::vector<int32_t> am(g.y_size()), ref_am(g.y_size());
    cpu::maxpool_forward(g, x.data(), y.data(), am.data());
    json spec = {{"n", g.n}, {"c", g.c}, {"h", g.h}, {"w", g.w}, {"kernel", g.kernel}, {"stride", g.stride}, {"pad", g.pad}};
    for (const std::string& pass : passes_of("maxpool")) {
      json row = base_row(L, pass, "cpu");
      if (pass == "forward")
        time_cpu_pass(
            row, work_of(L, pass), s, 1, 1, [&] { cpu::maxpool_forward(g, x.data(), y.data(), am.data()); },
            [&] { naive::maxpool_forward(g, x.data(), ref_y.data(), ref_am.data()); }, [] {}, y.data(), ref_y.data(), y.size());
      else
        time_cpu_pass(
            row, work_of(L, pass), s, 1, 1, [&] { cpu::maxpool_backward(g, dy.data(), am.data(), dx.data()); },
            [&] { naive::maxpool_backward(g, dy.data(), am.data(), ref_dx.data()); }, [] {}, dx.data(), ref_dx.data(), dx.size());
      json sp = spec;
      sp["op"] = "maxpool_" + pass;
      out.push_back({row, sp});
    }
  } else if (L.kind == "lrn") {
    const LrnGeom& g = L.lrn;
    auto x = host_noise(g.x_size()), dy = host_noise(g.x_size(), 2);
    std::vector<float> y(g.x_size()), sc(g.x_size()), dx(g.x_size()), ref_y(g.x_size()), ref_sc(g.x_size()), ref_dx(g.x_size());
    cpu::lrn_forward(g, x.data(), y.data(), sc.data());
    json spec = {{"n", g.n},       {"c", g.c},         {"h", g.h},       {"w", g.w},
                 {"size", g.size}, {"alpha", g.alpha}, {"beta", g.beta}, {"k", g.k}};
    for (const std::string& pass : passes_of("lrn")) {
      json row = base_row(L, pass, "cpu");
      if (pass == "forward")
        time_cpu_pass(
            row, work_of(L, pass), s, 1, 1, [&] { cpu::lrn_forward(g, x.data(), y.data(), sc.data()); },
            [&] { naive::lrn_forward(g, x.data(), ref_y.data(), ref_sc.data()); }, [] {}, y.data(), ref_y.data(), y.size());
      else
        time_cpu_pass(
            row, work_of(L, pass), s, 1, 1, [&] { cpu::lrn_backward(g, x.data(), y.data(), sc.data(), dy.data(), dx.data()); },
            [&] { naive::lrn_backward(g, x.data(), y.data(), sc.data(), dy.data(), ref_dx.data()); }, [] {}, dx.data(),
            ref_dx.data(), dx.size());
      json sp = spec;
      sp["op"] = "lrn_" + pass;
      out.push_back({row, sp});
    }
  } else if (L.kind == "relu" || L.kind == "dropout") {
    const size_t n = L.count;
    const bool relu = L.kind == "relu";
    auto x = host_noise(n), dy = host_noise(n, 2);
    std::vector<float> y(n), dx(n), ref(n);
    if (relu) cpu::relu_forward(n, x.data(), y.data());
    for (const std::string& pass : passes_of(L.kind)) {
      json row = base_row(L, pass, "cpu");
      const Work wk = work_of(L, pass);
      std::function<void()> ours, nv;
      float* got = pass == "forward" ? y.data() : dx.data();
      if (relu && pass == "forward")
        ours = [&] { cpu::relu_forward(n, x.data(), y.data()); }, nv = [&] { naive::relu_forward(n, x.data(), ref.data()); };
      else if (relu)
        ours = [&] { cpu::relu_backward(n, y.data(), dy.data(), dx.data()); },
        nv = [&] { naive::relu_backward(n, y.data(), dy.data(), ref.data()); };
      else if (pass == "forward")
        ours = [&] { cpu::dropout_forward(n, L.p, kSeed, kStream, 0, x.data(), y.data()); },
        nv = [&] { naive::dropout_forward(n, L.p, kSeed, kStream, x.data(), ref.data()); };
      else
        ours = [&] { cpu::dropout_backward(n, L.p, kSeed, kStream, 0, dy.data(), dx.data()); },
        nv = [&] { naive::dropout_backward(n, L.p, kSeed, kStream, dy.data(), ref.data()); };
      time_cpu_pass(
          row, wk, s, 1, 1, ours, nv, [] {}, got, ref.data(), n);
      json sp = {{"op", L.kind + "_" + pass}, {"count", n}};
      if (!relu) sp["p"] = L.p;
      out.push_back({row, sp});
    }
  } else if (L.kind == "sgd") {
    const size_t n = L.count;
    auto w = host_noise(n), v = host_noise(n, 1), g = host_noise(n, 2);
    auto w2 = w, v2 = v;
    json row = base_row(L, "update", "cpu");
    // Both walk the same number of updates from the same start, so their w can be compared.
    time_cpu_pass(
        row, work_of(L, "update"), s, 1, 1, [&] { cpu::sgd_update(n, w.data(), v.data(), g.data(), kLr, kMomentum, kDecay); },
        [&] { naive::sgd_update(n, w2.data(), v2.data(), g.data(), kLr, kMomentum, kDecay); }, [] {}, v.data(), v2.data(), 0);
    row.erase("check");  // the two ran different numbers of steps: nothing to compare
    out.push_back({row, {{"op", "sgd_update"}, {"count", n}}});
  }
  return out;
}

// Runs bench/torch_ops.py on the specs and writes its times into the rows. Returns torch's version
// ("" when unavailable, with one line saying why).
std::string torch_baselines(std::vector<CpuResult>& res, const Settings& s, const std::string& tmpdir) {
  const std::string script = find_script("torch_ops.py");
  if (script.empty()) {
    std::printf("bench/torch_ops.py not found: skipping PyTorch baselines\n");
    return "";
  }
  json specs = json::array();
  for (size_t i = 0; i < res.size(); ++i)
    if (!res[i].torch_spec.is_null()) {
      json sp = res[i].torch_spec;
      sp["id"] = i;
      specs.push_back(sp);
    }
  const std::string path = tmpdir + "/torch_ops_spec.json";
  write_file_atomic(path, specs.dump());
  const std::string t = std::to_string(s.threads);
  const std::string cmd = "OMP_NUM_THREADS=" + t + " python3 " + script + " " + path + " --device cpu --threads " + t +
                          " --min-repeat-ms " + fmt_num(s.ours.min_repeat_ms) + " --budget-ms " + fmt_num(s.ours.budget_ms) +
                          " --min-repeats " + std::to_string(s.ours.min_repeats) + " --max-repeats " +
                          std::to_string(s.ours.max_repeats) + " 2>/dev/null";
  int code = 0;
  const std::string text = run_command(cmd, code);
  std::remove(path.c_str());
  if (code == 3) {
    std::printf("PyTorch not importable: skipping PyTorch baselines\n");
    return "";
  }
  const json j = last_json_object(text);
  if (code != 0 || j.is_null()) {
    std::printf("bench/torch_ops.py failed (exit %d): skipping PyTorch baselines\n", code);
    return "";
  }
  for (const json& r : j["results"]) {
    json& row = res.at(r["id"].get<size_t>()).row;
    if (r.contains("error")) {
      row["torch_ms"] = "error";
      continue;
    }
    const double ms = r["median_ms"].get<double>();
    row["torch_ms"] = ms;
    row["vs_torch"] = ms / row["ours_ms"].get<double>();
  }
  return j["torch"].get<std::string>() + " (" + std::to_string(j["threads"].get<int>()) + " threads)";
}

// ---- GPU ----------------------------------------------------------------------------------------
#ifdef CONVERGENT_CUDA
struct GpuCtx {
  Device dev{Device::CUDA, 0};
  GpuPeaks peaks;
  std::unique_ptr<Cudnn> cudnn;
  std::unique_ptr<Cublas> cublas;
};

Array<float> dev_noise(const Device& d, size_t n, size_t offset = 0) {
  Array<float> a(d, n);
  a.from_host(noise(n + offset) + offset, n);
  return a;
}

double rel_error_dev(const Array<float>& a, const Array<float>& b) {
  auto ha = a.to_host(), hb = b.to_host();
  return rel_error(ha.data(), hb.data(), ha.size());
}

void gpu_rates(json& r, const Work& w, double ms, const GpuPeaks& pk, const char* key = "of_peak") {
  fill_rates(r, w, ms);
  if (w.flops > 0) r[key] = w.flops / (ms * 1e-3) / 1e9 / pk.fp32_gflops;
  if (w.bytes > 0 && pk.bandwidth_gbs > 0) r[key] = w.bytes / (ms * 1e-3) / 1e9 / pk.bandwidth_gbs;
}

// Our time, and the baseline's (may be empty) with its name, into a row.
void gpu_pass(json& row, const Work& w, const GpuCtx& G, const Settings& s, const std::function<void()>& ours,
              const std::string& base_name, const std::function<void()>& base) {
  const Timing t = measure(ours, s.gpu, G.dev);
  row["ours_ms"] = t.median_ms, row["range"] = timing_range(t);
  gpu_rates(row, w, t.median_ms, G.peaks);
  if (!base) return;
  try {
    const Timing tb = measure(base, s.gpu, G.dev);
    row["baseline"] = base_name;
    row["base_ms"] = tb.median_ms;
    row["vs_base"] = tb.median_ms / t.median_ms;
    json tmp;
    gpu_rates(tmp, w, tb.median_ms, G.peaks, "x");
    if (tmp.contains("x")) row["base_of_peak"] = tmp["x"];
  } catch (const std::exception& e) {
    row["baseline"] = base_name + " failed: " + e.what();
  }
}

std::vector<json> gpu_layer(const LayerCase& L, GpuCtx& G, const Settings& s) {
  std::vector<json> rows;
  const Device& d = G.dev;
  if (L.kind == "conv") {
    const ConvGeom& g = L.conv;
    auto x = dev_noise(d, g.x_size()), w = dev_noise(d, g.w_size(), 1), dy = dev_noise(d, g.y_size(), 2);
    Array<float> y(d, g.y_size()), dx(d, g.x_size()), dw(d, g.w_size()), ws(d, cuda::conv_workspace_floats(g));
    CudnnConvPlan plan;
    std::string plan_error;
    if (G.cudnn) {
      try {
        plan = G.cudnn->plan(g);
      } catch (const std::exception& e) {
        plan_error = e.what();
      }
    }
    for (const std::string& pass : passes_of("conv")) {
      json row = base_row(L, pass, "gpu");
      const Work wk = work_of(L, pass);
      std::function<void()> ours, base;
      std::string name = "cuDNN";
      size_t need = 0;
      bool ok = false;
      Array<float>* out = nullptr;
      if (pass == "forward") {
        ours = [&] { cuda::conv_forward(g, x.data(), w.data(), nullptr, y.data(), ws.data()); };
        ok = plan.fwd_ok, need = plan.fwd_ws, name += " " + plan.fwd_algo, out = &y;
      } else if (pass == "backward_data") {
        ours = [&] { cuda::conv_backward_data(g, dy.data(), w.data(), dx.data(), ws.data()); };
        ok = plan.bwd_data_ok, need = plan.bwd_data_ws, name += " " + plan.bwd_data_algo, out = &dx;
      } else {
        ours = [&] { cuda::conv_backward_weights(g, x.data(), dy.data(), dw.data(), nullptr, ws.data()); };
        ok = plan.bwd_filter_ok, need = plan.bwd_filter_ws, name += " " + plan.bwd_filter_algo, out = &dw;
      }
      Array<char> cws;
      Array<float> ref;
      if (G.cudnn && ok) {
        try {
          cws = Array<char>(d, std::max<size_t>(need, 1));
          ref = Array<float>(d, out->size());
          if (pass == "forward")
            base = [&] { G.cudnn->forward(plan, x.data(), w.data(), ref.data(), cws.data()); };
          else if (pass == "backward_data")
            base = [&] { G.cudnn->backward_data(plan, dy.data(), w.data(), ref.data(), cws.data()); };
          else
            base = [&] { G.cudnn->backward_filter(plan, x.data(), dy.data(), ref.data(), cws.data()); };
        } catch (const std::exception& e) {
          row["baseline"] = std::string("cuDNN skipped: ") + e.what();
        }
      } else if (G.cudnn) {
        row["baseline"] = plan_error.empty() ? "cuDNN: no algorithm" : "cuDNN failed: " + plan_error;
      }
      gpu_pass(row, wk, G, s, ours, name, base);
      if (base && row.contains("base_ms")) row["check"] = fmt_num(rel_error_dev(*out, ref), "%.1e");
      rows.push_back(row);
    }
    if (G.cudnn) G.cudnn->release(plan);
  } else if (L.kind == "fc") {
    const int n = L.n, in = L.fc_in, o = L.fc_out;
    auto x = dev_noise(d, (size_t)n * in), w = dev_noise(d, (size_t)o * in, 1), dy = dev_noise(d, (size_t)n * o, 2);
    Array<float> y(d, (size_t)n * o), dx(d, (size_t)n * in), dw(d, (size_t)o * in);
    Array<float> ry(d, y.size()), rdx(d, dx.size()), rdw(d, dw.size());
    for (const std::string& pass : passes_of("fc")) {
      json row = base_row(L, pass, "gpu");
      std::function<void()> ours, base;
      Array<float>*out = nullptr, *ref = nullptr;
      Cublas* cb = G.cublas.get();
      if (pass == "forward") {
        ours = [&] { cuda::fc_forward(n, in, o, x.data(), w.data(), nullptr, y.data()); };
        if (cb) base = [&] { cb->gemm(false, true, n, o, in, x.data(), in, w.data(), in, ry.data(), o); };
        out = &y, ref = &ry;
      } else if (pass == "backward_data") {
        ours = [&] { cuda::fc_backward_data(n, in, o, dy.data(), w.data(), dx.data()); };
        if (cb) base = [&] { cb->gemm(false, false, n, in, o, dy.data(), o, w.data(), in, rdx.data(), in); };
        out = &dx, ref = &rdx;
      } else {
        ours = [&] { cuda::fc_backward_weights(n, in, o, x.data(), dy.data(), dw.data(), nullptr); };
        if (cb) base = [&] { cb->gemm(true, false, o, in, n, dy.data(), o, x.data(), in, rdw.data(), in); };
        out = &dw, ref = &rdw;
      }
      gpu_pass(row, work_of(L, pass), G, s, ours, "cuBLAS SGEMM", base);
      if (base && row.contains("base_ms")) row["check"] = fmt_num(rel_error_dev(*out, *ref), "%.1e");
      rows.push_back(row);
    }
  } else if (L.kind == "maxpool") {
    const PoolGeom& g = L.pool;
    auto x = dev_noise(d, g.x_size()), dy = dev_noise(d, g.y_size(), 2);
    Array<float> y(d, g.y_size()), dx(d, g.x_size());
    Array<int32_t> am(d, g.y_size());
    cuda::maxpool_forward(g, x.data(), y.data(), am.data());
    for (const std::string& pass : passes_of("maxpool")) {
      json row = base_row(L, pass, "gpu");
      if (pass == "forward")
        gpu_pass(row, work_of(L, pass), G, s, [&] { cuda::maxpool_forward(g, x.data(), y.data(), am.data()); }, "", {});
      else
        gpu_pass(row, work_of(L, pass), G, s, [&] { cuda::maxpool_backward(g, dy.data(), am.data(), dx.data()); }, "", {});
      rows.push_back(row);
    }
  } else if (L.kind == "lrn") {
    const LrnGeom& g = L.lrn;
    auto x = dev_noise(d, g.x_size()), dy = dev_noise(d, g.x_size(), 2);
    Array<float> y(d, g.x_size()), sc(d, g.x_size()), dx(d, g.x_size());
    cuda::lrn_forward(g, x.data(), y.data(), sc.data());
    for (const std::string& pass : passes_of("lrn")) {
      json row = base_row(L, pass, "gpu");
      if (pass == "forward")
        gpu_pass(row, work_of(L, pass), G, s, [&] { cuda::lrn_forward(g, x.data(), y.data(), sc.data()); }, "", {});
      else
        gpu_pass(row, work_of(L, pass), G, s, [&] { cuda::lrn_backward(g, x.data(), y.data(), sc.data(), dy.data(), dx.data()); },
                 "", {});
      rows.push_back(row);
    }
  } else if (L.kind == "relu" || L.kind == "dropout") {
    const size_t n = L.count;
    auto x = dev_noise(d, n), dy = dev_noise(d, n, 2);
    Array<float> y(d, n), dx(d, n);
    cuda::relu_forward(n, x.data(), y.data());
    for (const std::string& pass : passes_of(L.kind)) {
      json row = base_row(L, pass, "gpu");
      std::function<void()> ours;
      if (L.kind == "relu" && pass == "forward")
        ours = [&] { cuda::relu_forward(n, x.data(), y.data()); };
      else if (L.kind == "relu")
        ours = [&] { cuda::relu_backward(n, y.data(), dy.data(), dx.data()); };
      else if (pass == "forward")
        ours = [&] { cuda::dropout_forward(n, L.p, kSeed, kStream, 0, x.data(), y.data()); };
      else
        ours = [&] { cuda::dropout_backward(n, L.p, kSeed, kStream, 0, dy.data(), dx.data()); };
      gpu_pass(row, work_of(L, pass), G, s, ours, "", {});
      rows.push_back(row);
    }
  } else if (L.kind == "sgd") {
    const size_t n = L.count;
    auto w = dev_noise(d, n), v = dev_noise(d, n, 1), g = dev_noise(d, n, 2);
    json row = base_row(L, "update", "gpu");
    gpu_pass(row, work_of(L, "update"), G, s, [&] { cuda::sgd_update(n, w.data(), v.data(), g.data(), kLr, kMomentum, kDecay); },
             "", {});
    rows.push_back(row);
  }
  return rows;
}
#endif

struct NetCase {
  std::string path;
  int classes;
  std::vector<int> cpu_batches, gpu_batches;
};

}  // namespace

int main(int argc, char** argv) {
  return cli::run_main([&] {
    cli::Args args("bench_layers [options]",
                   "Times every layer pass of alexnet-mini and CaffeNet: on the CPU against the naive loops and PyTorch,\n"
                   "on the GPU (when present) against cuDNN / cuBLAS and the hardware's peaks.");
    args.opt("out", "", "JSON results file (default: none)")
        .flag("quick", "short run (smaller CPU batch for CaffeNet, shorter timing budgets)")
        .opt("threads", "2", "CPU threads (ours via OpenMP, PyTorch via set_num_threads)")
        .flag("no-torch", "skip the PyTorch baselines")
        .flag("cpu-only", "skip the GPU section")
        .flag("gpu-only", "skip the CPU section")
        .flag("with-cpu", "run the CPU section in a --quick run on a GPU machine too (skipped by default there)");
    if (!args.parse(argc, argv)) return 0;
    args.no_positional();
    Settings s;
    s.quick = args.on("quick");
    s.threads = args.int32("threads");
    if (s.threads < 1) throw cli::UsageError("--threads must be >= 1");
    omp_set_num_threads(s.threads);
    s.ours = s.quick ? Budget{2, 60, 3, 10} : Budget{2, 250, 3, 30};
    s.naive = s.quick ? Budget{0, 50, 1, 1, false} : Budget{0, 300, 1, 3, false};
    s.gpu = s.quick ? Budget{1, 25, 5, 20} : Budget{2, 150, 10, 50};
    s.naive_flops = s.quick ? 1e8 : 4e8;
    // CPU batches are small for CaffeNet to keep the 2-core run short (stated in the note).
    const std::vector<NetCase> nets = {{"data/nets/alexnet-mini.json", 10, {64}, {64}},
                                       {"data/nets/caffenet.json", 1000, {s.quick ? 2 : 8}, {128, 256}}};
    const std::string tmpdir = "/tmp/bench_layers_" + std::to_string(::getpid());
    make_dirs(tmpdir);

    json rows = json::array();
    std::string note;
    const double load = load_average();
    if (cpu_section_wanted(args.on("gpu-only"), args.on("cpu-only"), args.on("quick"), args.on("with-cpu"), gpu_count() > 0)) {
      std::vector<CpuResult> res;
      for (const NetCase& nc : nets) {
        const NetConfig cfg = load_net_config(nc.path);
        for (int n : nc.cpu_batches)
          for (const LayerCase& L : layers_of(cfg, nc.classes, n)) {
            std::printf("cpu  %-12s b%-3d %-10s %s\n", L.net.c_str(), n, L.name.c_str(), L.kind.c_str());
            std::fflush(stdout);
            for (CpuResult& r : cpu_layer(L, s)) res.push_back(std::move(r));
          }
      }
      std::string torch = args.on("no-torch") ? "" : torch_baselines(res, s, tmpdir);
      json cpu_rows = json::array();
      for (auto& r : res) cpu_rows.push_back(r.row);
      std::printf("\nCPU: %s, %d threads, %s, load average %.1f at start; PyTorch: %s\n", machine_name(Device::cpu()).c_str(),
                  s.threads, cpu_run_conditions().c_str(), load, torch.empty() ? "absent" : torch.c_str());
      std::printf("vs_naive / vs_torch = their time / ours (> 1: ours faster); check = max |ours - naive| / max |naive|\n");
      print_table({"net", "batch", "layer", "op", "ours_ms", "range", "naive_ms", "vs_naive", "torch_ms", "vs_torch", "gflop_s",
                   "gb_s", "check"},
                  cpu_rows);
      for (auto& r : cpu_rows) rows.push_back(r);
      note += "CPU (" + machine_name(Device::cpu()) + ", " + std::to_string(s.threads) + " threads, " + cpu_run_conditions() +
              ", load average " + fmt_num(load, "%.1f") + " at start): CaffeNet at batch " +
              std::to_string(nets[1].cpu_batches[0]) +
              " to keep the run short. naive = textbook loops, single-threaded; on conv/fc timed on a subset of the batch "
              "and scaled (noted in shape). PyTorch: " +
              (torch.empty() ? "absent" : torch) + ". " + torch_cpu_caps();
    }
#ifdef CONVERGENT_CUDA
    if (!args.on("cpu-only") && gpu_count() > 0) {
      GpuCtx G;
      set_current(G.dev);
      G.peaks = gpu_peaks(0);
      G.cudnn = std::make_unique<Cudnn>();
      if (!G.cudnn->load()) {
        std::printf("cuDNN not found: skipping cuDNN baselines (%s)\n", G.cudnn->why().c_str());
        G.cudnn.reset();
      }
      G.cublas = std::make_unique<Cublas>();
      if (!G.cublas->load()) {
        std::printf("cuBLAS not found: skipping cuBLAS baselines (%s)\n", G.cublas->why().c_str());
        G.cublas.reset();
      }
      json gpu_rows = json::array();
      for (const NetCase& nc : nets) {
        const NetConfig cfg = load_net_config(nc.path);
        for (int n : nc.gpu_batches)
          for (const LayerCase& L : layers_of(cfg, nc.classes, n)) {
            std::printf("gpu  %-12s b%-3d %-10s %s\n", L.net.c_str(), n, L.name.c_str(), L.kind.c_str());
            std::fflush(stdout);
            for (json& r : gpu_layer(L, G, s)) gpu_rows.push_back(r);
          }
      }
      std::printf("\nGPU: %s; FP32 peak %.1f TFLOP/s = %s; bandwidth %.0f GB/s = %s\n", G.peaks.name.c_str(),
                  G.peaks.fp32_gflops / 1e3, G.peaks.flops_formula.c_str(), G.peaks.bandwidth_gbs,
                  G.peaks.bandwidth_source.c_str());
      std::printf("cuDNN %s (CUDNN_FMA_MATH: strict FP32, no TF32), cuBLAS %s (CUBLAS_DEFAULT_MATH: no TF32)\n",
                  G.cudnn ? G.cudnn->version().c_str() : "absent", G.cublas ? G.cublas->version().c_str() : "absent");
      std::printf("vs_base = baseline time / ours (> 1: ours faster); of_peak = ours / the FP32 peak (conv, fc) or bandwidth\n");
      print_table({"net", "batch", "layer", "op", "ours_ms", "range", "baseline", "base_ms", "vs_base", "gflop_s", "gb_s",
                   "of_peak", "base_of_peak", "check"},
                  gpu_rows);
      for (auto& r : gpu_rows) rows.push_back(r);
      note += "GPU " + G.peaks.name + ": FP32 peak " + fmt_num(G.peaks.fp32_gflops / 1e3, "%.1f") + " TFLOP/s (" +
              G.peaks.flops_formula + "), memory " + fmt_num(G.peaks.bandwidth_gbs, "%.0f") + " GB/s (" +
              G.peaks.bandwidth_source + "). cuDNN " + (G.cudnn ? G.cudnn->version() : "absent") +
              " in CUDNN_FMA_MATH (no TF32), fastest algo by cudnnFind; cuBLAS " + (G.cublas ? G.cublas->version() : "absent") +
              " SGEMM in CUBLAS_DEFAULT_MATH. ";
    } else if (!args.on("cpu-only")) {
      std::printf("no GPU: skipping the GPU section\n");
    }
#else
    if (!args.on("cpu-only")) std::printf("built without CUDA: skipping the GPU section\n");
#endif
    ::rmdir(tmpdir.c_str());
    note += "Ratios vs_* = baseline time / our time (> 1: ours faster); times are medians over repeats (range = min-max).";
    if (args.given("out") && !args.str("out").empty()) {
      const std::string out = args.str("out");
      if (auto sl = out.rfind('/'); sl != std::string::npos) make_dirs(out.substr(0, sl));
      write_results(
          out, "layers", machine_name(gpu_count() > 0 && !args.on("cpu-only") ? Device{Device::CUDA, 0} : Device::cpu()),
          {"device",   "net",      "batch",    "layer",   "op",      "shape",   "ours_ms", "range",   "naive_ms",     "vs_naive",
           "torch_ms", "vs_torch", "baseline", "base_ms", "vs_base", "gflop_s", "gb_s",    "of_peak", "base_of_peak", "check"},
          rows, note);
    }
    return 0;
  });
}
