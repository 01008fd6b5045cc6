#include "nn/trainer.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <thread>
#include <type_traits>

#include <nlohmann/json.hpp>

#include "base/dist.h"
#include "base/io.h"
#include "base/log.h"
#include "base/progress.h"
#include "nn/data_parallel.h"

namespace cvg {

Net::Metrics evaluate(Net& net, const Dataset& data, int batch, int threads, std::vector<int>* predicted) {
  batch = std::min(batch, net.max_batch());
  Loader loader(data, batch, /*shuffle=*/false, /*train_augment=*/false, /*drop_last=*/false, 0, threads);
  ImageShape s = data.shape();
  const std::vector<int> shape{s.c, s.h, s.w};
  if (shape != net.input_shape())
    throw InputError(data.describe() + ": images are not the net's input shape " + std::to_string(net.input_shape()[0]) + "x" +
                     std::to_string(net.input_shape()[1]) + "x" + std::to_string(net.input_shape()[2]));
  std::vector<float> x((size_t)batch * s.c * s.h * s.w);
  std::vector<int32_t> y(batch);
  Net::Metrics total;
  for (size_t b = 0; b < loader.batches_per_epoch(); ++b) {
    int n = loader.next(x.data(), y.data());
    if (n <= 0) break;
    net.set_batch(x.data(), y.data(), n, shape);
    net.forward(/*train=*/false, 0);
    total.add(net.metrics());
    if (!predicted) continue;
    const int last = (int)net.layers().size() - 1;  // the logits: the softmax_loss head's input
    const Tensor& logits = net.output(net.layers()[last]->cfg.type == "softmax_loss" ? last - 1 : last);
    const std::vector<float> l = logits.data.to_host();
    const int classes = logits.dim(1);
    for (int i = 0; i < n; ++i)
      predicted->push_back((int)(std::max_element(l.begin() + (size_t)i * classes, l.begin() + (size_t)(i + 1) * classes) -
                                 (l.begin() + (size_t)i * classes)));
  }
  return total;
}

namespace {

// On resume from iteration `iter`: keep the log records up to it, dropping those of checkpoints that
// did not survive and a line torn by a kill, so the log tells the history of the weights resumed.
void trim_log(const std::string& path, long long iter) {
  if (!file_exists(path)) return;
  const std::vector<char> bytes = read_file(path);
  std::string kept, line;
  for (char ch : bytes) {
    if (ch != '\n') {
      line += ch;
      continue;
    }
    nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_object() && j.contains("iteration") && j["iteration"].is_number_integer() && j["iteration"].get<long long>() <= iter)
      kept += line + "\n";
    line.clear();
  }
  if (kept.size() != bytes.size()) write_file_atomic(path, kept);
}

// A checkpoint resumed must come from the same data, data order and batch (its data position
// counts batches of that size). Its schedule goes on, but for what opt.given replaces; returns the
// schedule for the resume message.
std::string resume_schedule(const Checkpoint& ck, const TrainOptions& opt, SolverConfig& S) {
  auto refuse = [&](const std::string& what, const std::string& was, const std::string& now, const std::string& flag) {
    throw InputError(ck.path + ": was trained with " + what + " " + was + ", not " + now + ": resume with " + flag + " " + was +
                     " (or start over with --force)");
  };
  if (ck.info.seed != opt.seed) refuse("seed", std::to_string(ck.info.seed), std::to_string(opt.seed), "--seeds");
  if (ck.info.data_spec != opt.data_spec) refuse("data", ck.info.data_spec, opt.data_spec, "--data");
  if (ck.info.order_seed != opt.order_seed)
    refuse("data seed", std::to_string(ck.info.order_seed), std::to_string(opt.order_seed), "--data-seed");
  if (!ck.info.solver) return "; no schedule in the checkpoint (older format): the flags' and config's";
  const SolverConfig& C = *ck.info.solver;
  if (C.batch != S.batch) refuse("batch", std::to_string(C.batch), std::to_string(S.batch), "--batch");
  std::string kept, changed;
  auto num = [](auto v) { return std::is_integral_v<decltype(v)> ? std::to_string((long long)v) : strprintf("%g", (double)v); };
  auto take = [&](auto& now, const auto& was, bool given, const char* name) {
    if (!given || now == was)
      now = was, kept += (kept.empty() ? "" : ", ") + (name + (" " + num(was)));
    else
      changed += std::string("; ") + name + " " + num(now) + " replaces the checkpoint's " + num(was);
  };
  take(S.base_lr, C.base_lr, opt.given.base_lr, "lr");
  take(S.stepsize, C.stepsize, opt.given.stepsize, "step");
  take(S.momentum, C.momentum, opt.given.momentum, "momentum");
  take(S.weight_decay, C.weight_decay, opt.given.weight_decay, "decay");
  S.lr_policy = C.lr_policy, S.gamma = C.gamma;
  return "; " + kept + (kept.empty() ? "" : " as in the checkpoint") + changed;
}

}  // namespace

