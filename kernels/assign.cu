// The auction on the GPU (see kernels/assign.h for the method and kernels/assign_core.h for the
// shared steps). A warp scans one person's row (forward bids) or one object's column (reverse
// offers); bids are 64-bit words (price | index) resolved with atomicMax. Each step is a device
// function over (thread or warp id, count), run either by a grid of blocks (one kernel per step,
// driven from the host) or by a single block that loops over rounds without returning to the host:
// small problems run entirely in one block; large ones use the grid while many persons bid and hand
// the long tail of small rounds to one block. The CPU twin in kernels/assign_auction_cpu.cpp runs the
// same steps sequentially and must give the same matching.
#include <algorithm>
#include <cstring>

#include "kernels/assign.h"
#include "kernels/assign_core.h"

namespace cvg::cuda {

using namespace cvg::assign_core;

namespace {

constexpr int kBlock = 1024;       // single-block kernels (reductions assume a power of two)
constexpr int kWarpBlock = 256;    // grid kernels
constexpr int kSingleBlockMax = 1024;  // Q up to this: the whole auction in one block
constexpr int kRoundsPerPoll = 4;  // grid rounds launched between two reads of the counters
constexpr unsigned kFull = 0xffffffffu;

struct Dev {
  Plan p;
  int32_t *level, *owner, *col_of, *list0, *list1, *s32;
  int64_t *price, *profit, *s64;
  unsigned long long *bid, *offer;
  double *matched, *partial;
};

__device__ __forceinline__ int* list_of(const Dev& d, int l) { return l ? d.list1 : d.list0; }
__device__ __forceinline__ int vload(const int* p) { return *(const volatile int*)p; }
__device__ __forceinline__ void push(const Dev& d, int l, int x) { list_of(d, l)[atomicAdd(&d.s32[kCount0 + l], 1)] = x; }
__device__ __forceinline__ int64_t a_of(const Dev& d, int i, int j) { return benefit(d.level, d.p.Q, d.p.scale, i, j); }
__device__ __forceinline__ uint64_t idx_mask(const Dev& d) { return (uint64_t(1) << d.p.idx_bits) - 1; }

__device__ Top2 warp_merge(Top2 t) {
  for (int off = 16; off > 0; off >>= 1) {
    Top2 o;
    o.v1 = (int64_t)__shfl_xor_sync(kFull, (long long)t.v1, off);
    o.v2 = (int64_t)__shfl_xor_sync(kFull, (long long)t.v2, off);
    o.k1 = __shfl_xor_sync(kFull, t.k1, off);
    o.j1 = __shfl_xor_sync(kFull, t.j1, off);
    top2_merge(t, o);
  }
  return t;  // the same in every lane
}
// Best and second-best object for person i at the current prices (whole warp).
__device__ Top2 warp_person_top2(const Dev& d, int i) {
  Top2 t = top2_empty();
  const int32_t* row = d.level + (size_t)i * d.p.Q;
  for (int j = threadIdx.x & 31; j < d.p.Q; j += 32) person_scan(t, (int64_t)row[j] * d.p.scale - d.price[j], i, j);
  return warp_merge(t);
}
// Best and second-best person for object j at the current profits (whole warp).
__device__ Top2 warp_object_top2(const Dev& d, int j) {
  Top2 t = top2_empty();
  for (int i = threadIdx.x & 31; i < d.p.P; i += 32) object_scan(t, a_of(d, i, j) - d.profit[i], j, i);
  return warp_merge(t);
}

// Block-wide reduction (all threads of a kBlock block call it); returns the result to every thread.
template <class T, class Op>
__device__ T block_reduce(T v, Op op, T* smem) {
  smem[threadIdx.x] = v;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s >>= 1) {
    if ((int)threadIdx.x < s) smem[threadIdx.x] = op(smem[threadIdx.x], smem[threadIdx.x + s]);
    __syncthreads();
  }
  T r = smem[0];
  __syncthreads();
  return r;
}
struct MinOp { template <class T> __device__ T operator()(T a, T b) const { return a < b ? a : b; } };
struct MaxOp { template <class T> __device__ T operator()(T a, T b) const { return a > b ? a : b; } };

// ---- steps (each mirrors the method of the same name in the CPU twin) ----

// One block: prices relative to their minimum, lists emptied.
__device__ void normalise_block(const Dev& d, int64_t* smem) {
  int64_t lo = INT64_MAX;
  for (int j = threadIdx.x; j < d.p.Q; j += blockDim.x) lo = min(lo, d.price[j]);
  lo = block_reduce(lo, MinOp(), smem);
  for (int j = threadIdx.x; j < d.p.Q; j += blockDim.x) d.price[j] -= lo;
  if (threadIdx.x == 0) d.s32[kCount0] = d.s32[kCount1] = d.s32[kUnassigned] = d.s32[kFlag] = 0;
}

__device__ void restart_step(const Dev& d, int64_t eps, int out, int warp, int nwarps) {
  const int lane = threadIdx.x & 31;
  for (int i = warp; i < d.p.P; i += nwarps) {
    int j = d.col_of[i];
    if (j >= 0) {
      Top2 t = warp_person_top2(d, i);
      if (a_of(d, i, j) - d.price[j] >= t.v1 - eps) continue;
      if (lane == 0) d.owner[j] = -1, d.col_of[i] = -1;
    }
    if (lane == 0) push(d, out, i), atomicAdd(&d.s32[kUnassigned], 1);
  }
}

__device__ void forward_bid_step(const Dev& d, int64_t eps, int in, int out, int warp, int nwarps) {
  const int cnt = vload(&d.s32[kCount0 + in]);
  const int* list = list_of(d, in);
  for (int k = warp; k < cnt; k += nwarps) {
    int i = list[k];
    if (d.col_of[i] >= 0) continue;
    Top2 t = warp_person_top2(d, i);
    if ((threadIdx.x & 31) == 0) {
      uint64_t b = forward_bid(t, d.price, eps, i, d.p.idx_bits);
      if (b == 0) {
        atomicAdd(&d.s32[kOverflow], 1);
      } else {
        atomicMax(&d.bid[t.j1], (unsigned long long)b);
        push(d, out, i);
        atomicExch(&d.s32[kFlag], 1);
      }
    }
  }
}

// Called by thread 0 (of block 0) after a resolve step. A forward round without a single bid while
// persons are unassigned would repeat forever (a bug): it stops the run like an overflow.
__device__ void end_round(const Dev& d, int in, bool forward) {
  if (d.s32[kFlag]) {
    d.s32[kFlag] = 0;
    if (++d.s64[kRounds] > kMaxRounds) d.s32[kOverflow] = 1;
  } else if (forward && d.s32[kUnassigned] > 0) {
    d.s32[kOverflow] = 1;
  }
  d.s32[kCount0 + in] = 0;
}

__device__ void forward_resolve_step(const Dev& d, int out, int tid, int nthreads) {
  for (int j = tid; j < d.p.Q; j += nthreads) {
    unsigned long long b = d.bid[j];
    if (b == 0) continue;
    d.bid[j] = 0;
    int w = (int)(b & idx_mask(d)), o = d.owner[j];
    if (o >= 0) d.col_of[o] = -1, push(d, out, o);
    else atomicSub(&d.s32[kUnassigned], 1);
    d.owner[j] = w, d.col_of[w] = j, d.price[j] = (int64_t)(b >> d.p.idx_bits);
  }
}

// One block: lambda, the persons' profits, and the list of unowned objects priced above lambda.
__device__ void reverse_start_block(const Dev& d, int out, int64_t* smem) {
  int64_t lo = INT64_MAX;
  for (int j = threadIdx.x; j < d.p.Q; j += blockDim.x)
    if (d.owner[j] >= 0) lo = min(lo, d.price[j]);
  const int64_t lambda = block_reduce(lo, MinOp(), smem);
  for (int i = threadIdx.x; i < d.p.P; i += blockDim.x) {
    int j = d.col_of[i];
    d.profit[i] = a_of(d, i, j) - d.price[j];
  }
  if (threadIdx.x == 0) d.s64[kLambda] = lambda, d.s32[kCount0] = d.s32[kCount1] = d.s32[kFlag] = 0;
  __syncthreads();
  for (int j = threadIdx.x; j < d.p.Q; j += blockDim.x)
    if (d.owner[j] < 0 && d.price[j] > lambda) push(d, out, j);
}

__device__ void reverse_bid_step(const Dev& d, int64_t eps, int in, int out, int warp, int nwarps) {
  const int cnt = vload(&d.s32[kCount0 + in]);
  const int* list = list_of(d, in);
  const int64_t lambda = d.s64[kLambda];
  for (int k = warp; k < cnt; k += nwarps) {
    int j = list[k];
    if (d.owner[j] >= 0 || d.price[j] <= lambda) continue;
    Top2 t = warp_object_top2(d, j);
    if ((threadIdx.x & 31) == 0) {
      Offer o = reverse_offer(t, a_of(d, t.j1, j), lambda, eps, j, d.p.idx_bits, d.p.offer_offset);
      if (o.packed == 0) {
        d.price[j] = lambda;
      } else if (o.packed == ~uint64_t(0)) {
        atomicAdd(&d.s32[kOverflow], 1);
      } else {
        atomicMax(&d.offer[t.j1], (unsigned long long)o.packed);
        push(d, out, j);
        atomicExch(&d.s32[kFlag], 1);
      }
    }
  }
}

__device__ void reverse_resolve_step(const Dev& d, int out, int tid, int nthreads) {
  const int64_t lambda = d.s64[kLambda];
  for (int i = tid; i < d.p.P; i += nthreads) {
    unsigned long long o = d.offer[i];
    if (o == 0) continue;
    d.offer[i] = 0;
    int j = (int)(o & idx_mask(d)), k = d.col_of[i];
    int64_t gain = (int64_t)(o >> d.p.idx_bits) - d.p.offer_offset;
    d.owner[k] = -1;
    if (d.price[k] > lambda) push(d, out, k);
    d.owner[j] = i, d.col_of[i] = j, d.price[j] = a_of(d, i, j) - gain, d.profit[i] = gain;
  }
}

// One block runs rounds until the stage is done (forward: every person assigned; reverse: the list
// is empty). Every thread reads the loop condition after a barrier, and a second barrier keeps the
// round's bids (which may raise kOverflow) from starting before every thread has read it, so all
// take the same path.
__device__ void forward_rounds_block(const Dev& d, int64_t eps, int cur) {
  const int warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
  __syncthreads();
  for (;;) {
    const bool go = vload(&d.s32[kUnassigned]) > 0 && vload(&d.s32[kOverflow]) == 0;
    __syncthreads();
    if (!go) break;
    forward_bid_step(d, eps, cur, cur ^ 1, warp, nwarps);
    __syncthreads();
    forward_resolve_step(d, cur ^ 1, threadIdx.x, blockDim.x);
    if (threadIdx.x == 0) end_round(d, cur, true);
    __syncthreads();
    cur ^= 1;
  }
}
__device__ void reverse_rounds_block(const Dev& d, int64_t eps, int cur) {
  const int warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
  __syncthreads();
  for (;;) {
    const bool go = vload(&d.s32[kCount0 + cur]) > 0 && vload(&d.s32[kOverflow]) == 0;
    __syncthreads();  // as in forward_rounds_block
    if (!go) break;
    reverse_bid_step(d, eps, cur, cur ^ 1, warp, nwarps);
    __syncthreads();
    reverse_resolve_step(d, cur ^ 1, threadIdx.x, blockDim.x);
    if (threadIdx.x == 0) end_round(d, cur, false);
    __syncthreads();
    cur ^= 1;
  }
}

// ---- kernels ----

__global__ void minmax_kernel(const double* M, size_t count, bool minimize, double* partial) {
  __shared__ double smem[kWarpBlock];
  double lo = INFINITY, hi = -INFINITY;
  for (size_t k = blockIdx.x * (size_t)blockDim.x + threadIdx.x; k < count; k += (size_t)gridDim.x * blockDim.x) {
    double x = minimize ? -M[k] : M[k];
    lo = fmin(lo, x), hi = fmax(hi, x);
  }
  lo = block_reduce(lo, MinOp(), smem);
  hi = block_reduce(hi, MaxOp(), smem);
  if (threadIdx.x == 0) partial[2 * blockIdx.x] = lo, partial[2 * blockIdx.x + 1] = hi;
}
__global__ void minmax_final_kernel(double* partial, int blocks) {
  __shared__ double smem[kBlock];
  double lo = INFINITY, hi = -INFINITY;
  for (int b = threadIdx.x; b < blocks; b += blockDim.x) lo = fmin(lo, partial[2 * b]), hi = fmax(hi, partial[2 * b + 1]);
  lo = block_reduce(lo, MinOp(), smem);
  hi = block_reduce(hi, MaxOp(), smem);
  if (threadIdx.x == 0) partial[0] = lo, partial[1] = hi;
}

__global__ void quantise_kernel(const double* M, Dev d) {
  const size_t count = (size_t)d.p.n * d.p.m;
  for (size_t k = blockIdx.x * (size_t)blockDim.x + threadIdx.x; k < count; k += (size_t)gridDim.x * blockDim.x) {
    int32_t l = level_of(M[k], d.p.minimize, d.p.lo, d.p.range, d.p.K);
    size_t r = k / d.p.m, c = k % d.p.m;
    d.level[d.p.persons_are_rows ? k : c * d.p.n + r] = l;
  }
}

__global__ void init_kernel(Dev d) {
  for (int j = blockIdx.x * blockDim.x + threadIdx.x; j < d.p.Q; j += gridDim.x * blockDim.x) {
    d.price[j] = 0, d.bid[j] = 0, d.owner[j] = -1;
    if (j < d.p.P) d.col_of[j] = -1, d.offer[j] = 0, d.profit[j] = 0;
  }
  if (blockIdx.x == 0 && threadIdx.x < kNum32) d.s32[threadIdx.x] = 0;
  if (blockIdx.x == 0 && threadIdx.x < kNum64) d.s64[threadIdx.x] = 0;
}

// The whole auction in one block (small problems): no round trip to the host at all.
__global__ void __launch_bounds__(kBlock) auction_block_kernel(Dev d) {
  __shared__ int64_t smem[kBlock];
  const int warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
  for (int64_t eps = d.p.eps0;; eps = max((int64_t)1, eps / kEpsFactor)) {
    if (threadIdx.x == 0) ++d.s64[kPhases];
    normalise_block(d, smem);
    __syncthreads();
    restart_step(d, eps, 0, warp, nwarps);
    forward_rounds_block(d, eps, 0);  // starts with a barrier
    if (d.p.Q > d.p.P && vload(&d.s32[kOverflow]) == 0) {
      reverse_start_block(d, 0, smem);
      reverse_rounds_block(d, eps, 0);
    }
    __syncthreads();
    if (vload(&d.s32[kOverflow]) != 0 || eps == 1) break;
    __syncthreads();  // everyone has read the overflow flag before the next phase can change it
  }
}

__global__ void __launch_bounds__(kBlock) normalise_kernel(Dev d) {
  __shared__ int64_t smem[kBlock];
  normalise_block(d, smem);
}
__global__ void restart_kernel(Dev d, int64_t eps) {
  restart_step(d, eps, 0, (blockIdx.x * blockDim.x + threadIdx.x) >> 5, (gridDim.x * blockDim.x) >> 5);
}
__global__ void forward_bid_kernel(Dev d, int64_t eps, int in) {
  forward_bid_step(d, eps, in, in ^ 1, (blockIdx.x * blockDim.x + threadIdx.x) >> 5, (gridDim.x * blockDim.x) >> 5);
}
__global__ void forward_resolve_kernel(Dev d, int in) {
  forward_resolve_step(d, in ^ 1, blockIdx.x * blockDim.x + threadIdx.x, gridDim.x * blockDim.x);
  if (blockIdx.x == 0 && threadIdx.x == 0) end_round(d, in, true);
}
__global__ void __launch_bounds__(kBlock) forward_tail_kernel(Dev d, int64_t eps, int cur) {
  forward_rounds_block(d, eps, cur);
}
__global__ void __launch_bounds__(kBlock) reverse_start_kernel(Dev d) {
  __shared__ int64_t smem[kBlock];
  reverse_start_block(d, 0, smem);
}
__global__ void reverse_bid_kernel(Dev d, int64_t eps, int in) {
  reverse_bid_step(d, eps, in, in ^ 1, (blockIdx.x * blockDim.x + threadIdx.x) >> 5, (gridDim.x * blockDim.x) >> 5);
}
__global__ void reverse_resolve_kernel(Dev d, int in) {
  reverse_resolve_step(d, in ^ 1, blockIdx.x * blockDim.x + threadIdx.x, gridDim.x * blockDim.x);
  if (blockIdx.x == 0 && threadIdx.x == 0) end_round(d, in, false);
}
__global__ void __launch_bounds__(kBlock) reverse_tail_kernel(Dev d, int64_t eps, int cur) {
  reverse_rounds_block(d, eps, cur);
}

// Certificate, part 1 (grid of warps): every person holds its own object, in 1-CS.
__global__ void certify_kernel(Dev d) {
  const int warp = (blockIdx.x * blockDim.x + threadIdx.x) >> 5, nwarps = (gridDim.x * blockDim.x) >> 5;
  for (int i = warp; i < d.p.P; i += nwarps) {
    int j = d.col_of[i];
    bool ok = j >= 0 && j < d.p.Q && d.owner[j] == i;
    if (ok) {
      Top2 t = warp_person_top2(d, i);
      ok = a_of(d, i, j) - d.price[j] >= t.v1 - 1;
    }
    if (!ok && (threadIdx.x & 31) == 0) atomicAdd(&d.s32[kViolations], 1);
  }
}
// Part 2 (one block): no unowned object priced above an owned one; then the output and the
// objective summed in the twin's fixed order.
__global__ void __launch_bounds__(kBlock) finish_kernel(Dev d, const double* M, int64_t* row_to_col) {
  __shared__ int64_t smem[kBlock];
  __shared__ double sums[kBlock];
  int64_t lo = INT64_MAX;
  for (int i = threadIdx.x; i < d.p.P; i += blockDim.x) {
    int j = d.col_of[i];
    if (j >= 0 && j < d.p.Q) lo = min(lo, d.price[j]);
  }
  const int64_t min_owned = block_reduce(lo, MinOp(), smem);
  for (int j = threadIdx.x; j < d.p.Q; j += blockDim.x)
    if (d.owner[j] < 0 && d.price[j] > min_owned) atomicAdd(&d.s32[kViolations], 1);
  const int n = d.p.n, m = d.p.m;
  for (int r = threadIdx.x; r < n; r += blockDim.x) {
    int c = d.p.persons_are_rows ? d.col_of[r] : d.owner[r];
    row_to_col[r] = c;
    d.matched[r] = c >= 0 ? M[(size_t)r * m + c] : 0.0;
  }
  __syncthreads();
  double s = 0;
  for (int r = threadIdx.x; r < n; r += kSumLanes) s += d.matched[r];
  sums[threadIdx.x] = s;
  __syncthreads();
  for (int stride = kSumLanes / 2; stride > 0; stride /= 2) {
    if ((int)threadIdx.x < stride) sums[threadIdx.x] += sums[threadIdx.x + stride];
    __syncthreads();
  }
  if (threadIdx.x == 0) d.partial[0] = sums[0];
}

int warp_grid(int work) {
  static int sms = [] {
    int dev = 0, count = 0;
    CUDA_CHECK(cudaGetDevice(&dev));
    CUDA_CHECK(cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, dev));
    return count;
  }();
  const int warps_per_block = kWarpBlock / 32;
  int blocks = (work + warps_per_block - 1) / warps_per_block;
  return blocks < 1 ? 1 : (blocks > sms * 8 ? sms * 8 : blocks);
}

