// bin/train: trains several nets that differ only in their initialisation seed.
#include <omp.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <thread>

#include "nn/trainer.h"
#include "nn/checkpoint.h"
#include "base/io.h"
#include "base/cli.h"
#include "tools/data_path.h"
#include "nn/export.h"
#include "base/progress.h"

using namespace cvg;

static std::vector<uint64_t> parse_seeds(const std::string& s) {
  std::vector<uint64_t> out;
  if (s.empty()) throw cli::UsageError("--seeds expects comma-separated non-negative integers, got ''");
  for (const std::string& tok : cli::list_items("seeds", s)) {
    if (tok.find_first_not_of("0123456789") != std::string::npos)
      throw cli::UsageError("--seeds expects comma-separated non-negative integers, got '" + s + "'");
    errno = 0;
    unsigned long long v = std::strtoull(tok.c_str(), nullptr, 10);
    if (errno == ERANGE)
      throw cli::UsageError("--seeds: '" + tok + "' is too large (seeds are 64-bit: at most 18446744073709551615)");
    // Each seed's net has its own run folder: a repeated seed would train twice into one folder ("01" and "1").
    if (std::find(out.begin(), out.end(), v) != out.end()) throw cli::UsageError("--seeds: seed " + tok + " is given twice");
    out.push_back(v);
  }
  return out;
}

// SIGINT/SIGTERM: the first asks the trainer to finish its step and checkpoint; a second stops at once.
static std::atomic<bool> g_stop{false};
static std::atomic<int> g_signal{0};
extern "C" void on_signal(int sig) {
  if (g_stop.exchange(true)) {
    const char msg[] = "\nerror: second signal: stopping at once, without a checkpoint\n";
    ssize_t ignored = ::write(2, msg, sizeof msg - 1);
    (void)ignored;
    ::_exit(128 + sig);
  }
  g_signal = sig;
  const char msg[] = "\nstopping: finishing this step and writing a checkpoint (signal again to stop at once)\n";
  ssize_t ignored = ::write(2, msg, sizeof msg - 1);
  (void)ignored;
}

// The signal that stopped the nets, on every rank: the stop is shared across MPI ranks (the
// trainer's all_reduce_metrics) but a signal may have reached only some of them; the lowest rank's wins.
// Collective: every rank calls it at the same point.
static int agreed_signal() {
  int sig = g_signal.load();
  if (dist::size() == 1) return sig;
  const std::vector<char> all = dist::gather_to_root(&sig, sizeof sig);
  for (size_t i = 0; sig == 0 && i + sizeof sig <= all.size(); i += sizeof sig) std::memcpy(&sig, all.data() + i, sizeof sig);
  dist::broadcast(&sig, sizeof sig);
  return sig;
}

