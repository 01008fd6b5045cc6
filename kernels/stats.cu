// CUDA twin of the statistics family (no cuBLAS). The moments GEMM is C = (A - ra)(B - rb)^T with a
// long K (samples): 64x64 output tiles, split-K over samples, float32 FMAs in registers over runs of
// kStatsGpuRun samples flushed into float64 registers, each split's float64 tile summed in a fixed
// order into the accumulator (deterministic: no floating-point atomics anywhere).
#include <algorithm>
#include <climits>
#include <cmath>
#include <stdexcept>
#include <string>

#include "kernels/stats.h"

namespace cvg::cuda {

namespace {

constexpr int kThreads = 256;

void check_bins(int bins) {
  if (bins < 2 || bins > kStatsMaxBins)
    throw std::logic_error("stats: bins must be in 2.." + std::to_string(kStatsMaxBins) + ", got " + std::to_string(bins));
}

int grid_for(size_t n, int threads = kThreads) {
  return (int)std::min<size_t>((n + threads - 1) / threads, 65535 * 16);
}

// Fixed-order block sum (warp shuffles, then warp totals added by thread 0 in warp order).
__device__ double block_sum(double v) {
  __shared__ double warp_total[kThreads / 32];
  for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) warp_total[warp] = v;
  __syncthreads();
  double t = 0;
  if (threadIdx.x == 0)
    for (int w = 0; w < (int)(blockDim.x >> 5); ++w) t += warp_total[w];
  return t;  // valid in thread 0 only
}

// One block per unit: float32 differences; their sum and sum of squares (each optional) in float64.
// Threads walk positions within each image (contiguous) when the maps are large, samples otherwise.
__global__ void unit_sums_kernel(int n, int c, int hw, const float* __restrict__ x, const float* __restrict__ shift,
                                 double* __restrict__ sum, double* __restrict__ sum_sq) {
  const int u = blockIdx.x;
  const float r = shift ? shift[u] : 0.0f;
  double s1 = 0, s2 = 0;
  if (hw >= 64) {
    for (int img = 0; img < n; ++img) {
      const float* row = x + ((size_t)img * c + u) * hw;
      for (int p = threadIdx.x; p < hw; p += blockDim.x) {
        const double d = row[p] - r;
        s1 += d, s2 += d * d;
      }
    }
  } else {
    const size_t K = (size_t)n * hw;
    for (size_t s = threadIdx.x; s < K; s += blockDim.x) {
      const size_t img = s / hw, pos = s - img * hw;
      const double d = x[(img * c + u) * hw + pos] - r;
      s1 += d, s2 += d * d;
    }
  }
  const double t1 = block_sum(s1);
  if (threadIdx.x == 0 && sum) sum[u] += t1;
  if (!sum_sq) return;  // uniform across the block
  __syncthreads();      // block_sum's shared slots are reused
  const double t2 = block_sum(s2);
  if (threadIdx.x == 0) sum_sq[u] += t2;
}

// ---- moments GEMM -------------------------------------------------------------------------------
constexpr int BM = 64, BN = 64, BK = 16;
constexpr int kFlushTiles = kStatsGpuRun / BK;
static_assert(kStatsGpuRun % BK == 0, "run must be a whole number of k-tiles");
constexpr size_t kMinSamplesPerSplit = 1024;
constexpr int kTargetBlocks = 1024;  // ~8 per SM on a 132-SM H100: enough to hide latency

int tiles_of(int c, int t) { return (c + t - 1) / t; }

int cross_splits(int n, int ca, int cb, int hw) {
  const size_t K = (size_t)n * hw;
  const int tiles = tiles_of(ca, BM) * tiles_of(cb, BN);
  const size_t by_work = (K + kMinSamplesPerSplit - 1) / kMinSamplesPerSplit;
  const size_t by_grid = (size_t)((kTargetBlocks + tiles - 1) / tiles);
  return (int)std::max<size_t>(1, std::min<size_t>({by_work, by_grid, 65535}));
}

// Loads this thread's 4 elements of successive [64 units x BK samples] tiles of one operand,
// shifted, zero past the samples' end and past the last unit. Two thread layouts: for hw > 1
// consecutive threads walk consecutive samples of one unit (contiguous in NCHW), and the thread's
// sample (image, position) advances by BK per tile without dividing; for hw == 1 (fc) consecutive
// threads walk consecutive units of one sample (contiguous there). The thread's units never
// change, so their shifts are read once.
constexpr int kPad = 4;  // rows of BM + 4 floats: 16-byte aligned for float4 reads
struct TileLoader {
  const float* __restrict__ x;
  int c, hw, lm0, lk0, dm, dk;
  size_t s, img;  // the thread's next sample and its image (hw > 1)
  int pos;
  float r[4];
  __device__ TileLoader(const float* x_, const float* __restrict__ shift, int c_, int hw_, int unit0, size_t k_begin)
      : x(x_), c(c_), hw(hw_) {
    const int t = threadIdx.x;
    if (hw > 1) lk0 = t & 15, lm0 = t >> 4, dm = 16, dk = 0;
    else lm0 = t & 63, lk0 = t >> 6, dm = 0, dk = 4;
    lm0 += unit0;
    s = k_begin + lk0;
    img = s / hw;  // once per thread
    pos = (int)(s - img * hw);
#pragma unroll
    for (int q = 0; q < 4; ++q) {
      const int m = lm0 + q * dm;
      r[q] = (shift && m < c) ? shift[m] : 0.0f;
    }
  }
  // Loads the tile at the current sample, then moves on by BK samples.
  __device__ void load_next(size_t k_end, float v[4]) {
    if (dk == 0) {
      const bool in = s < k_end;
      const size_t base = (img * c) * (size_t)hw + pos;
#pragma unroll
      for (int q = 0; q < 4; ++q) {
        const int m = lm0 + q * dm;
        v[q] = (in && m < c) ? x[base + (size_t)m * hw] - r[q] : 0.0f;
      }
      s += BK, pos += BK;
      while (pos >= hw) pos -= hw, ++img;  // at most once when hw >= BK
    } else {  // hw == 1: sample s is image s
#pragma unroll
      for (int q = 0; q < 4; ++q) {
        const size_t sq = s + q * dk;
        v[q] = (sq < k_end && lm0 < c) ? x[sq * c + lm0] - r[q] : 0.0f;
      }
      s += BK;
    }
  }
  // Stores at the tile-relative unit index (unit0 subtracted back out).
  __device__ void store(float (*tile)[BM + kPad], int unit0, const float v[4]) const {
#pragma unroll
    for (int q = 0; q < 4; ++q) tile[lk0 + q * dk][lm0 - unit0 + q * dm] = v[q];
  }
};

// blockIdx.x: 64-column tile of B's units, blockIdx.y: 64-row tile of A's units, blockIdx.z: split.
// Thread (ty, tx) owns rows 4ty..4ty+3 and columns 4tx..4tx+3 of the tile, read as float4.
// kSym (a == b): only tiles with row tile <= column tile run; the other triangle is mirrored on
// write (a diagonal tile is bitwise symmetric already: fmaf(a, b, c) == fmaf(b, a, c)).
// out: the accumulator itself when there is one split (each element has one writer), else the
// float64 scratch, one [ca, cb] slice per split.
template <bool kSym>
__global__ void __launch_bounds__(kThreads) cross_kernel(int ca, int cb, int hw, size_t K, size_t per_split,
                                                         const float* __restrict__ a, const float* __restrict__ sa,
                                                         const float* __restrict__ b, const float* __restrict__ sb,
                                                         double* __restrict__ out, bool direct) {
  const int tm = blockIdx.y, tn = blockIdx.x;
  if (kSym && tm > tn) return;  // the whole block leaves before any barrier
  __shared__ __align__(16) float As[BK][BM + kPad];
  __shared__ __align__(16) float Bs[BK][BN + kPad];
  const size_t k_begin = (size_t)blockIdx.z * per_split;
  const size_t k_end = min(K, k_begin + per_split);
  const int tx = threadIdx.x & 15, ty = threadIdx.x >> 4;
  TileLoader la(a, sa, ca, hw, tm * BM, k_begin), lb(b, sb, cb, hw, tn * BN, k_begin);

  float acc[4][4];
  double accd[4][4];
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j) acc[i][j] = 0.0f, accd[i][j] = 0.0;