TrainResult train_net(const NetConfig& cfg, const Dataset& train, const Dataset* test, const Device& dev,
                      const TrainOptions& opt) {
  SolverConfig S = opt.solver;  // a resumed run goes on with its checkpoint's schedule (resume_schedule)
  ImageShape s = train.shape();
  if (test &&
      (test->shape().c != s.c || test->shape().h != s.h || test->shape().w != s.w || test->num_classes() != train.num_classes()))
    throw InputError(test->describe() + ": does not match the training set (" + train.describe() +
                     "): every split must have the same image shape and classes");
  Net net(cfg, {s.c, s.h, s.w}, train.num_classes(), dev, S.batch);
  net.init(opt.seed);
  Loader loader(train, S.batch, /*shuffle=*/true, /*train_augment=*/true, /*drop_last=*/true, opt.order_seed, opt.loader_threads);
  const long long per_epoch = (long long)loader.batches_per_epoch();
  if (per_epoch == 0) throw InputError(train.describe() + ": fewer samples than one batch of " + std::to_string(S.batch));
  // MPI ranks (base/dist.h, nn/data_parallel.h): each runs its slice of every batch; rank 0 alone
  // owns the run folder (lock, resume, checkpoints, log, evaluation) and sends the resumed state.
  const bool root = dist::is_root();
  const BatchSlice slice = rank_slice(S.batch);
  if (slice.count == 0)
    throw InputError("batch " + std::to_string(S.batch) + " is smaller than the " + std::to_string(dist::size()) +
                     " MPI ranks that share it");
  const std::string log_path = opt.run_dir + "/log.jsonl";
  std::unique_ptr<FolderLock> lock;  // one writer per run folder, from here to the return
  if (root) {
    make_dirs(opt.run_dir);
    lock = std::make_unique<FolderLock>(opt.run_dir);
    if (int n = remove_stale_temporaries(opt.run_dir); n > 0 && !opt.quiet)
      log_info(strprintf("%s: removed %d temporary file(s) left by a killed run", opt.label.c_str(), n));
  }

  long long iter = 0;
  TrainResult res;
  auto start_over = [&] {
    for (const std::string& p : list_checkpoints(opt.run_dir)) std::remove(p.c_str());
    std::remove(log_path.c_str());
  };
  Checkpoint ck;
  auto newest = [&] {
    try {
      return read_newest_checkpoint(opt.run_dir, &ck, /*skip_all_damaged=*/opt.force);
    } catch (const NewerFormatError&) {
      throw;
    } catch (const InputError& e) {  // every one damaged
      throw InputError(std::string(e.what()) + ": nothing to resume from; --force starts over, deleting them");
    }
  };
  if (root && opt.resume && newest()) {
    const std::string schedule = resume_schedule(ck, opt, S);
    ck.load_into(net);
    iter = ck.info.iteration;
    loader.seek(ck.info.data_epoch, ck.info.data_index);
    res.checkpoint = ck.path;
    trim_log(log_path, iter);
    if (!opt.quiet)
      log_info(strprintf("%s: resuming from %s (iteration %lld)%s", opt.label.c_str(), ck.path.c_str(), iter, schedule.c_str()));
  } else if (root && !list_checkpoints(opt.run_dir).empty()) {
    if (!opt.force)
      throw InputError(opt.run_dir + ": already holds checkpoints; use --resume to continue or --force to start over");
    start_over();
  }

  if (dist::size() > 1) {  // the other ranks start where rank 0 does, with its schedule
    int64_t pos[4] = {iter, loader.epoch(), loader.index(), S.stepsize};
    float rates[4] = {S.base_lr, S.gamma, S.momentum, S.weight_decay};
    char fixed = S.lr_policy == "fixed";
    dist::broadcast(pos, sizeof pos), dist::broadcast(rates, sizeof rates), dist::broadcast(&fixed, 1);
    iter = pos[0], S.stepsize = pos[3];
    S.base_lr = rates[0], S.gamma = rates[1], S.momentum = rates[2], S.weight_decay = rates[3];
    S.lr_policy = fixed ? "fixed" : "step";
    if (!root) loader.seek(pos[1], pos[2]);
    uint64_t len = res.checkpoint.size();  // rank 0's resumed checkpoint, for every rank's messages
    dist::broadcast(&len, sizeof len);
    res.checkpoint.resize(len);
    dist::broadcast(res.checkpoint.data(), len);
    broadcast_parameters(net);
  }

  // The untrained net (iteration 0) is kept as the null model: bin/correlate --null untrained
  // compares the nets as they were before any learning.
  if (iter == 0) {
    CheckpointInfo info;
    info.seed = opt.seed, info.iteration = 0, info.data_spec = opt.data_spec, info.order_seed = opt.order_seed;
    info.solver = S;
    info.extra = {{"untrained", true}};
    res.checkpoint = opt.run_dir + "/" + checkpoint_name(0);  // every rank names it (messages), rank 0 writes it
    if (root) save_checkpoint(res.checkpoint, net, info);
  }

  std::vector<float> x((size_t)S.batch * s.c * s.h * s.w);
  std::vector<int32_t> y(S.batch);
  Net::Metrics window;  // training metrics since the last report
  Progress bar(opt.label, S.max_iter, "img");
  const long long start_iter = iter;
  // A due checkpoint waits for the forward pass of the next batch: only weights that give a finite
  // loss are written. `pending` holds its log record and the data position before that batch.
  bool pending = false;
  nlohmann::json pending_rec;
  for (;;) {
    if (iter >= S.max_iter && !pending) break;  // resumed at the very end: nothing left to do
    const int64_t data_epoch = loader.epoch(), data_index = loader.index();
    if (dist::size() > 1) dist::injected_failure("rank " + std::to_string(dist::rank()) + "'s slice of " + train.describe());
    const int n = loader.next(x.data(), y.data());
    const int mine = slice.count;  // drop_last: every batch is whole
    net.set_batch(x.data() + (size_t)slice.first * s.size(), y.data() + slice.first, mine, net.input_shape());
    net.set_sample_offset(slice.first);
    net.forward(/*train=*/true, iter);
    bool stop_now = opt.stop_requested && opt.stop_requested->load();
    Net::Metrics m = all_reduce_metrics(net.metrics(), stop_now);  // the whole batch's
    double loss = m.loss_sum / m.n;
    if (!std::isfinite(loss) || loss > opt.explode_loss) {
      throw DivergedError(opt.label + ": training loss became " +
                          (std::isfinite(loss) ? "too large (" + std::to_string(loss) + ")" : std::string("NaN/Inf")) +
                          " at iteration " + std::to_string(iter) + "; lower --lr. Last good checkpoint: " +
                          (res.checkpoint.empty() ? std::string("none") : res.checkpoint));
    }
    if (pending) {
      CheckpointInfo info;
      info.seed = opt.seed, info.iteration = iter, info.data_spec = opt.data_spec;
      info.data_epoch = data_epoch, info.data_index = data_index, info.order_seed = opt.order_seed;
      info.solver = S;
      info.extra = pending_rec;
      const std::string path = opt.run_dir + "/" + checkpoint_name(iter);
      try {
        if (root) save_checkpoint(path, net, info);
      } catch (const NonFiniteError& e) {
        throw DivergedError(
            opt.label + ": " + e.what() + " at iteration " + std::to_string(iter) +
            "; lower --lr. Last good checkpoint: " + (res.checkpoint.empty() ? std::string("none") : res.checkpoint));
      }
      res.checkpoint = path;
      if (root) append_file(log_path, pending_rec.dump() + "\n");
      pending = false;
      const bool stop = stop_now;
      if (iter == S.max_iter || stop || (opt.stop_at >= 0 && iter >= opt.stop_at)) {
        res.interrupted = stop && iter < S.max_iter;
        break;
      }
    }
    window.add(m);
    net.backward(iter);
    all_reduce_gradients(net, mine, n);
    net.sgd_step(S.lr_at(iter), S.momentum, S.weight_decay);
    ++iter;

    bool epoch_end = iter % per_epoch == 0;
    bool last = iter == S.max_iter;
    bool stop = stop_now || (opt.stop_at >= 0 && iter >= opt.stop_at);
    if (!opt.quiet && root) {
      const double loss = window.loss_sum / window.n, top1 = (double)window.top1 / window.n;
      if (opt.progress) {
        opt.progress(iter, iter - start_iter, loss, top1);
      } else {
        char extra[96];
        std::snprintf(extra, sizeof extra, "loss %.3f acc %.1f%%", loss, 100.0 * top1);
        bar.update(iter, (double)(iter - start_iter) * S.batch, extra);
      }
    }
    if (epoch_end || last || stop || (opt.snapshot > 0 && iter % opt.snapshot == 0)) {
      nlohmann::json rec = {{"iteration", iter},
                            {"epoch", (double)iter / per_epoch},
                            {"lr", S.lr_at(iter - 1)},
                            {"train_loss", window.loss_sum / window.n},
                            {"train_top1", (double)window.top1 / window.n},
                            {"seconds", bar.seconds()},
                            {"images_per_s", (iter - start_iter) * S.batch / std::max(bar.seconds(), 1e-9)}};
      res.train_loss = window.loss_sum / window.n, res.train_top1 = (double)window.top1 / window.n;
      window = Net::Metrics();
      if (test && opt.eval_each_epoch && (epoch_end || last) && root) {
        Net::Metrics t = evaluate(net, *test, S.batch, opt.loader_threads);
        res.test_loss = t.loss_sum / t.n, res.test_top1 = (double)t.top1 / t.n, res.test_top5 = (double)t.top5 / t.n;
        rec["test_loss"] = res.test_loss, rec["test_top1"] = res.test_top1;
        if (train.num_classes() > 5) rec["test_top5"] = res.test_top5;
        if (!opt.quiet)
          log_info(strprintf(
              "%s: iteration %lld (epoch %.2f): test top-1 %.2f%%%s", opt.label.c_str(), iter, (double)iter / per_epoch,
              100 * res.test_top1,
              train.num_classes() > 5 ? (", top-5 " + std::to_string(100 * res.test_top5).substr(0, 5) + "%").c_str() : ""));
      }
      pending = true, pending_rec = rec;
    }
  }
  res.iterations = iter, res.trained = iter - start_iter;
  res.seconds = bar.seconds();
  res.images_per_s = (iter - start_iter) * S.batch / std::max(res.seconds, 1e-9);
  return res;
}