int main(int argc, char** argv) {
  return cli::run_main([&] {
    cli::Args a("train [options]\n       train --export-npy CKPT DIR",
                "Trains one net per seed. The nets differ ONLY in their initialisation (and dropout) seed:\n"
                "data order and augmentation are the same for all of them unless --data-seed says otherwise\n"
                "(the paper's setting). Each net goes to OUT/<net>-seed<S>/: checkpoints ckpt-<iter>.bin\n"
                "(atomic, checksummed; see nn/checkpoint.h for the format; ckpt-000000000.bin is the untrained\n"
                "net, the null model of correlate --null untrained) and log.jsonl. A run folder is locked\n"
                "while training. SIGINT/SIGTERM: finish the step, write a checkpoint, exit 128+signal; a second\n"
                "signal stops at once. Every file and JSON key: docs/OUTPUTS.md.\n"
                "mpirun -np N bin/train ...: data-parallel, N processes share each batch (same global batch,\n"
                "gradients summed over the ranks); rank 0 writes the checkpoints (README: tolerance).");
    a.opt("net", "data/nets/alexnet-mini.json", "net config (data/... is also found beside the installation)")
        .opt("data", "fashion-mnist", "fashion-mnist[:DIR] | mnist:DIR | idx:DIR | cifar10:DIR | cifar100:DIR | folder:DIR | synthetic[:N[:T]]")
        .opt("data-dir", "", "folder of the fashion-mnist IDX files (default: Debian's dataset-fashion-mnist)")
        .opt("seeds", "1,2", "comma-separated seeds, one net each")
        .opt("epochs", "2", "epochs to train (ignored when --iters is given)")
        .opt("iters", "", "iterations to train (overrides --epochs)")
        .opt("batch", "", "batch size (default: the config's solver batch)")
        .opt("lr", "", "base learning rate (default: the config's)")
        .opt("lr-step", "",
             "multiply the lr by the config's gamma (0.1 in the shipped nets) every this many iterations;\n"
             "                         default: the config's stepsize x iterations / max_iter (its schedule stretched to the run: 80% for the small nets)")
        .opt("momentum", "", "momentum (default: the config's)")
        .opt("weight-decay", "", "weight decay (default: the config's)")
        .opt("data-seed", "0", "seed of the data order and augmentation, shared by all nets")
        .opt("snapshot", "0", "checkpoint every N iterations (0: at each epoch end); always at the end")
        .opt("device", "auto", "cpu | cuda | cuda:N | auto")
        .opt("threads", "2", "data-loading threads (0: load in the training thread)")
        .opt("parallel", "auto",
             "nets trained at once on the CPU, each with its share of the cores (the same weights, more images/s);\n"
             "                         auto: one per core up to the number of seeds (1 on a GPU or under mpirun)")
        .opt("out", "runs", "output folder")
        .flag("resume",
              "continue each net from its newest valid checkpoint: the same batch, data and data seed (others are refused);\n"
              "                         its lr schedule, momentum and decay go on unless --lr, --lr-step, --momentum, --weight-decay are given")
        .flag("force", "start over even if the run folder already has checkpoints (with --resume: when all are damaged)")
        .opt("export-npy", "",
             "write every parameter of CKPT (a checkpoint or run folder) as DIR/<layer>.<weight|bias>.npy\n"
             "                         and DIR/config.json (net, preprocessing; docs/OUTPUTS.md), then exit");
    if (!a.parse(argc, argv)) return 0;

    if (a.given("export-npy")) {
      if (!dist::is_root()) return 0;  // one writer under mpirun
      if (a.positional().size() != 1) throw cli::UsageError("--export-npy CKPT DIR: give the output folder DIR");
      const std::string src = a.str("export-npy");
      Checkpoint ck;
      if (std::filesystem::is_directory(src)) {
        if (!read_newest_checkpoint(src, &ck)) throw InputError(src + ": no intact checkpoint in this run folder");
      } else {
        ck = read_checkpoint(src);
      }
      std::unique_ptr<Dataset> data;  // for its normalisation constants; the export works without it
      try {
        data = open_dataset(ck.info.data_spec, "test", a.str("data-dir"));
      } catch (const std::exception& e) {
        std::fprintf(stderr, "note: %s: %s; config.json leaves the normalisation unknown\n", ck.info.data_spec.c_str(), e.what());
      }
      int n = export_checkpoint_npy(ck, a.positional()[0], data.get());
      std::printf("wrote %d parameters of %s (net %s, seed %llu, iteration %lld) to %s/\n", n, ck.path.c_str(),
                  ck.config.name.c_str(), (unsigned long long)ck.info.seed, ck.info.iteration, a.positional()[0].c_str());
      return 0;
    }
    a.no_positional();

    NetConfig cfg = load_net_config(project_data_path(a.str("net")));
    Device dev = parse_device_for_rank(a.str("device"));
    std::vector<uint64_t> seeds = parse_seeds(a.str("seeds"));
    std::unique_ptr<Dataset> train = open_dataset(a.str("data"), "train", a.str("data-dir"));
    std::unique_ptr<Dataset> test = open_dataset(a.str("data"), "test", a.str("data-dir"));

    TrainOptions opt;
    opt.solver = cfg.solver;
    SolverConfig& S = opt.solver;
    if (a.given("batch")) {
      long long b = a.integer("batch");
      if (b <= 0 || b > (1 << 16)) throw cli::UsageError("--batch must be in [1, 65536], got " + a.str("batch"));
      S.batch = (int)b;
    }
    // Input, activations and gradients hold several batches of images: refuse what cannot fit in memory.
    const double batch_bytes = (double)S.batch * train->shape().size() * sizeof(float);
    if (batch_bytes > physical_memory_bytes() / 4.0)
      throw cli::UsageError("--batch " + std::to_string(S.batch) + ": one batch of " + train->describe() + " needs " +
                            std::to_string((long long)(batch_bytes / (1 << 20))) +
                            " MiB, more than a quarter of this machine's memory");
    long long per_epoch = (long long)(train->size() / S.batch);
    const std::string most = std::to_string(kMaxIteration) + " iterations (checkpoint names have 9 digits)";
    if (a.given("iters")) {
      S.max_iter = a.integer("iters");
      if (S.max_iter <= 0) throw cli::UsageError("--iters must be at least 1, got " + a.str("iters"));
      if (S.max_iter > kMaxIteration) throw cli::UsageError("--iters must be at most " + most);
    } else {
      const double epochs = a.real("epochs"), iters = epochs * per_epoch;
      if (!(epochs > 0)) throw cli::UsageError("--epochs must be positive, got " + a.str("epochs"));
      if (iters > kMaxIteration) throw cli::UsageError("--epochs " + a.str("epochs") + " is more than " + most);
      S.max_iter = (long long)iters;
      if (S.max_iter <= 0) throw cli::UsageError("nothing to train: --epochs " + a.str("epochs") + " is under one batch's worth");
    }
    // --lr, --momentum, --weight-decay replace the config's value (and a resumed checkpoint's).
    auto given_real = [&](const char* name, float& field, auto in_range, const char* range) {
      if (!a.given(name)) return false;
      const float v = (float)a.real(name);  // checked as the solver will hold it
      if (!in_range(v)) throw cli::UsageError(std::string("--") + name + " must be " + range + ", got " + a.str(name));
      field = v;
      return true;
    };
    opt.given.base_lr = given_real("lr", S.base_lr, [](double v) { return v > 0; }, "positive");
    opt.given.momentum = given_real("momentum", S.momentum, [](double v) { return v >= 0 && v < 1; }, "in [0, 1)");
    opt.given.weight_decay = given_real("weight-decay", S.weight_decay, [](double v) { return v >= 0; }, "at least 0");
    opt.given.stepsize = a.given("lr-step");
    S.stepsize = opt.given.stepsize ? a.integer("lr-step") : cfg.solver.stepsize_for(S.max_iter);
    if (S.stepsize <= 0) throw cli::UsageError("--lr-step must be at least 1, got " + a.str("lr-step"));
    if (opt.given.stepsize && S.lr_policy == "fixed") throw cli::UsageError("--lr-step: the config's lr_policy is fixed");
    opt.data_spec = a.str("data");
    opt.order_seed = (uint64_t)a.integer("data-seed");
    opt.snapshot = a.integer("snapshot");
    if (opt.snapshot < 0) throw cli::UsageError("--snapshot must be 0 (each epoch's end) or more, got " + a.str("snapshot"));
    opt.resume = a.on("resume");
    opt.loader_threads = a.loader_threads();
    int jobs = 1;
    const int cores = omp_get_max_threads();
    if (a.str("parallel") == "auto") {
      if (!dev.is_cuda() && dist::size() == 1) jobs = (int)std::min<size_t>(seeds.size(), cores);
    } else {
      const long long p = a.integer("parallel");
      if (p < 1 || p > cores) throw cli::UsageError("--parallel must be 'auto' or in [1, " + std::to_string(cores) + "] (the cores), got " + a.str("parallel"));
      if (p > 1 && (dev.is_cuda() || dist::size() > 1)) throw cli::UsageError("--parallel > 1 trains nets at once on the CPU of one process: not with a GPU or mpirun");
      jobs = (int)p;
    }
    opt.force = a.on("force");
    opt.stop_requested = &g_stop;
    opt.quiet = !dist::is_root();  // under mpirun rank 0 reports (the whole batch's loss and accuracy)
    struct sigaction sa = {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);

    std::vector<TrainOptions> runs;
    for (uint64_t seed : seeds) {
      opt.seed = seed;
      opt.run_dir = a.path("out") + "/" + cfg.name + "-seed" + std::to_string(seed);
      opt.label = "seed " + std::to_string(seed);
      runs.push_back(opt);
      // refuse before the header, not after it
      if (dist::is_root() && !opt.resume && !a.on("force") && !list_checkpoints(opt.run_dir).empty())
        throw InputError(opt.run_dir + ": already holds checkpoints; use --resume to continue or --force to start over");
    }
    if (dist::is_root())
      std::printf("%s on %s: %s; %lld iterations of batch %d (%.2f epochs), lr %g %s%s%s\n", cfg.name.c_str(),
                  dev.name().c_str(), train->describe().c_str(), S.max_iter, S.batch,
                  (double)S.max_iter / std::max(per_epoch, 1LL), S.base_lr,
                  S.lr_policy == "fixed" ? "fixed" : ("step " + std::to_string(S.stepsize)).c_str(),
                  opt.resume ? " (a resumed net keeps its checkpoint's, where not given)" : "",
                  dist::size() > 1 ? ("; " + std::to_string(dist::size()) + " MPI ranks share each batch").c_str()
                : jobs > 1       ? strprintf("; %d nets at a time, %d thread(s) each", jobs, threads_per_net(jobs)).c_str()
                                 : "");
    std::fflush(stdout);  // before the progress bars on stderr, also when stdout is a pipe
    bool interrupted = false;
    int stop_signal = 0;
    train_nets(cfg, *train, test.get(), dev, runs, jobs, [&](const TrainOptions& o, const TrainResult& r) {
      interrupted = interrupted || r.interrupted;
      if (r.interrupted) stop_signal = agreed_signal();  // every rank's run ends interrupted alike
      if (!dist::is_root()) return;
      if (r.interrupted)
        std::fprintf(stderr, "%s: stopped %s after iteration %lld; checkpoint %s written (continue with --resume)\n",
                     o.label.c_str(), stop_signal ? ("by signal " + std::to_string(stop_signal)).c_str() : "because another net failed",
                     r.iterations, r.checkpoint.c_str());
      else if (r.trained == 0)
        std::printf("%s: nothing to train, already at iteration %lld (--iters/--epochs ask for %lld); checkpoint %s\n",
                    o.label.c_str(), r.iterations, o.solver.max_iter, r.checkpoint.c_str());
      else
        std::printf("%s: %lld iterations in %s (%.0f images/s); test top-1 %.2f%%; checkpoint %s\n", o.label.c_str(),
                    r.iterations, Progress::fmt_time(r.seconds).c_str(), r.images_per_s, 100 * r.test_top1, r.checkpoint.c_str());
      std::fflush(stdout);
    });
    if (interrupted) return 128 + std::max(1, stop_signal);
    return 0;
  }, /*distributed=*/true);
}