// Both scalar arrays in one copy (s64 sits 64 bytes after s32); synchronises with the GPU.
void read_scalars(const Dev& d, int32_t* s32, int64_t* s64) {
  static_assert(kNum32 * sizeof(int32_t) <= 64, "int32 scalars overlap the int64 ones");
  alignas(8) char buf[64 + kNum64 * sizeof(int64_t)];
  CUDA_CHECK(cudaMemcpy(buf, d.s32, sizeof buf, cudaMemcpyDeviceToHost));
  std::memcpy(s32, buf, kNum32 * sizeof(int32_t));
  std::memcpy(s64, buf + 64, kNum64 * sizeof(int64_t));
}

// Large problems: grid rounds while many persons (objects) bid, polling the counters every few
// rounds; the tail of the stage goes to one block once few remain.
int run_phases_on_grid(Dev d) {
  const Plan& p = d.p;
  const int tail = p.Q >= (1 << 17) ? 8 : (1 << 17) / p.Q;  // about one block's worth of scanning
  int32_t s32[kNum32];
  int64_t s64[kNum64];
  int phases = 0;
  for (int64_t eps = p.eps0;; eps = std::max<int64_t>(1, eps / kEpsFactor)) {
    ++phases;
    normalise_kernel<<<1, kBlock>>>(d);
    CUDA_CHECK_LAUNCH();
    restart_kernel<<<warp_grid(p.P), kWarpBlock>>>(d, eps);
    CUDA_CHECK_LAUNCH();
    int cur = 0;
    for (;;) {
      read_scalars(d, s32, s64);
      if (s32[kUnassigned] == 0 || s32[kOverflow]) break;
      if (s32[kUnassigned] <= tail) {
        forward_tail_kernel<<<1, kBlock>>>(d, eps, cur);
        CUDA_CHECK_LAUNCH();
        continue;  // the next read finds the stage done
      }
      const int grid = warp_grid(s32[kUnassigned]);
      for (int r = 0; r < kRoundsPerPoll; ++r, cur ^= 1) {
        forward_bid_kernel<<<grid, kWarpBlock>>>(d, eps, cur);
        CUDA_CHECK_LAUNCH();
        forward_resolve_kernel<<<warp_grid(p.Q / 32 + 1), kWarpBlock>>>(d, cur);
        CUDA_CHECK_LAUNCH();
      }
    }
    if (p.Q > p.P && !s32[kOverflow]) {
      reverse_start_kernel<<<1, kBlock>>>(d);
      CUDA_CHECK_LAUNCH();
      cur = 0;
      for (;;) {
        read_scalars(d, s32, s64);
        const int pending = s32[kCount0 + cur];
        if (pending == 0 || s32[kOverflow]) break;
        if (pending <= tail) {
          reverse_tail_kernel<<<1, kBlock>>>(d, eps, cur);
          CUDA_CHECK_LAUNCH();
          read_scalars(d, s32, s64);
          break;
        }
        const int grid = warp_grid(pending);
        for (int r = 0; r < kRoundsPerPoll; ++r, cur ^= 1) {
          reverse_bid_kernel<<<grid, kWarpBlock>>>(d, eps, cur);
          CUDA_CHECK_LAUNCH();
          reverse_resolve_kernel<<<warp_grid(p.P / 32 + 1), kWarpBlock>>>(d, cur);
          CUDA_CHECK_LAUNCH();
        }
      }
    }
    if (s32[kOverflow] || eps == 1) break;
  }
  return phases;
}

}  // namespace