namespace {

// The one progress line of nets trained at once: their iterations summed, the loss and top-1 of
// those running.
class GroupProgress {
 public:
  GroupProgress(const std::vector<TrainOptions>& runs)
      : bar_(label(runs), total(runs), "img"), batch_(runs[0].solver.batch), slots_(runs.size()) {}
  void update(size_t k, long long iter, long long trained, double loss, double top1) {
    std::lock_guard<std::mutex> lock(mu_);
    slots_[k] = {iter, trained, loss, top1, true};
    draw();
  }
  void finish(size_t k) {
    std::lock_guard<std::mutex> lock(mu_);
    slots_[k].running = false;
  }

 private:
  struct Slot {
    long long iter = 0, trained = 0;
    double loss = 0, top1 = 0;
    bool running = false;
  };
  static std::string label(const std::vector<TrainOptions>& runs) {
    std::string s = "seeds";
    for (size_t k = 0; k < runs.size(); ++k) s += (k ? "," : " ") + std::to_string(runs[k].seed);
    return s;
  }
  static long long total(const std::vector<TrainOptions>& runs) {
    long long t = 0;
    for (const TrainOptions& o : runs) t += o.solver.max_iter;
    return t;
  }
  void draw() {
    long long iter = 0, trained = 0;
    std::string loss = "loss", acc = "acc";
    for (const Slot& s : slots_) {
      iter += s.iter, trained += s.trained;
      if (s.running) loss += strprintf(" %.3f", s.loss), acc += strprintf(" %.1f%%", 100 * s.top1);
    }
    bar_.update(iter, (double)trained * batch_, loss + " " + acc);
  }
  std::mutex mu_;
  Progress bar_;
  int batch_;
  std::vector<Slot> slots_;
};

}  // namespace

