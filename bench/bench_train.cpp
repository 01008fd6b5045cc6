// bin/bench_train: a whole training step (forward + backward + SGD with momentum) and a forward-only
// pass of alexnet-mini and CaffeNet, in images/s, against the same net in PyTorch
// (bench/pytorch_nets.py, run as a subprocess with the same config, batch, threads and device) when
// torch is importable. CPU: 2 threads by default (ours via OpenMP, PyTorch via set_num_threads and
// OMP_NUM_THREADS), CaffeNet at a small batch to keep the run short. GPU: alexnet-mini at 64 and
// CaffeNet at 256, PyTorch in strict FP32 (TF32 off) as our kernels.
// The input is fixed random data already on the device (no data loading in either).
#include <omp.h>

#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "bench/bench_kit.h"
#include "kernels/init.h"
#include "nn/net.h"
#include "base/cli.h"

using namespace cvg;
using namespace cvg::bench;
using json = nlohmann::json;

namespace {

struct Case {
  std::string path;
  int classes, batch;
};

struct Result {
  Timing train, forward;
};

// Seed-1 weights and one fixed batch of Gaussian images with labels 0, 1, ...: what every timed step runs on.
void ready_to_step(Net& net, const NetConfig& cfg, int classes, int batch) {
  net.init(1);
  const size_t per = (size_t)cfg.input[0] * cfg.input[1] * cfg.input[2];
  std::vector<float> x((size_t)batch * per);
  cpu::fill_gaussian(x.size(), x.data(), 0.0f, 1.0f, 3, 0xda7a);
  std::vector<int32_t> labels(batch);
  for (int i = 0; i < batch; ++i) labels[i] = i % classes;
  net.set_batch(x.data(), labels.data(), batch);
}

Result time_ours(const NetConfig& cfg, int classes, int batch, const Device& dev, const Budget& b) {
  Net net(cfg, cfg.input, classes, dev, batch);
  ready_to_step(net, cfg, classes, batch);
  const SolverConfig& s = cfg.solver;
  long long it = 0;
  Result r;
  r.train = measure(
      [&] {
        net.forward(true, it);
        net.backward(it);
        net.sgd_step(s.base_lr, s.momentum, s.weight_decay);
        ++it;
      },
      b, dev);
  r.forward = measure([&] { net.forward(false, 0); }, b, dev);
  return r;
}

// --per-layer: one training step driven layer by layer (what Net::forward/backward do), each pass
// timed on its own, best (min) over `iters` steps of its wall time and of the process's CPU time.
// On a loaded machine wall times mean little; with --threads 1 the CPU time is the work itself
// (with more threads it also counts OpenMP's spin-waiting).
void per_layer(const NetConfig& cfg, int classes, int batch, int iters) {
  Net net(cfg, cfg.input, classes, Device::cpu(), batch);
  ready_to_step(net, cfg, classes, batch);
  const auto& layers = net.layers();
  const size_t L = layers.size();
  struct Best {
    double wall = 1e30, cpu = 1e30;
  };
  std::vector<Best> fwd(L + 1), bwd(L + 1);  // [L]: the SGD step, in fwd
  Best step;
  auto cpu_now = [] {
    timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
  };
  auto timed = [&](Best& b, bool keep, const auto& fn) {
    const double w0 = omp_get_wtime(), c0 = cpu_now();
    fn();
    if (keep) b.wall = std::min(b.wall, omp_get_wtime() - w0), b.cpu = std::min(b.cpu, cpu_now() - c0);
  };
  const SolverConfig& s = cfg.solver;
  for (int it = -1; it < iters; ++it)  // it = -1: warm-up, not kept
    timed(step, it >= 0, [&] {
      RunContext c = net.ctx(true, it + 1);
      for (size_t i = 0; i < L; ++i)  // outputs are the net's own tensors, written by the layers as in Net::forward
        timed(fwd[i], it >= 0,
              [&] { layers[i]->forward(i ? net.output(i - 1) : net.input, const_cast<Tensor&>(net.output(i)), c); });
      for (size_t i = L; i-- > 0;)
        timed(bwd[i], it >= 0, [&] {
          layers[i]->backward(i ? net.output(i - 1) : net.input, net.output(i), net.grad(i), i ? &net.grad(i - 1) : nullptr, c);
        });
      timed(fwd[L], it >= 0, [&] { net.sgd_step(s.base_lr, s.momentum, s.weight_decay); });
    });
  double wall = 0, cpu = 0;
  for (size_t i = 0; i <= L; ++i) wall += fwd[i].wall + (i < L ? bwd[i].wall : 0), cpu += fwd[i].cpu + (i < L ? bwd[i].cpu : 0);
  std::printf("\n%s batch %d, %d threads, best of %d steps, ms per pass (wall / process CPU time)\n", cfg.name.c_str(), batch,
              omp_get_max_threads(), iters);
  std::printf("%-8s %-13s %17s %17s %9s\n", "layer", "type", "forward", "backward", "cpu share");
  for (size_t i = 0; i <= L; ++i) {
    const bool sgd = i == L;
    const Best f = fwd[i], b = sgd ? Best{0, 0} : bwd[i];
    std::printf("%-8s %-13s %8.3f /%8.3f %8.3f /%8.3f %8.1f%%\n", sgd ? "sgd" : layers[i]->cfg.name.c_str(),
                sgd ? "update" : layers[i]->cfg.type.c_str(), 1e3 * f.wall, 1e3 * f.cpu, 1e3 * b.wall, 1e3 * b.cpu,
                100 * (f.cpu + b.cpu) / cpu);
  }
  std::printf("sum of best passes: wall %.2f ms = %.0f img/s, CPU %.2f ms = %.0f img/s per CPU-second\n", 1e3 * wall,
              batch / wall, 1e3 * cpu, batch / cpu);
  std::printf("whole step, best: wall %.2f ms = %.0f img/s, CPU %.2f ms\n", 1e3 * step.wall, batch / step.wall, 1e3 * step.cpu);
}

}  // namespace