  float va[4], vb[4];
  if (k_begin < k_end) la.load_next(k_end, va), lb.load_next(k_end, vb);
  int run = 0;
  for (size_t k0 = k_begin; k0 < k_end; k0 += BK) {
    la.store(As, tm * BM, va);
    lb.store(Bs, tn * BN, vb);
    __syncthreads();
    if (k0 + BK < k_end) la.load_next(k_end, va), lb.load_next(k_end, vb);  // prefetch the next tile
#pragma unroll
    for (int kk = 0; kk < BK; ++kk) {
      const float4 a4 = *reinterpret_cast<const float4*>(&As[kk][4 * ty]);
      const float4 b4 = *reinterpret_cast<const float4*>(&Bs[kk][4 * tx]);
      const float ar[4] = {a4.x, a4.y, a4.z, a4.w}, br[4] = {b4.x, b4.y, b4.z, b4.w};
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] = fmaf(ar[i], br[j], acc[i][j]);
    }
    __syncthreads();
    if (++run == kFlushTiles) {  // float32 runs stay short; float64 carries the total
      run = 0;
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) accd[i][j] += acc[i][j], acc[i][j] = 0.0f;
    }
  }
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j) accd[i][j] += acc[i][j];

#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const int m = tm * BM + 4 * ty + i;
    if (m >= ca) continue;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int nn = tn * BN + 4 * tx + j;
      if (nn >= cb) continue;
      if (direct) {
        out[(size_t)m * cb + nn] += accd[i][j];
        if (kSym && tm < tn) out[(size_t)nn * cb + m] += accd[i][j];
      } else {
        out[(size_t)blockIdx.z * ca * cb + (size_t)m * cb + nn] = accd[i][j];
      }
    }
  }
}

