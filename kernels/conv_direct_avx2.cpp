// Convolution forward and backward-weights without im2col (kernels/conv_direct.h). This file alone
// is compiled with -mavx2 -mfma (Makefile); kernels/conv_cpu.cpp uses it only where the GEMM runs on
// our AVX2 kernels.
//
// Forward: C[q][o] (positions of the images side by side x the group's filters) = sum over patch
// rows r of G[q][r] * W^T[r][o], G[q][r] = xpad[pos[q] + tap[r]]: the im2col GEMM turned over, with
// the im2col matrix never written. Tiles are 4 positions x 24 filters (12 accumulators, as the GEMM's
// 4x24 micro-tile): per patch row, 3 vector loads of packed weights and 4 broadcasts of inputs. C is
// then transposed into y and the bias added, as the GEMM route adds it.
// Backward-weights: C[r][o] (+)= sum over positions q of G[q][r] * dy^T[q][o], the same G; tiles of
// 4 patch rows x 24 filters (or 6 x 16): per position, 3 vector loads of dy^T and 4 broadcasts.
#include "kernels/conv_direct.h"

#include <immintrin.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <map>
#include <stdexcept>
#include <string>
#include <tuple>

#include "kernels/gemm.h"
#include "kernels/gemm_avx2.h"
#include "kernels/gemm_avx512.h"  // kBlockK: the GEMM's k blocks, whose sums C keeps