size_t assign_auction_workspace_bytes(int n, int m) { return n <= 0 || m <= 0 ? 0 : layout(n, m).total; }

AuctionReport assign_auction(const double* M, int n, int m, bool minimize, int64_t* row_to_col, void* work) {
  AuctionReport rep;
  if (n < 0 || m < 0) throw std::logic_error("assign_auction: negative size");
  if (n == 0 || m == 0) {
    if (n > 0) CUDA_CHECK(cudaMemset(row_to_col, 0xff, (size_t)n * sizeof(int64_t)));  // all -1
    rep.certified = true;
    return rep;
  }
  if (std::max(n, m) > (1 << 28)) throw InputError("assign_auction: matrix side above 2^28");
  const Layout L = layout(n, m);
  char* base = static_cast<char*>(work);
  Dev d;
  d.level = (int32_t*)(base + L.level), d.owner = (int32_t*)(base + L.owner), d.col_of = (int32_t*)(base + L.col_of);
  d.list0 = (int32_t*)(base + L.list0), d.list1 = (int32_t*)(base + L.list1), d.s32 = (int32_t*)(base + L.scalars);
  d.price = (int64_t*)(base + L.price), d.profit = (int64_t*)(base + L.profit), d.s64 = (int64_t*)(base + L.scalars + 64);
  d.bid = (unsigned long long*)(base + L.bid), d.offer = (unsigned long long*)(base + L.offer);
  d.matched = (double*)(base + L.matched), d.partial = (double*)(base + L.partial);

  // Range of s*M, then the plan (on the host) and the levels.
  const size_t count = (size_t)n * m;
  const int blocks = (int)std::min<size_t>(kPartials, (count + kWarpBlock - 1) / kWarpBlock);
  minmax_kernel<<<blocks, kWarpBlock>>>(M, count, minimize, d.partial);
  CUDA_CHECK_LAUNCH();
  minmax_final_kernel<<<1, kBlock>>>(d.partial, blocks);
  CUDA_CHECK_LAUNCH();
  double lohi[2];
  CUDA_CHECK(cudaMemcpy(lohi, d.partial, sizeof lohi, cudaMemcpyDeviceToHost));
  d.p = make_plan(n, m, minimize, lohi[0], lohi[1]);
  const int fill_grid = (int)std::min<size_t>(65535, (count + kWarpBlock - 1) / kWarpBlock);
  quantise_kernel<<<fill_grid, kWarpBlock>>>(M, d);
  CUDA_CHECK_LAUNCH();
  init_kernel<<<(d.p.Q + kWarpBlock - 1) / kWarpBlock, kWarpBlock>>>(d);
  CUDA_CHECK_LAUNCH();

  int32_t s32[kNum32];
  int64_t s64[kNum64];
  if (d.p.Q <= kSingleBlockMax) {
    auction_block_kernel<<<1, kBlock>>>(d);
    CUDA_CHECK_LAUNCH();
    read_scalars(d, s32, s64);
    rep.phases = (int)s64[kPhases];
  } else {
    rep.phases = run_phases_on_grid(d);
    read_scalars(d, s32, s64);
  }
  if (s32[kOverflow]) throw std::runtime_error("assign_auction: price overflow or no convergence (a bug: the plan bounds both)");

  certify_kernel<<<warp_grid(d.p.P), kWarpBlock>>>(d);
  CUDA_CHECK_LAUNCH();
  finish_kernel<<<1, kBlock>>>(d, M, row_to_col);
  CUDA_CHECK_LAUNCH();
  read_scalars(d, s32, s64);
  CUDA_CHECK(cudaMemcpy(&rep.objective, d.partial, sizeof(double), cudaMemcpyDeviceToHost));
  rep.rounds = s64[kRounds];
  rep.violations = s32[kViolations];
  rep.certified = rep.violations == 0;
  rep.levels = d.p.K;
  rep.quantum = quantum(d.p);
  rep.error_bound = d.p.P * rep.quantum;
  return rep;
}

}  // namespace cvg::cuda
