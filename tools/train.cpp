// bin/train: trains several nets that differ only in their initialisation seed.
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "analysis/trainer.h"
#include "nn/checkpoint.h"
#include "nn/io.h"
#include "tools/cli.h"
#include "tools/data_path.h"
#include "tools/export.h"
#include "nn/progress.h"

using namespace cvg;

static std::vector<uint64_t> parse_seeds(const std::string& s) {
  std::vector<uint64_t> out;
  for (const std::string& tok : cli::split_list(s)) {
    if (tok.find_first_not_of("0123456789") != std::string::npos)
      throw cli::UsageError("--seeds expects comma-separated non-negative integers, got '" + s + "'");
    out.push_back(std::stoull(tok));
  }
  if (out.empty()) throw cli::UsageError("--seeds is empty");
  return out;
}

int main(int argc, char** argv) {
  return cli::run_main([&] {
    cli::Args a("train [options]\n       train --export-npy CKPT DIR",
                "Trains one net per seed. The nets differ ONLY in their initialisation (and dropout) seed:\n"
                "data order and augmentation are the same for all of them unless --data-seed says otherwise\n"
                "(the paper's setting). Each net goes to OUT/<net>-seed<S>/: checkpoints ckpt-<iter>.bin\n"
                "(atomic, checksummed; see nn/checkpoint.h for the format) and log.jsonl. Every file and JSON key:\n"
                "docs/OUTPUTS.md.");
    a.opt("net", "data/nets/alexnet-mini.json", "net config (data/... is also found beside the installation)")
        .opt("data", "fashion-mnist", "fashion-mnist | mnist:DIR | cifar10:DIR | cifar100:DIR | folder:DIR | synthetic[:N]")
        .opt("data-dir", "", "folder of the fashion-mnist IDX files (default: Debian's dataset-fashion-mnist)")
        .opt("seeds", "1,2", "comma-separated seeds, one net each")
        .opt("epochs", "2", "epochs to train (ignored when --iters is given)")
        .opt("iters", "", "iterations to train (overrides --epochs)")
        .opt("batch", "", "batch size (default: the config's solver batch)")
        .opt("lr", "", "base learning rate (default: the config's)")
        .opt("lr-step", "", "divide the lr by 10 every this many iterations (default: 80% of the run, for --epochs and --iters)")
        .opt("momentum", "", "momentum (default: the config's)")
        .opt("weight-decay", "", "weight decay (default: the config's)")
        .opt("data-seed", "0", "seed of the data order and augmentation, shared by all nets")
        .opt("snapshot", "0", "checkpoint every N iterations (0: at each epoch end); always at the end")
        .opt("device", "auto", "cpu | cuda | cuda:N | auto")
        .opt("threads", "2", "data-loading threads")
        .opt("out", "runs", "output folder")
        .flag("resume", "continue each net from its newest valid checkpoint")
        .flag("force", "start over even if the run folder already has checkpoints")
        .opt("export-npy", "", "write every parameter of CKPT (a checkpoint or run folder) as DIR/<layer>.<weight|bias>.npy\n"
             "                         and DIR/config.json (net, preprocessing; docs/OUTPUTS.md), then exit");
    if (!a.parse(argc, argv)) return 0;

    if (a.given("export-npy")) {
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
    if (!a.positional().empty()) throw cli::UsageError("unexpected argument '" + a.positional()[0] + "' (see --help)");

    NetConfig cfg = load_net_config(project_data_path(a.str("net")));
    Device dev = parse_device(a.str("device"));
    std::vector<uint64_t> seeds = parse_seeds(a.str("seeds"));
    std::unique_ptr<Dataset> train = open_dataset(a.str("data"), "train", a.str("data-dir"));
    std::unique_ptr<Dataset> test = open_dataset(a.str("data"), "test", a.str("data-dir"));

    TrainOptions opt;
    opt.solver = cfg.solver;
    SolverConfig& S = opt.solver;
    if (a.given("batch")) S.batch = (int)a.integer("batch");
    if (S.batch <= 0) throw cli::UsageError("--batch must be positive");
    long long per_epoch = (long long)(train->size() / S.batch);
    if (a.given("iters")) S.max_iter = a.integer("iters");
    else S.max_iter = (long long)(a.real("epochs") * per_epoch);
    if (S.max_iter <= 0) throw cli::UsageError("nothing to train: 0 iterations");
    if (a.given("lr")) S.base_lr = (float)a.real("lr");
    if (a.given("momentum")) S.momentum = (float)a.real("momentum");
    if (a.given("weight-decay")) S.weight_decay = (float)a.real("weight-decay");
    if (a.given("lr-step")) S.stepsize = a.integer("lr-step");
    else S.stepsize = std::max(1LL, S.max_iter * 4 / 5);  // --iters and --epochs alike
    if (!(S.base_lr > 0) || S.stepsize <= 0) throw cli::UsageError("--lr and --lr-step must be positive");
    opt.data_spec = a.str("data");
    opt.order_seed = (uint64_t)a.integer("data-seed");
    opt.snapshot = a.integer("snapshot");
    opt.resume = a.on("resume");
    opt.loader_threads = (int)a.integer("threads");

    for (uint64_t seed : seeds) {  // refuse before the header, not after it
      const std::string run_dir = a.str("out") + "/" + cfg.name + "-seed" + std::to_string(seed);
      if (!opt.resume && !a.on("force") && !list_checkpoints(run_dir).empty())
        throw InputError(run_dir + ": already holds checkpoints; use --resume to continue or --force to start over");
    }
    std::printf("%s on %s: %s; %lld iterations of batch %d (%.2f epochs), lr %g step %lld\n",
                cfg.name.c_str(), dev.name().c_str(), train->describe().c_str(), S.max_iter, S.batch,
                (double)S.max_iter / std::max(per_epoch, 1LL), S.base_lr, S.stepsize);
    for (uint64_t seed : seeds) {
      opt.seed = seed;
      opt.run_dir = a.str("out") + "/" + cfg.name + "-seed" + std::to_string(seed);
      opt.label = "seed " + std::to_string(seed);
      if (!opt.resume && !list_checkpoints(opt.run_dir).empty()) {
        if (!a.on("force"))
          throw InputError(opt.run_dir + ": already holds checkpoints; use --resume to continue or --force to start over");
        for (const std::string& p : list_checkpoints(opt.run_dir)) std::remove(p.c_str());
        std::remove((opt.run_dir + "/log.jsonl").c_str());
      }
      TrainResult r = train_net(cfg, *train, test.get(), dev, opt);
      std::printf("%s: %lld iterations in %s (%.0f images/s); test top-1 %.2f%%; checkpoint %s\n", opt.label.c_str(),
                  r.iterations, Progress::fmt_time(r.seconds).c_str(), r.images_per_s, 100 * r.test_top1,
                  r.checkpoint.c_str());
    }
    return 0;
  });
}