// cross[e] += sum over splits of scratch[split][e], splits in order. For kSym the elements of
// skipped tiles (row tile > column tile) are read from their mirror.
template <bool kSym>
__global__ void reduce_splits_kernel(int ca, int cb, int splits, const double* __restrict__ scratch,
                                     double* __restrict__ cross) {
  const size_t cells = (size_t)ca * cb;
  for (size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x; e < cells; e += (size_t)gridDim.x * blockDim.x) {
    const int i = (int)(e / cb), j = (int)(e - (size_t)i * cb);
    const size_t src = (kSym && i / BM > j / BN) ? (size_t)j * cb + i : e;
    double s = 0;
    for (int z = 0; z < splits; ++z) s += scratch[(size_t)z * cells + src];
    cross[e] += s;
  }
}

template <bool kSym>
void launch_cross(int n, int ca, int cb, int hw, const float* a, const float* sa, const float* b,
                  const float* sb, void* scratch, double* cross) {
  const size_t K = (size_t)n * hw;
  if (K == 0 || ca == 0 || cb == 0) return;
  const int splits = cross_splits(n, ca, cb, hw);
  const size_t per_split = ((K + splits - 1) / splits + BK - 1) / BK * BK;
  const bool direct = splits == 1;
  dim3 grid(tiles_of(cb, BN), tiles_of(ca, BM), splits);
  cross_kernel<kSym><<<grid, kThreads>>>(ca, cb, hw, K, per_split, a, sa, b, sb,
                                         direct ? cross : static_cast<double*>(scratch), direct);
  CUDA_CHECK_LAUNCH();
  if (!direct) {
    reduce_splits_kernel<kSym><<<grid_for((size_t)ca * cb), kThreads>>>(ca, cb, splits,
                                                                         static_cast<const double*>(scratch), cross);
    CUDA_CHECK_LAUNCH();
  }
}