int main(int argc, char** argv) {
  return cli::run_main([&] {
    cli::Args args("bench_train [options]",
                   "Training-step and forward-only images/s of alexnet-mini and CaffeNet, ours vs PyTorch (when importable),\n"
                   "on the CPU and on the GPU when present.");
    args.opt("out", "", "JSON results file (default: none)")
        .flag("quick", "short run (fewer repeats, smaller CPU batch for CaffeNet)")
        .opt("threads", "2", "CPU threads (ours via OpenMP, PyTorch via set_num_threads)")
        .opt("cpu-caffenet-batch", "", "CaffeNet batch on the CPU (default 8, quick 4)")
        .flag("no-torch", "skip the PyTorch baselines")
        .flag("cpu-only", "skip the GPU section")
        .flag("gpu-only", "skip the CPU section")
        .flag("with-cpu", "run the CPU section in a --quick run on a GPU machine too (skipped by default there)")
        .flag("per-layer",
              "instead: time each layer's forward and backward in a CPU training step (best wall and CPU time of --iters steps)")
        .opt("net", "data/nets/alexnet-mini.json", "--per-layer: the net")
        .opt("batch", "64", "--per-layer: the batch")
        .opt("classes", "10", "--per-layer: classes of the last fc")
        .opt("iters", "20", "--per-layer: timed steps");
    if (!args.parse(argc, argv)) return 0;
    args.no_positional();
    if (args.on("per-layer")) {
      const int threads = args.int32("threads"), batch = args.int32("batch"), iters = args.int32("iters");
      const int classes = args.int32("classes");
      if (threads < 1 || batch < 1 || iters < 1 || classes < 1)
        throw cli::UsageError("--threads, --batch, --classes and --iters must be >= 1");
      omp_set_num_threads(threads);
      per_layer(load_net_config(args.str("net")), classes, batch, iters);
      return 0;
    }
    const bool quick = args.on("quick");
    const int threads = args.int32("threads");
    if (threads < 1) throw cli::UsageError("--threads must be >= 1");
    omp_set_num_threads(threads);
    const int cpu_caffe = args.given("cpu-caffenet-batch") ? args.int32("cpu-caffenet-batch") : quick ? 4 : 8;
    if (cpu_caffe < 1) throw cli::UsageError("--cpu-caffenet-batch must be >= 1");
    const std::string script = args.on("no-torch") ? "" : find_script("pytorch_nets.py");
    if (!args.on("no-torch") && script.empty()) std::printf("bench/pytorch_nets.py not found: skipping PyTorch baselines\n");

    struct Section {
      Device dev;
      std::vector<Case> cases;
      Budget budget;
    };
    std::vector<Section> sections;
    const bool ran_cpu = cpu_section_wanted(args.on("gpu-only"), args.on("cpu-only"), args.on("quick"), args.on("with-cpu"), gpu_count() > 0);
    if (ran_cpu)
      sections.push_back({Device::cpu(),
                          {{"data/nets/alexnet-mini.json", 10, 64}, {"data/nets/caffenet.json", 1000, cpu_caffe}},
                          quick ? Budget{0, 800, 3, 10} : Budget{0, 3000, 3, 20}});
    if (!args.on("cpu-only")) {
      if (gpu_count() > 0)
        sections.push_back({Device{Device::CUDA, 0},
                            {{"data/nets/alexnet-mini.json", 10, 64}, {"data/nets/caffenet.json", 1000, 256}},
                            quick ? Budget{0, 400, 5, 20} : Budget{0, 2000, 10, 50}});
      else
        std::printf("%s: skipping the GPU section\n", built_with_cuda() ? "no GPU" : "built without CUDA");
    }

    const double load = load_average();
    json rows = json::array();
    std::string torch_version, torch_isa, why_no_torch;
    for (const Section& sec : sections) {
      for (const Case& c : sec.cases) {
        const NetConfig cfg = load_net_config(c.path);
        std::printf("%s %s batch %d ...\n", sec.dev.is_cuda() ? "gpu" : "cpu", cfg.name.c_str(), c.batch);
        std::fflush(stdout);
        const Result ours = time_ours(cfg, c.classes, c.batch, sec.dev, sec.budget);
        json torch;
        if (!script.empty() && why_no_torch.empty()) {
          // As many repeats as ours got, within PyTorch's own limits.
          const int reps = std::max(3, std::min(ours.train.repeats, 20));
          const std::string t = std::to_string(threads);
          std::string cmd = "OMP_NUM_THREADS=" + t + " python3 " + script + " --net " + c.path + " --batch " +
                            std::to_string(c.batch) + " --classes " + std::to_string(c.classes) + " --device " +
                            (sec.dev.is_cuda() ? "cuda" : "cpu") + " --repeats " + std::to_string(reps) +
                            (sec.dev.is_cuda() ? "" : " --threads " + t) + " 2>/dev/null";
          int code = 0;
          const std::string text = run_command(cmd, code);
          torch = last_json_object(text);
          if (code == 3)
            why_no_torch = "PyTorch not importable: skipping PyTorch baselines", std::printf("%s\n", why_no_torch.c_str());
          else if (code != 0 || torch.is_null())
            std::printf("bench/pytorch_nets.py failed (exit %d) on %s\n", code, c.path.c_str()), torch = nullptr;
          else
            torch_version = torch.value("torch", "?");
          if (!torch.is_null() && !sec.dev.is_cuda()) torch_isa = torch.value("cpu_capability", "");
        }
        for (const char* pass : {"train", "forward"}) {
          const Timing& t = std::string(pass) == "train" ? ours.train : ours.forward;
          json row = {{"device", sec.dev.is_cuda() ? "gpu" : "cpu"},
                      {"net", cfg.name},
                      {"batch", c.batch},
                      {"pass", std::string(pass) == "train" ? "train step" : "forward"},
                      {"ours_ms", t.median_ms},
                      {"range", timing_range(t)},
                      {"ours_img_s", c.batch / (t.median_ms * 1e-3)},
                      {"repeats", t.repeats}};
          if (!torch.is_null()) {
            const double tm = torch[std::string(pass) + "_ms"].get<double>();
            row["torch_ms"] = tm;
            if (torch.contains(std::string(pass) + "_min_ms"))
              row["torch_range"] = fmt_num(torch[std::string(pass) + "_min_ms"].get<double>(), "%.3g") + "-" +
                                   fmt_num(torch[std::string(pass) + "_max_ms"].get<double>(), "%.3g");
            row["torch_img_s"] = c.batch / (tm * 1e-3);
            row["vs_torch"] = tm / t.median_ms;
          }
          rows.push_back(row);
        }
      }
    }
    const std::vector<std::string> cols = {"device",     "net",      "batch",       "pass",        "ours_ms", "range",
                                           "ours_img_s", "torch_ms", "torch_range", "torch_img_s", "vs_torch"};
    std::printf("\ntraining step and forward pass: vs_torch = our images/s / PyTorch's (> 1: ours faster)\n");
    std::printf("CPU: %s, %d threads, %s, load average %.1f at start; PyTorch %s\n", machine_name(Device::cpu()).c_str(), threads,
                cpu_run_conditions().c_str(), load, torch_version.empty() ? "absent" : torch_version.c_str());
    print_table(cols, rows);
    std::string note =
        "Images/s of a training step (forward + backward + SGD momentum) and a forward-only pass, input already on the device. ";
    if (ran_cpu)
      note += "CPU: " + machine_name(Device::cpu()) + ", " + std::to_string(threads) + " threads for both, " +
              cpu_run_conditions() + ", load average " + fmt_num(load, "%.1f") + " at start; CaffeNet at batch " +
              std::to_string(cpu_caffe) + " on the CPU to keep the run short. ";
    if (sections.size() > (ran_cpu ? 1u : 0u))
      note += "GPU " + Device{Device::CUDA, 0}.name() + ": CaffeNet at 256, PyTorch strict FP32 (TF32 off, cudnn.benchmark on). ";
    note += "PyTorch: " + (torch_version.empty() ? std::string("absent") : torch_version) + ". ";
    note += torch_cpu_caps();
    if (!torch_isa.empty()) note += "PyTorch's CPU capability (ATen): " + torch_isa + ". ";
    note += "vs_torch = PyTorch's time / ours (> 1: ours faster).";
    if (args.given("out") && !args.str("out").empty()) {
      const std::string out = args.str("out");
      if (auto sl = out.rfind('/'); sl != std::string::npos) make_dirs(out.substr(0, sl));
      const bool gpu = gpu_count() > 0 && !args.on("cpu-only");
      write_results(out, "train", machine_name(gpu ? Device{Device::CUDA, 0} : Device::cpu()), cols, rows, note);
    }
    return 0;
  });
}
