// The batch loader: a deterministic order per epoch, decoding on background threads.
//
// With threads > 0, a ring of kDepth batch buffers holds the next batches in delivery order; the
// workers fill them chunk by chunk (oldest batch first), next() waits for the front one, copies it out
// and re-arms the buffer for the batch after the last one in the ring. Which samples a batch holds and
// how each is augmented are decided here, in the caller's thread, so the workers only run
// Dataset::load(), a pure function: the thread count cannot change a single value.
#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "data/dataset.h"
#include "kernels/rng.h"

namespace cvg {

namespace {
constexpr int kDepth = 3;          // batches decoded ahead
constexpr int kMaxThreads = 1024;  // far above any machine's cores, far below exhausting process ids
const uint64_t kOrderStream = rng_stream("loader/order");
const uint64_t kAugmentStream = rng_stream("loader/augment");
}  // namespace

struct Loader::Prefetcher {
  struct Slot {
    int64_t epoch = 0, index = 0;
    uint64_t aug_seed = 0;
    std::vector<size_t> idx;
    std::vector<float> x;
    std::vector<int32_t> y;
    size_t pending = 0;  // samples queued or being decoded
    std::exception_ptr error;
  };
  struct Task {
    Slot* slot;
    size_t begin, end;
  };

  const Dataset& ds;
  const bool augment;
  const size_t sample;
  std::deque<std::unique_ptr<Slot>> ring;  // front: the batch next() delivers
  std::deque<Task> tasks;
  std::vector<std::thread> threads;
  std::mutex mu;
  std::condition_variable work_cv, done_cv;
  int busy = 0;
  bool stop = false;
  size_t chunk = 1;

  Prefetcher(const Dataset& d, bool aug, int nthreads, int batch) : ds(d), augment(aug), sample(d.shape().size()) {
    // Chunks small enough to spread one batch over every thread, large enough that locking is rare.
    chunk = (size_t)std::clamp(batch / (4 * nthreads), 1, 32);
    for (int k = 0; k < kDepth; ++k) {
      ring.push_back(std::make_unique<Slot>());
      ring.back()->x.resize((size_t)batch * sample);
      ring.back()->y.resize((size_t)batch);
    }
    for (int t = 0; t < nthreads; ++t) threads.emplace_back([this] { work(); });
  }
  ~Prefetcher() {
    {
      std::lock_guard<std::mutex> lk(mu);
      stop = true;
      tasks.clear();
    }
    work_cv.notify_all();
    for (auto& t : threads) t.join();
  }

  // With mu held: point slot s at a batch and queue its samples.
  void arm(Slot& s, int64_t epoch, int64_t index, std::vector<size_t> idx, uint64_t aug_seed) {
    s.epoch = epoch, s.index = index, s.aug_seed = aug_seed;
    s.idx = std::move(idx);
    s.pending = s.idx.size();
    s.error = nullptr;
    for (size_t b = 0; b < s.idx.size(); b += chunk) tasks.push_back({&s, b, std::min(b + chunk, s.idx.size())});
    work_cv.notify_all();
  }