// ---- recentring -------------------------------------------------------------------------------
__global__ void recenter_cross_kernel(int ca, int cb, double count, const double* __restrict__ sum_a,
                                      const double* __restrict__ da, const double* __restrict__ sum_b,
                                      const double* __restrict__ db, double* __restrict__ cross) {
  const size_t cells = (size_t)ca * cb;
  for (size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x; e < cells; e += (size_t)gridDim.x * blockDim.x) {
    const int i = (int)(e / cb), j = (int)(e - (size_t)i * cb);
    cross[e] += da[i] * sum_b[j] + sum_a[i] * db[j] + count * (da[i] * db[j]);
  }
}

__global__ void recenter_sums_kernel(int c, double count, const double* __restrict__ d, double* __restrict__ sum) {
  const int u = blockIdx.x * blockDim.x + threadIdx.x;
  if (u < c) sum[u] += count * d[u];
}

// ---- histograms -------------------------------------------------------------------------------
__global__ void compute_bins_kernel(int c, int hw, size_t total, const float* __restrict__ x,
                                    const float* __restrict__ edges, int bins, uint8_t* __restrict__ out) {
  for (size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x; e < total; e += (size_t)gridDim.x * blockDim.x) {
    const int u = (int)((e / hw) % c);
    out[e] = (uint8_t)stats_bin_of(x[e], edges + (size_t)u * (bins - 2), bins);
  }
}

// One block per unit; per-warp shared sub-histograms, then one writer per (unit, bin).
__global__ void marginal_hist_kernel(int n, int c, int hw, const uint8_t* __restrict__ bx, int bins,
                                     uint64_t* __restrict__ counts) {
  __shared__ unsigned int h[kThreads / 32][kStatsMaxBins];
  const int u = blockIdx.x, warp = threadIdx.x >> 5;
  for (int e = threadIdx.x; e < (kThreads / 32) * kStatsMaxBins; e += blockDim.x) (&h[0][0])[e] = 0;
  __syncthreads();
  const size_t K = (size_t)n * hw;
  for (size_t s = threadIdx.x; s < K; s += blockDim.x) {
    const size_t img = s / hw, pos = s - img * hw;
    atomicAdd(&h[warp][bx[(img * c + u) * hw + pos]], 1u);
  }
  __syncthreads();
  if (threadIdx.x < bins) {
    uint64_t t = 0;
    for (int w = 0; w < kThreads / 32; ++w) t += h[w][threadIdx.x];
    counts[(size_t)u * bins + threadIdx.x] += t;
  }
}

// Joint histograms: a block owns JI x JJ unit pairs (one per thread) and a range of samples. Each
// thread keeps a private histogram in shared memory laid out [cell][thread], so a warp's increments
// hit 32 different banks whatever the cells; the bins of the block's units for JCH samples are
// staged in shared memory first. Integer atomics at the end: exact and order-independent.
constexpr int JI = 8, JJ = 16, JT = JI * JJ, JCH = 256, JROW = JCH + 4;  // +4: rows on distinct banks
constexpr size_t kJointMinSamplesPerSplit = 4096;

size_t joint_smem_bytes(int bins) {
  return (size_t)bins * bins * JT * sizeof(unsigned int) + (size_t)(JI + JJ) * JROW;
}

// dst[r * JROW + s] = bins of unit unit0 + r at sample s0 + s, for r < rows, s < JCH (0 past the
// end or the last unit). Thread t handles the samples t, t + JT, ...: their (image, position) is
// computed once and reused for every row.
__device__ void stage_bins(const uint8_t* __restrict__ bx, int c, int hw, int unit0, int rows, size_t s0, int len,
                           uint8_t* dst) {
  for (int s = threadIdx.x; s < JCH; s += blockDim.x) {
    size_t base = 0;
    if (s < len) {
      const size_t g = s0 + s, img = g / hw, pos = g - img * hw;
      base = img * c * (size_t)hw + pos;
    }
    for (int r = 0; r < rows; ++r) {
      const int u = unit0 + r;
      dst[r * JROW + s] = (u < c && s < len) ? bx[base + (size_t)u * hw] : 0;
    }
  }
}