int threads_per_net(int jobs) { return std::max(1, omp_get_max_threads() / std::max(1, jobs)); }

void train_nets(const NetConfig& cfg, const Dataset& train, const Dataset* test, const Device& dev,
                const std::vector<TrainOptions>& runs, int jobs,
                const std::function<void(const TrainOptions&, const TrainResult&)>& done) {
  jobs = std::max(1, std::min<int>(jobs, (int)runs.size()));
  if (jobs > 1 && (dev.is_cuda() || dist::size() > 1))
    throw std::logic_error("train_nets: nets train at once only on the CPU in one process");
  if (jobs == 1) {
    for (const TrainOptions& o : runs) {
      const TrainResult r = train_net(cfg, train, test, dev, o);
      done(o, r);
      if (r.interrupted) return;
    }
    return;
  }
  const int threads = threads_per_net(jobs);
  GroupProgress line(runs);
  std::mutex mu;  // guards the fields below and serialises `done`
  std::condition_variable changed;
  size_t next = jobs;
  int finished_workers = 0;
  std::exception_ptr error;
  std::atomic<bool> halt{false};  // every running net stops as if interrupted
  auto worker = [&](size_t k) {  // the first `jobs` nets start together, whatever happens
    omp_set_num_threads(threads);  // this thread's OpenMP teams
    for (bool first = true;; first = false) {
      if (!first) {
        std::lock_guard<std::mutex> lock(mu);
        if (halt || next == runs.size()) break;
        k = next++;
      }
      TrainOptions o = runs[k];
      o.stop_requested = &halt;
      if (!o.quiet) o.progress = [&line, k](long long it, long long n, double l, double t) { line.update(k, it, n, l, t); };
      try {
        const TrainResult r = train_net(cfg, train, test, dev, o);
        line.finish(k);
        std::lock_guard<std::mutex> lock(mu);
        if (r.interrupted) halt = true;
        done(runs[k], r);
      } catch (...) {
        line.finish(k);
        std::lock_guard<std::mutex> lock(mu);
        if (!error) error = std::current_exception();
        halt = true;
      }
    }
    std::lock_guard<std::mutex> lock(mu);
    ++finished_workers;
    changed.notify_all();
  };
  std::vector<std::thread> pool;
  for (int j = 0; j < jobs; ++j) pool.emplace_back(worker, (size_t)j);
  // The callers' stop flag (a signal handler's) reaches the nets through `halt`.
  const std::atomic<bool>* outside = runs[0].stop_requested;
  {
    std::unique_lock<std::mutex> lock(mu);
    while (finished_workers < jobs) {
      changed.wait_for(lock, std::chrono::milliseconds(50));
      if (outside && outside->load()) halt = true;
    }
  }
  for (std::thread& t : pool) t.join();
  if (error) std::rethrow_exception(error);
}

}  // namespace cvg