  void work() {
    std::unique_lock<std::mutex> lk(mu);
    for (;;) {
      work_cv.wait(lk, [&] { return stop || !tasks.empty(); });
      if (stop) return;
      Task t = tasks.front();
      tasks.pop_front();
      ++busy;
      lk.unlock();
      std::exception_ptr err;
      try {
        Slot& s = *t.slot;
        for (size_t k = t.begin; k < t.end; ++k) s.y[k] = ds.load(s.idx[k], s.x.data() + k * sample, augment, s.aug_seed);
      } catch (...) {
        err = std::current_exception();
      }
      lk.lock();
      --busy;
      if (err && !t.slot->error) t.slot->error = err;
      t.slot->pending -= t.end - t.begin;
      if (t.slot->pending == 0 || busy == 0) done_cv.notify_all();
    }
  }
};

uint64_t Loader::epoch_aug_seed(uint64_t order_seed, int64_t epoch) {
  return rng_bits(order_seed, kAugmentStream, (uint64_t)epoch);
}

Loader::Loader(const Dataset& ds, int batch, bool shuffle, bool train_augment, bool drop_last, uint64_t order_seed, int threads)
    : ds_(ds), batch_(batch), shuffle_(shuffle), augment_(train_augment), order_seed_(order_seed) {
  if (batch <= 0) throw std::logic_error("Loader: batch must be positive");
  if (threads < 0 || threads > kMaxThreads)
    throw std::logic_error("loader threads must be in [0, " + std::to_string(kMaxThreads) + "], got " + std::to_string(threads));
  const size_t n = ds.size();
  batches_per_epoch_ = drop_last ? n / (size_t)batch : (n + (size_t)batch - 1) / (size_t)batch;
  if (batches_per_epoch_ == 0) throw InputError(ds.describe() + ": fewer samples than one batch of " + std::to_string(batch));
  if (threads > 0) {
    prefetch_ = std::make_unique<Prefetcher>(ds, train_augment, threads, batch);
    seek(0, 0);
  }
}

Loader::~Loader() = default;

const std::vector<size_t>& Loader::order_for(int64_t epoch) const {
  if (!shuffle_) epoch = 0;  // one order for every epoch
  if (order_epoch_ == epoch) return order_;
  const size_t n = ds_.size();
  order_.resize(n);
  for (size_t i = 0; i < n; ++i) order_[i] = i;
  if (shuffle_) {
    // Fisher-Yates; j uniform in [0, k] by the multiply-shift map of 64 random bits (bias < 2^-32).
    const uint64_t seed = rng_bits(order_seed_, kOrderStream, (uint64_t)epoch);
    for (size_t k = n - 1; k > 0; --k) {
      const uint64_t bits = rng_bits(seed, 0, k);
      const size_t j = (size_t)(((unsigned __int128)bits * (k + 1)) >> 64);
      std::swap(order_[k], order_[j]);
    }
  }
  order_epoch_ = epoch;
  return order_;
}

std::vector<size_t> Loader::batch_indices(int64_t epoch, int64_t index) const {
  const auto& order = order_for(epoch);
  const size_t begin = (size_t)index * (size_t)batch_;
  const size_t end = std::min(begin + (size_t)batch_, order.size());
  return std::vector<size_t>(order.begin() + (ptrdiff_t)begin, order.begin() + (ptrdiff_t)end);
}

void Loader::advance() {
  if ((size_t)++index_ == batches_per_epoch_) ++epoch_, index_ = 0;
}

void Loader::seek(int64_t epoch, int64_t index) {
  if (epoch < 0 || index < 0 || (size_t)index > batches_per_epoch_)
    throw std::out_of_range("Loader::seek: position (" + std::to_string(epoch) + ", " + std::to_string(index) +
                            ") outside an epoch of " + std::to_string(batches_per_epoch_) + " batches");
  if ((size_t)index == batches_per_epoch_) ++epoch, index = 0;
  epoch_ = epoch, index_ = index;
  if (!prefetch_) return;
  Prefetcher& p = *prefetch_;
  std::unique_lock<std::mutex> lk(p.mu);
  p.tasks.clear();  // nothing queued survives; wait out the chunks being decoded
  p.done_cv.wait(lk, [&] { return p.busy == 0; });
  int64_t e = epoch, b = index;
  for (auto& s : p.ring) {
    p.arm(*s, e, b, batch_indices(e, b), epoch_aug_seed(order_seed_, e));
    if ((size_t)++b == batches_per_epoch_) ++e, b = 0;
  }
}

int Loader::next(float* x, int32_t* labels) {
  const size_t sample = ds_.shape().size();
  if (!prefetch_) {
    const std::vector<size_t> idx = batch_indices(epoch_, index_);
    const uint64_t aug_seed = epoch_aug_seed(order_seed_, epoch_);
    for (size_t k = 0; k < idx.size(); ++k) labels[k] = ds_.load(idx[k], x + k * sample, augment_, aug_seed);
    advance();
    return (int)idx.size();
  }
  Prefetcher& p = *prefetch_;
  std::unique_lock<std::mutex> lk(p.mu);
  Prefetcher::Slot& front = *p.ring.front();
  p.done_cv.wait(lk, [&] { return front.pending == 0; });
  if (front.error) std::rethrow_exception(front.error);  // stays there: seek() clears it
  std::unique_ptr<Prefetcher::Slot> s = std::move(p.ring.front());
  p.ring.pop_front();
  lk.unlock();  // s is complete and out of the ring: no worker touches it
  const size_t count = s->idx.size();
  std::memcpy(x, s->x.data(), count * sample * sizeof(float));
  std::memcpy(labels, s->y.data(), count * sizeof(int32_t));
  lk.lock();
  const Prefetcher::Slot& last = p.ring.empty() ? *s : *p.ring.back();
  int64_t e = last.epoch, b = last.index + 1;
  if ((size_t)b == batches_per_epoch_) ++e, b = 0;
  p.arm(*s, e, b, batch_indices(e, b), epoch_aug_seed(order_seed_, e));
  p.ring.push_back(std::move(s));
  lk.unlock();
  advance();
  return (int)count;
}

}  // namespace cvg