__global__ void __launch_bounds__(JT) joint_hist_kernel(int ca, int cb, int hw, size_t K, size_t per_split,
                                                        const uint8_t* __restrict__ ba,
                                                        const uint8_t* __restrict__ bb, int bins,
                                                        uint64_t* __restrict__ counts) {
  extern __shared__ unsigned int smem[];
  const int cells = bins * bins;
  unsigned int* hist = smem;
  uint8_t* sa = reinterpret_cast<uint8_t*>(smem + (size_t)cells * JT);
  uint8_t* sb = sa + JI * JROW;
  const int tid = threadIdx.x, ti = tid / JJ, tj = tid % JJ;
  const int i = blockIdx.y * JI + ti, j = blockIdx.x * JJ + tj;
  const bool valid = i < ca && j < cb;
  for (int e = tid; e < cells * JT; e += JT) hist[e] = 0;
  const size_t k_begin = (size_t)blockIdx.z * per_split, k_end = min(K, k_begin + per_split);
  for (size_t s0 = k_begin; s0 < k_end; s0 += JCH) {
    const int len = (int)min((size_t)JCH, k_end - s0);
    __syncthreads();  // previous chunk fully consumed (and hist zeroed on the first pass)
    stage_bins(ba, ca, hw, blockIdx.y * JI, JI, s0, len, sa);
    stage_bins(bb, cb, hw, blockIdx.x * JJ, JJ, s0, len, sb);
    __syncthreads();
    if (valid) {
      const uint8_t* ra = sa + ti * JROW;
      const uint8_t* rb = sb + tj * JROW;
      for (int s = 0; s < len; ++s) ++hist[(ra[s] * bins + rb[s]) * JT + tid];
    }
  }
  if (!valid) return;
  uint64_t* dst = counts + ((size_t)i * cb + j) * cells;
  for (int cell = 0; cell < cells; ++cell) {
    const unsigned int v = hist[cell * JT + tid];
    if (v) atomicAdd(reinterpret_cast<unsigned long long*>(dst + cell), (unsigned long long)v);
  }
}

__global__ void gather_kernel(int c, int hw, const float* __restrict__ x, int count, const int* __restrict__ index,
                              int capacity, int offset, float* __restrict__ out) {
  const size_t total = (size_t)c * count;
  for (size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x; e < total; e += (size_t)gridDim.x * blockDim.x) {
    const int u = (int)(e / count), j = (int)(e - (size_t)u * count);
    const size_t s = (size_t)index[j], img = s / hw, pos = s - img * hw;
    out[(size_t)u * capacity + offset + j] = x[(img * c + u) * hw + pos];
  }
}

// ---- top-k ------------------------------------------------------------------------------------
// (value desc, position asc): a total order on non-NaN values, so any reduction order gives the
// same winner as the CPU's scan; NaN is never "better" and so ignored.
__device__ __forceinline__ bool pos_better(float v1, int p1, float v2, int p2) {
  return v1 > v2 || (v1 == v2 && p1 < p2);
}

// One warp per (image, unit) row.
__global__ void unit_max_kernel(size_t rows, int hw, const float* __restrict__ x, float* __restrict__ max_val,
                                int* __restrict__ argmax) {
  const size_t warp = (blockIdx.x * (size_t)blockDim.x + threadIdx.x) >> 5;
  const int lane = threadIdx.x & 31;
  if (warp >= rows) return;  // whole warps exit together
  const float* row = x + warp * hw;
  float best = -INFINITY;
  int at = INT_MAX;
  for (int p = lane; p < hw; p += 32) {
    const float v = row[p];
    if (pos_better(v, p, best, at)) best = v, at = p;
  }
  for (int o = 16; o > 0; o >>= 1) {
    const float v = __shfl_down_sync(0xffffffffu, best, o);
    const int p = __shfl_down_sync(0xffffffffu, at, o);
    if (pos_better(v, p, best, at)) best = v, at = p;
  }
  if (lane == 0) {
    max_val[warp] = best;
    argmax[warp] = at == INT_MAX ? -1 : at;
  }
}

