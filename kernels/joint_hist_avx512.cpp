// AVX-512 joint histogram by bit planes (see kernels/joint_hist_avx512.h). The samples go in tiles
// of ~16k (whole images); per tile every unit's bins 1..bins-1 become bitsets (one 64-byte compare
// per 64 samples and bin), and a pair of units (i, j) gets cell (ka, kb >= 1) as the popcount of
// A_ka & B_kb. Bin 0 (exact zeros) needs no bitset: its row and column follow from the units'
// marginals in the tile, and cell (0, 0) from inclusion-exclusion. Integer counts: the same as the
// portable loop's, in any order.
#include "kernels/joint_hist_avx512.h"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cstring>
#include <utility>
#include <vector>

namespace cvg::cpu::avx512 {

bool has_joint_hist() { return __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vpopcntdq"); }

namespace {

constexpr int kTileSamples = 16384;

// Bit planes of units [0, c) over the tile's images [g0, g1): planes[(u * (bins - 1) + k - 1) * words + w]
// holds bit s of word w = (sample 64 w + s is in bin k); marg[u * bins + k] = the bin's count.
void build_planes(const uint8_t* x, int c, int hw, int g0, int g1, int bins, int words, std::vector<uint8_t>& buf,
                  uint64_t* planes, uint32_t* marg) {
  const size_t samples = (size_t)(g1 - g0) * hw;
  buf.assign((size_t)words * 64, 0);  // zero padding past the samples: bin 0, which has no plane
#pragma omp for schedule(static)
  for (int u = 0; u < c; ++u) {
    for (int img = g0; img < g1; ++img) std::memcpy(&buf[(size_t)(img - g0) * hw], x + ((size_t)img * c + u) * hw, hw);
    uint32_t* m = marg + (size_t)u * bins;
    uint32_t nonzero = 0;
    for (int k = 1; k < bins; ++k) {
      uint64_t* plane = planes + ((size_t)u * (bins - 1) + k - 1) * words;
      const __m512i key = _mm512_set1_epi8((char)k);
      uint32_t count = 0;
      for (int w = 0; w < words; ++w) {
        const uint64_t bits = _mm512_cmpeq_epi8_mask(_mm512_loadu_si512(&buf[(size_t)w * 64]), key);
        plane[w] = bits, count += (uint32_t)_mm_popcnt_u64(bits);
      }
      m[k] = count, nonzero += count;
    }
    m[0] = (uint32_t)samples - nonzero;
  }
}

// cells[(ka - 1) * NZ + kb - 1] = popcount(A_ka & B_kb) over the tile (ka, kb in 1..NZ); NZ fixed so
// that the NZ accumulators stay in registers.
template <int NZ>
void pair_cells(const uint64_t* a, const uint64_t* b, int words, uint32_t* cells) {
  for (int ka = 0; ka < NZ; ++ka) {
    __m512i acc[NZ];
    for (int kb = 0; kb < NZ; ++kb) acc[kb] = _mm512_setzero_si512();
    for (int w = 0; w < words; w += 8) {
      const __m512i va = _mm512_loadu_si512(a + (size_t)ka * words + w);
      for (int kb = 0; kb < NZ; ++kb)
        acc[kb] = _mm512_add_epi64(acc[kb], _mm512_popcnt_epi64(_mm512_and_si512(va, _mm512_loadu_si512(b + (size_t)kb * words + w))));
    }
    alignas(64) uint64_t lanes[8];  // (GCC 12's _mm512_reduce_add_epi64 warns about an undefined input)
    for (int kb = 0; kb < NZ; ++kb) {
      _mm512_store_si512(lanes, acc[kb]);
      cells[ka * NZ + kb] = (uint32_t)(lanes[0] + lanes[1] + lanes[2] + lanes[3] + lanes[4] + lanes[5] + lanes[6] + lanes[7]);
    }
  }
}

using PairCells = void (*)(const uint64_t*, const uint64_t*, int, uint32_t*);
template <int... NZ>
PairCells pick(int nz, std::integer_sequence<int, NZ...>) {
  const PairCells table[] = {pair_cells<NZ + 1>...};
  return table[nz - 1];
}

}  // namespace

void accumulate_joint_hist(int n, int ca, int cb, int hw, const uint8_t* bins_a, const uint8_t* bins_b, int bins,
                           uint64_t* counts) {
  const int nz = bins - 1, group = std::max(1, kTileSamples / std::max(hw, 1));
  const PairCells cells_of = pick(nz, std::make_integer_sequence<int, 15>());
  const int words_max = ((std::min(n, group) * hw + 511) / 512) * 8;  // whole 512-bit vectors
  std::vector<uint64_t> pa((size_t)ca * nz * words_max), pb((size_t)cb * nz * words_max);
  std::vector<uint32_t> ma((size_t)ca * bins), mb((size_t)cb * bins);
#pragma omp parallel if ((size_t)n * ca * cb * hw >= (1u << 22))
  {
    std::vector<uint8_t> buf;
    uint32_t cells[15 * 15];
    for (int g0 = 0; g0 < n; g0 += group) {
      const int g1 = std::min(n, g0 + group), words = (((g1 - g0) * hw + 511) / 512) * 8;
      build_planes(bins_a, ca, hw, g0, g1, bins, words, buf, pa.data(), ma.data());
      build_planes(bins_b, cb, hw, g0, g1, bins, words, buf, pb.data(), mb.data());
#pragma omp for schedule(dynamic)
      for (int i = 0; i < ca; ++i) {
        const uint32_t* mai = &ma[(size_t)i * bins];
        for (int j = 0; j < cb; ++j) {
          const uint32_t* mbj = &mb[(size_t)j * bins];
          uint64_t* dst = counts + ((size_t)i * cb + j) * bins * bins;
          cells_of(&pa[(size_t)i * nz * words], &pb[(size_t)j * nz * words], words, cells);
          uint32_t both = 0, nonzero_b = 0;  // samples with a_i and b_j both != 0; with b_j != 0
          for (int ka = 1; ka < bins; ++ka) {
            uint32_t row = 0;  // bin ka of a_i with b_j != 0
            for (int kb = 1; kb < bins; ++kb) {
              const uint32_t c = cells[(ka - 1) * nz + kb - 1];
              dst[ka * bins + kb] += c, row += c;
            }
            dst[ka * bins] += mai[ka] - row, both += row;
          }
          for (int kb = 1; kb < bins; ++kb) {
            uint32_t col = 0;  // bin kb of b_j with a_i != 0
            for (int ka = 1; ka < bins; ++ka) col += cells[(ka - 1) * nz + kb - 1];
            dst[kb] += mbj[kb] - col, nonzero_b += mbj[kb];
          }
          dst[0] += mai[0] - (nonzero_b - both);  // a_i = 0 and b_j = 0
        }
      }
    }
  }
}

}  // namespace cvg::cpu::avx512