namespace cvg::cpu {
namespace {

constexpr int kTileQ = 4;   // positions per tile
constexpr int kTileO = 24;  // filters per packed column tile (3 vectors)
constexpr int kBlock = avx512::kBlockK;

// Both directions' tile: c[r][0:8 NV] (rows ldc apart, r < nr) = (c +) the sum over steps e < n of
// fma(v_e[0:8 NV], base[r][off[e]], .) in step order, v_e a vector row: at vec + voff[e] (kIndexed),
// else at vec + 8 NV e. R rows (12 accumulators with NV); rows past nr repeat the first (read, never
// stored). Forward: rows are positions, the steps patch rows, v their packed weights. Backward-weights:
// rows are patch rows (taps), the steps positions, v their dy^T.
template <int NV, int R, bool kIndexed>
void broadcast_tile(int n, const float* vec, const int32_t* voff, const float* xp, const int32_t* base, const int32_t* off,
                    int nr, bool first, float* c, int ldc) {
  __m256 acc[R][NV];
#pragma GCC unroll 6
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 3
    for (int v = 0; v < NV; ++v) acc[r][v] = _mm256_setzero_ps();
  const float* xs[R];
  for (int r = 0; r < R; ++r) xs[r] = xp + base[r < nr ? r : 0];
  for (int e = 0; e < n; ++e) {
    const float* w = kIndexed ? vec + voff[e] : vec + (size_t)e * 8 * NV;
    __m256 wv[NV];
#pragma GCC unroll 3
    for (int v = 0; v < NV; ++v) wv[v] = _mm256_loadu_ps(w + 8 * v);
    const int32_t o = off[e];
#pragma GCC unroll 6
    for (int r = 0; r < R; ++r) {
      const __m256 a = _mm256_broadcast_ss(xs[r] + o);
#pragma GCC unroll 3
      for (int v = 0; v < NV; ++v)
        acc[r][v] = _mm256_fmadd_ps(wv[v], a, acc[r][v]);  // the GEMM's fma(w, x, acc) / fma(dy, col, acc)
    }
  }
  // Later blocks add to the earlier ones' sum: C + acc, the GEMM's fma(1, C, acc) bit for bit.
#pragma GCC unroll 6
  for (int r = 0; r < R; ++r) {  // constant indices into acc (gemm_avx2.cpp says why)
    if (r >= nr) break;
#pragma GCC unroll 3
    for (int v = 0; v < NV; ++v) {
      float* dst = c + (size_t)r * ldc + 8 * v;
      _mm256_storeu_ps(dst, first ? acc[r][v] : _mm256_add_ps(_mm256_loadu_ps(dst), acc[r][v]));
    }
  }
}

// The kernel taps [lo, hi) along one axis that read inside the input (not its padding) for output coordinate o.
void valid_taps(int o, int stride, int pad, int size, int kernel, int& lo, int& hi) {
  lo = std::max(0, pad - o * stride);
  hi = std::min(kernel, size + pad - o * stride);
}

// The group's filters in column tiles of 3 vectors; 8 left over go with the last full tile as
// two tiles of 2 vectors, so that no tile has a single vector.
std::vector<int> column_tiles(int kg) {
  std::vector<int> nv(kg / kTileO, 3);
  const int rest = kg % kTileO / 8;
  if (rest == 1 && !nv.empty())
    nv.back() = 2, nv.push_back(2);
  else if (rest)
    nv.push_back(rest);
  return nv;
}

}  // namespace

PaddedGroups::PaddedGroups(const ConvGeom& g, int max_images, const char* who)
    : g_(g), d_(conv_core::dims(g, who)), hp_(g.h + 2 * g.pad), wp_(g.w + 2 * g.pad), max_images_(max_images) {
  tile_nv_ = column_tiles(d_.kg);
  pos_.resize((size_t)max_images * d_.P);  // images cg planes of hp x wp apart
  for (size_t q = 0; q < pos_.size(); ++q) {
    const size_t b = q / d_.P, oy = q % d_.P / d_.ow, ox = q % d_.ow;
    pos_[q] = (int32_t)((b * d_.cg * hp_ + oy * g.stride) * wp_ + ox * g.stride);
  }
}

void PaddedGroups::check_images(int nb, const char* who) const {
  if (nb < 1 || nb > max_images_)
    throw std::logic_error(std::string(who) + ": " + std::to_string(nb) + " images, planned for 1.." +
                           std::to_string(max_images_));
}

void PaddedGroups::pad(const float* x, int nb, int gr, float* xpad) const {
  const ConvGeom& g = g_;
  const int p = g.pad, cg = d_.cg;
  const size_t plane = (size_t)hp_ * wp_;
  for (int i = 0; i < nb; ++i)
    for (int c = 0; c < cg; ++c) {
      const float* src = x + (((size_t)i * g.c + gr * cg + c) * g.h) * g.w;
      float* dst = xpad + ((size_t)i * cg + c) * plane;
      std::fill_n(dst, (size_t)p * wp_, 0.0f);
      for (int row = 0; row < g.h; ++row) {
        float* d = dst + (size_t)(row + p) * wp_;
        std::fill_n(d, p, 0.0f);
        std::memcpy(d + p, src + (size_t)row * g.w, sizeof(float) * g.w);
        std::fill_n(d + p + g.w, p, 0.0f);
      }
      std::fill_n(dst + (size_t)(p + g.h) * wp_, (size_t)p * wp_, 0.0f);
    }
}

bool DirectConv::fits(const ConvGeom& g) {
  const conv_core::Dims d = conv_core::dims(g, "DirectConv::fits");
  const long long padded = (long long)g.n * d.cg * (g.h + 2 * g.pad) * (g.w + 2 * g.pad);
  // Where it is slower than the GEMM route (AVX2, measured): 8 filters (one-vector tiles: 4 FMAs
  // per 7 loads), or patches so short (alexnet-mini's conv1: 25) that a tile's setup and stores
  // cost more than im2col does.
  return d.kg % 8 == 0 && d.kg >= 16 && d.ckk >= 64 && !d.direct && padded < INT_MAX && (long long)d.ckk * kTileO < INT_MAX;
}

size_t DirectConv::floats(const ConvGeom& g, int nb) {
  const conv_core::Dims d = conv_core::dims(g, "DirectConv::floats");
  return (size_t)nb * ((size_t)d.cg * (g.h + 2 * g.pad) * (g.w + 2 * g.pad) + (size_t)d.P * d.kg);
}

DirectConv::DirectConv(const ConvGeom& g, int max_images, const float* w) : PaddedGroups(g, max_images, "DirectConv") {
  const int cg = d_.cg, kg = d_.kg, ow = d_.ow, P = d_.P, ckk = d_.ckk;
  const int tiles = (int)tile_nv_.size();
  wpack_.assign((size_t)g.groups * tiles * ckk * kTileO, 0.0f);
  for (int gr = 0; gr < g.groups; ++gr)
    for (int t = 0, o0 = 0; t < tiles; o0 += 8 * tile_nv_[t++])
      for (int o = o0; o < o0 + 8 * tile_nv_[t]; ++o) {
        const float* wo = w + ((size_t)gr * kg + o) * ckk;
        float* dst = wpack_.data() + ((size_t)gr * tiles + t) * ckk * kTileO + (o - o0);
        for (int r = 0; r < ckk; ++r) dst[(size_t)r * kTileO] = wo[r];
      }
  const int K = max_images * P;
  // A tile reads the union of its positions' valid patch rows (a superset is harmless: the rest
  // read zeros of the padding). Tiles with the same ranges share one list.
  std::map<std::tuple<int, int, int, int>, int> seen;
  const int nblocks = (ckk + kBlock - 1) / kBlock;
  for (int q0 = 0; q0 < K; q0 += kTileQ) {
    int i0 = g.kh, i1 = 0, j0 = g.kw, j1 = 0;
    for (int q = q0; q < std::min(K, q0 + kTileQ); ++q) {
      int lo, hi, xlo, xhi;
      valid_taps(q % P / ow, g.stride, g.pad, g.h, g.kh, lo, hi);
      valid_taps(q % ow, g.stride, g.pad, g.w, g.kw, xlo, xhi);
      if (lo >= hi || xlo >= xhi) continue;  // reads padding only
      i0 = std::min(i0, lo), i1 = std::max(i1, hi), j0 = std::min(j0, xlo), j1 = std::max(j1, xhi);
    }
    auto [it, fresh] = seen.try_emplace({i0, i1, j0, j1}, (int)lists_.size());
    tile_list_.push_back(it->second);
    if (!fresh) continue;
    TapList& l = lists_.emplace_back();
    for (int c = 0; c < cg; ++c)
      for (int i = i0; i < i1; ++i)
        for (int j = j0; j < j1; ++j) {
          const int r = (c * g.kh + i) * g.kw + j;
          while ((int)l.cut.size() <= r / kBlock) l.cut.push_back((int)l.x.size());
          l.x.push_back((int32_t)(((size_t)c * hp_ + i) * wp_ + j));
          l.w.push_back(r * kTileO);
        }
    while ((int)l.cut.size() <= nblocks) l.cut.push_back((int)l.x.size());
  }
}

void DirectConv::forward(const float* x, int nb, const float* b, float* y, float* ws) const {
  const ConvGeom& g = g_;
  const int cg = d_.cg, kg = d_.kg, P = d_.P, ckk = d_.ckk;
  check_images(nb, "DirectConv::forward");
  const int K = nb * P, tiles = (int)tile_nv_.size(), nblocks = (int)lists_[0].cut.size() - 1;
  float* xpad = ws;
  float* ct = ws + (size_t)nb * cg * hp_ * wp_;  // C: [K][kg]
  for (int gr = 0; gr < g.groups; ++gr) {
    pad(x, nb, gr, xpad);
    for (int blk = 0; blk < nblocks; ++blk)
      for (int t = 0, o0 = 0; t < tiles; o0 += 8 * tile_nv_[t++]) {
        const float* wt = wpack_.data() + ((size_t)gr * tiles + t) * ckk * kTileO;
        const int nv = tile_nv_[t];
        for (int q0 = 0, pt = 0; q0 < K; q0 += kTileQ, ++pt) {
          const TapList& l = lists_[tile_list_[pt]];
          const int e0 = l.cut[blk], e1 = l.cut[blk + 1], np = std::min(kTileQ, K - q0);
          float* c = ct + (size_t)q0 * kg + o0;
          // The first block with rows writes C; a tile with none at all reads padding only: C = 0.
          const bool first = e0 == l.cut[0];
          if (e0 == e1) {
            if (blk == 0 && l.x.empty())
              for (int q = 0; q < np; ++q) std::fill_n(c + (size_t)q * kg, nv * 8, 0.0f);
            continue;
          }
          auto run = nv == 3   ? broadcast_tile<3, kTileQ, true>
                     : nv == 2 ? broadcast_tile<2, kTileQ, true>
                               : broadcast_tile<1, kTileQ, true>;
          run(e1 - e0, wt, l.w.data() + e0, xpad, pos_.data() + q0, l.x.data() + e0, np, first, c, kg);
        }
      }
    for (int i = 0; i < nb; ++i) {
      float* yi = y + ((size_t)i * g.k + (size_t)gr * kg) * P;
      avx2::transpose(P, kg, ct + (size_t)i * P * kg, kg, yi, P);
      if (b)
        for (int o = 0; o < kg; ++o) {
          const float bo = b[gr * kg + o];
          for (int q = 0; q < P; ++q) yi[(size_t)o * P + q] += bo;
        }
    }
  }
}

bool DirectWeights::fits(const ConvGeom& g) {
  const conv_core::Dims d = conv_core::dims(g, "DirectWeights::fits");
  const long long padded = (long long)g.n * d.cg * (g.h + 2 * g.pad) * (g.w + 2 * g.pad);
  return gemm_nt_on_packed(d.kg, d.ckk) && d.kg % 8 == 0 && !d.direct && padded < INT_MAX;
}

// The forward's sizes: the padded copy, then [K][kg] (here dy turned).
size_t DirectWeights::floats(const ConvGeom& g, int nb) { return DirectConv::floats(g, nb); }

DirectWeights::DirectWeights(const ConvGeom& g, int max_images) : PaddedGroups(g, max_images, "DirectWeights") {
  for (int c = 0; c < d_.cg; ++c)
    for (int i = 0; i < g.kh; ++i)
      for (int j = 0; j < g.kw; ++j) taps_.push_back((int32_t)(((size_t)c * hp_ + i) * wp_ + j));
}

void DirectWeights::add(const float* x, const float* dy, int nb, bool first, float* ct, float* ws) const {
  const ConvGeom& g = g_;
  const int cg = d_.cg, kg = d_.kg, P = d_.P, ckk = d_.ckk;
  check_images(nb, "DirectWeights::add");
  const int K = nb * P;
  float* xpad = ws;
  float* dyt = ws + (size_t)nb * cg * hp_ * wp_;  // per filter tile: [K][its 8 nv filters]
  for (int gr = 0; gr < g.groups; ++gr) {
    pad(x, nb, gr, xpad);
    for (int t = 0, o0 = 0; t < (int)tile_nv_.size(); o0 += 8 * tile_nv_[t++])
      for (int i = 0; i < nb; ++i)
        avx2::transpose(8 * tile_nv_[t], P, dy + ((size_t)i * g.k + (size_t)gr * kg + o0) * P, P,
                        dyt + (size_t)o0 * K + (size_t)i * P * 8 * tile_nv_[t], 8 * tile_nv_[t]);
    float* cg_t = ct + (size_t)gr * ckk * kg;
    for (int q0 = 0; q0 < K; q0 += kBlock) {  // the GEMM's k blocks, in order
      const int nq = std::min(kBlock, K - q0);
      for (int t = 0, o0 = 0; t < (int)tile_nv_.size(); o0 += 8 * tile_nv_[t++]) {
        const int nv = tile_nv_[t], T = 12 / nv;
        const float* d = dyt + (size_t)o0 * K + (size_t)q0 * 8 * nv;
        auto run =
            nv == 3 ? broadcast_tile<3, 4, false> : broadcast_tile<2, 6, false>;  // column_tiles gives no 1 from 16 filters on
        for (int r0 = 0; r0 < ckk; r0 += T)
          run(nq, d, nullptr, xpad, taps_.data() + r0, pos_.data() + q0, std::min(T, ckk - r0), first && q0 == 0,
              cg_t + (size_t)r0 * kg + o0, kg);
      }
    }
  }
}

void DirectWeights::to_dw(const float* ct, float* dw) const {
  const size_t per_group = (size_t)d_.ckk * d_.kg;
  for (int gr = 0; gr < g_.groups; ++gr) avx2::transpose(d_.ckk, d_.kg, ct + gr * per_group, d_.kg, dw + gr * per_group, d_.ckk);
}

}  // namespace cvg::cpu