__global__ void topk_reset_kernel(size_t total, float* val, int* image, int* pos) {
  for (size_t e = blockIdx.x * (size_t)blockDim.x + threadIdx.x; e < total; e += (size_t)gridDim.x * blockDim.x)
    val[e] = -INFINITY, image[e] = -1, pos[e] = -1;
}

// One thread per unit: insertion of the batch's n candidates into its sorted list (k <= 32).
__global__ void topk_merge_kernel(int n, int c, int k, const float* __restrict__ max_val,
                                  const int* __restrict__ argmax, int image_id0, float* val, int* image, int* pos) {
  const int u = blockIdx.x * blockDim.x + threadIdx.x;
  if (u >= c) return;
  float v[kStatsMaxTopK];
  int im[kStatsMaxTopK], ps[kStatsMaxTopK];
  for (int t = 0; t < k; ++t) v[t] = val[(size_t)u * k + t], im[t] = image[(size_t)u * k + t], ps[t] = pos[(size_t)u * k + t];
  for (int i = 0; i < n; ++i) {
    const float cv = max_val[(size_t)i * c + u];
    const int ci = image_id0 + i, cp = argmax[(size_t)i * c + u];
    if (!topk_better(cv, ci, v[k - 1], im[k - 1])) continue;
    int at = k - 1;
    while (at > 0 && topk_better(cv, ci, v[at - 1], im[at - 1])) {
      v[at] = v[at - 1], im[at] = im[at - 1], ps[at] = ps[at - 1];
      --at;
    }
    v[at] = cv, im[at] = ci, ps[at] = cp;
  }
  for (int t = 0; t < k; ++t) val[(size_t)u * k + t] = v[t], image[(size_t)u * k + t] = im[t], pos[(size_t)u * k + t] = ps[t];
}

}  // namespace

void accumulate_sums(int n, int c, int hw, const float* x, const float* shift, double* sum, double* sum_sq) {
  if (c == 0 || (size_t)n * hw == 0) return;
  unit_sums_kernel<<<c, kThreads>>>(n, c, hw, x, shift, sum, sum_sq);
  CUDA_CHECK_LAUNCH();
}

size_t cross_scratch_bytes(int n, int ca, int cb, int hw) {
  const int splits = cross_splits(n, ca, cb, hw);
  return splits > 1 ? sizeof(double) * splits * (size_t)ca * cb : 0;
}

void accumulate_cross(int n, int ca, int cb, int hw, const float* a, const float* shift_a, const float* b,
                      const float* shift_b, void* scratch, double* cross) {
  launch_cross<false>(n, ca, cb, hw, a, shift_a, b, shift_b, scratch, cross);
}

size_t gram_scratch_bytes(int n, int c, int hw) { return cross_scratch_bytes(n, c, c, hw); }

void accumulate_gram(int n, int c, int hw, const float* x, const float* shift, void* scratch, double* gram,
                     double* sum, double* sum_sq) {
  if (sum || sum_sq) accumulate_sums(n, c, hw, x, shift, sum, sum_sq);
  launch_cross<true>(n, c, c, hw, x, shift, x, shift, scratch, gram);
}

void recenter_cross(int ca, int cb, double count, const double* sum_a, const double* delta_a, const double* sum_b,
                    const double* delta_b, double* cross) {
  if ((size_t)ca * cb == 0) return;
  recenter_cross_kernel<<<grid_for((size_t)ca * cb), kThreads>>>(ca, cb, count, sum_a, delta_a, sum_b, delta_b, cross);
  CUDA_CHECK_LAUNCH();
}

void recenter_sums(int c, double count, const double* delta, double* sum) {
  if (c == 0) return;
  recenter_sums_kernel<<<grid_for(c), kThreads>>>(c, count, delta, sum);
  CUDA_CHECK_LAUNCH();
}

void compute_bins(int n, int c, int hw, const float* x, const float* edges, int bins, uint8_t* out) {
  check_bins(bins);
  const size_t total = (size_t)n * c * hw;
  if (total == 0) return;
  compute_bins_kernel<<<grid_for(total), kThreads>>>(c, hw, total, x, edges, bins, out);
  CUDA_CHECK_LAUNCH();
}

void accumulate_marginal_hist(int n, int c, int hw, const uint8_t* bins_x, int bins, uint64_t* counts) {
  check_bins(bins);
  if ((uint64_t)n * hw >= (1ull << 32)) throw std::logic_error("accumulate_marginal_hist: batch has 2^32 samples or more");
  if (c == 0 || (size_t)n * hw == 0) return;
  marginal_hist_kernel<<<c, kThreads>>>(n, c, hw, bins_x, bins, counts);
  CUDA_CHECK_LAUNCH();
}

void accumulate_joint_hist(int n, int ca, int cb, int hw, const uint8_t* bins_a, const uint8_t* bins_b, int bins,
                           uint64_t* counts) {
  check_bins(bins);
  if ((uint64_t)n * hw >= (1ull << 32)) throw std::logic_error("accumulate_joint_hist: batch has 2^32 samples or more");
  const size_t K = (size_t)n * hw;
  if (K == 0 || ca == 0 || cb == 0) return;
  const int tiles = tiles_of(ca, JI) * tiles_of(cb, JJ);
  const size_t by_work = (K + kJointMinSamplesPerSplit - 1) / kJointMinSamplesPerSplit;
  const size_t by_grid = (size_t)((kTargetBlocks + tiles - 1) / tiles);
  const int splits = (int)std::max<size_t>(1, std::min<size_t>({by_work, by_grid, 65535}));
  const size_t per_split = (K + splits - 1) / splits;
  const size_t smem = joint_smem_bytes(bins);
  if (smem > 48 * 1024)
    CUDA_CHECK(cudaFuncSetAttribute(joint_hist_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
  dim3 grid(tiles_of(cb, JJ), tiles_of(ca, JI), splits);
  joint_hist_kernel<<<grid, JT, smem>>>(ca, cb, hw, K, per_split, bins_a, bins_b, bins, counts);
  CUDA_CHECK_LAUNCH();
}

void gather_samples(int n, int c, int hw, const float* x, int count, const int* index, int capacity, int offset,
                    float* out) {
  if ((size_t)c * count == 0) return;
  gather_kernel<<<grid_for((size_t)c * count), kThreads>>>(c, hw, x, count, index, capacity, offset, out);
  CUDA_CHECK_LAUNCH();
}

void unit_max_per_image(int n, int c, int hw, const float* x, float* max_val, int* argmax) {
  const size_t rows = (size_t)n * c;
  if (rows == 0) return;
  const size_t blocks = (rows * 32 + kThreads - 1) / kThreads;
  if (blocks > INT_MAX) throw std::logic_error("unit_max_per_image: batch too large");
  unit_max_kernel<<<(unsigned)blocks, kThreads>>>(rows, hw, x, max_val, argmax);
  CUDA_CHECK_LAUNCH();
}

void topk_reset(int c, int k, float* val, int* image, int* pos) {
  const size_t total = (size_t)c * k;
  if (total == 0) return;
  topk_reset_kernel<<<grid_for(total), kThreads>>>(total, val, image, pos);
  CUDA_CHECK_LAUNCH();
}

void topk_merge(int n, int c, int k, const float* max_val, const int* argmax, int image_id0, float* val, int* image,
                int* pos) {
  if (k < 1 || k > kStatsMaxTopK) throw std::logic_error("topk_merge: k must be in 1.." + std::to_string(kStatsMaxTopK));
  if (c == 0 || n == 0) return;
  topk_merge_kernel<<<(c + 127) / 128, 128>>>(n, c, k, max_val, argmax, image_id0, val, image, pos);
  CUDA_CHECK_LAUNCH();
}

}  // namespace cvg::cuda
