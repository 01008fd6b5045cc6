// CPU twin of the GEMM family (kernels/gemm.h), and the OpenBLAS setup every CPU kernel shares.
// gemm splits C into one block per OpenMP thread and calls single-threaded OpenBLAS on each; the
// split is a pure function of (m, n, thread count), so results are bit-identical run to run.
// Every product runs on our own kernels where the CPU has AVX2 and FMA: the AVX-512 ones
// (gemm_avx512.cpp) or their bitwise-equal AVX2 twins (gemm_avx2.cpp), so trained weights do not
// depend on the CPU; OpenBLAS, whose kernels and blocking differ per CPU, runs only on CPUs without
// AVX2 and FMA or with CONVERGENT_CPU_GEMM=openblas. GemmLhs and gemm_nt are single-threaded (their
// callers parallelise); gemm splits C over threads, and every element is computed whole by one
// thread, so no split changes its bits.
#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/gemm.h"
#include "kernels/gemm_avx2.h"
#include "kernels/gemm_avx512.h"

extern "C" {
// OpenBLAS (DYNAMIC_ARCH builds, as Debian's): its kernel table, chosen from the CPU at load time.
void gotoblas_dynamic_init(void);
void gotoblas_dynamic_quit(void);
}

namespace cvg {

void check_gemm_args(bool ta, bool tb, int m, int n, int k, int lda, int ldb, int ldc) {
  if (m < 0 || n < 0 || k < 0)
    throw std::logic_error("gemm: negative size (m " + std::to_string(m) + ", n " + std::to_string(n) + ", k " +
                           std::to_string(k) + ")");
  if (m == 0 || n == 0) return;  // nothing is read or written
  if (ldc < n || lda < std::max(1, ta ? m : k) || ldb < std::max(1, tb ? k : n))
    throw std::logic_error("gemm: leading dimension smaller than a row (lda " + std::to_string(lda) + ", ldb " +
                           std::to_string(ldb) + ", ldc " + std::to_string(ldc) + ")");
}

namespace cpu {
namespace {

// OpenBLAS 0.3.21 (Debian 12) does not know newer CPUs (e.g. Intel family 6 model 207) and falls
// back to its SSE3 "Prescott" kernels, 2.5x slower than its AVX2 ones (1024^3 sgemm: 182 vs 72 ms).
// Unless the user pinned OPENBLAS_CORETYPE, a CPU with AVX2 and FMA left on Prescott is switched to
// the Haswell (AVX2) kernels; not to SkylakeX, whose AVX-512 kernels misbehave in some environments.
void blas_pick_kernels() {
  if (std::getenv("OPENBLAS_CORETYPE") || std::strcmp(openblas_get_corename(), "Prescott") != 0) return;
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) return;
  setenv("OPENBLAS_CORETYPE", "Haswell", 1);  // read by gotoblas_dynamic_init only
  gotoblas_dynamic_quit();
  gotoblas_dynamic_init();
  unsetenv("OPENBLAS_CORETYPE");  // child processes choose for themselves
}

// CONVERGENT_CPU_GEMM=avx2 runs the AVX2 kernels on an AVX-512 CPU (scripts/check_same_bits.sh).
enum class Kernels { avx512, avx2, openblas };
Kernels kernels() {
  static const Kernels k = [] {
    const char* force = std::getenv("CONVERGENT_CPU_GEMM");
    if (force && std::strcmp(force, "openblas") == 0) return Kernels::openblas;
    __builtin_cpu_init();
    const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (force && std::strcmp(force, "avx2") == 0 && avx2) return Kernels::avx2;
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl")) return Kernels::avx512;
    return avx2 ? Kernels::avx2 : Kernels::openblas;
  }();
  return k;
}

void packed_times(int m, int n, int k, const float* packed, const float* b, int ldb, float beta, float* c, int ldc) {
  if (kernels() == Kernels::avx512) return avx512::gemm_packed(m, n, k, packed, b, ldb, beta, c, ldc);
  avx2::gemm_packed(m, n, k, packed, b, ldb, beta, c, ldc);
}

void nt_dots(int m, int n, int k, const float* a, int lda, const float* b, int ldb, float beta, float* c, int ldc) {
  if (kernels() == Kernels::avx512) return avx512::gemm_nt(m, n, k, a, lda, b, ldb, beta, c, ldc);
  avx2::gemm_nt(m, n, k, a, lda, b, ldb, beta, c, ldc);
}

// A B^T with at least this many rows of A and of B goes through the packed kernels (nt_packed): the
// transposed copy of B then costs little next to the product, which runs ~1.4x faster than the
// dot-product tiles. Fewer rows of A (the statistics' 16-row blocks over long runs) or of B (conv1's
// 25 taps, a third of a 48-wide micro-tile empty) keep the dot products. The choice depends on the
// product's shape only, never on how threads split it.
constexpr int kNtPackedMinRows = 32, kNtPackedMinCols = 48;

// A B^T on the packed kernels: k in blocks of kBlockK, each block's A packed into panels and B^T
// taken kStrip columns at a time (kc x kStrip, transposed into per-thread scratch that stays in
// cache) through every panel. Every element is the packed kernel's own sum: bit for bit
// GemmLhs(A).times(B^T), on either kernel set.
void nt_packed(int m, int n, int k, const float* a, int lda, const float* b, int ldb, float beta, float* c, int ldc) {
  constexpr int kMr = avx512::kPanelRows, kKc = avx512::kBlockK, kStrip = 48;  // the AVX-512 micro-tile's width
  thread_local std::vector<float> pa, strip;
  const int kc_max = std::min(k, kKc);
  pa.resize(avx512::packed_a_floats(m, kc_max));
  strip.resize((size_t)kc_max * kStrip);
  for (int p0 = 0; p0 < k; p0 += kKc) {
    const int kc = std::min(kKc, k - p0);
    for (int i0 = 0; i0 < m; i0 += kMr) {  // panel i0/kMr: A[i0.., p0..]^T, rows past m zero
      float* panel = pa.data() + (size_t)i0 * kc;
      const int mr = std::min(kMr, m - i0);
      if (mr < kMr) std::fill(panel, panel + (size_t)kc * kMr, 0.0f);
      avx2::transpose(mr, kc, a + (size_t)i0 * lda + p0, lda, panel, kMr);
    }
    for (int j0 = 0; j0 < n; j0 += kStrip) {
      const int nr = std::min(kStrip, n - j0);
      avx2::transpose(nr, kc, b + (size_t)j0 * ldb + p0, ldb, strip.data(), nr);
      packed_times(m, nr, kc, pa.data(), strip.data(), nr, p0 == 0 ? beta : 1.0f, c + j0, ldc);
    }
  }
}

void nt(int m, int n, int k, const float* a, int lda, const float* b, int ldb, float beta, float* c, int ldc) {
  (gemm_nt_on_packed(m, n) ? nt_packed : nt_dots)(m, n, k, a, lda, b, ldb, beta, c, ldc);
}

// The k == 0 (or alpha == 0) rule: C = beta C, A and B unread; beta 0 clears C, NaNs included.
void scale(int m, int n, float beta, float* c, int ldc) {
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) c[(size_t)i * ldc + j] = beta == 0.0f ? 0.0f : beta * c[(size_t)i * ldc + j];
}

}  // namespace

void blas_single_threaded() {
  static const bool once = (blas_pick_kernels(), openblas_set_num_threads(1), true);
  (void)once;
}

bool avx512_split_in_halves() {
  static const bool split = kernels() == Kernels::avx512 && __builtin_cpu_is("amdfam19h");  // kernels() ran cpu_init
  return split;
}

const char* gemm_kernels() { return kernels() == Kernels::avx512 ? "avx512" : kernels() == Kernels::avx2 ? "avx2" : "openblas"; }

void gemm(bool ta, bool tb, int m, int n, int k, float alpha, const float* A, int lda, const float* B, int ldb, float beta,
          float* C, int ldc) {
  check_gemm_args(ta, tb, m, n, k, lda, ldb, ldc);
  if (m == 0 || n == 0) return;
  if (k == 0 || alpha == 0.0f) return scale(m, n, beta, C, ldc);
  // Parallel only when there is enough work to pay for waking the threads (~1 ms of one core).
  const double flops = 2.0 * m * n * k;
  const int threads = flops < 4e6 ? 1 : std::max(1, omp_get_max_threads());
  if (kernels() != Kernels::openblas && alpha == 1.0f && !(ta && tb)) {
    // Our kernels, C cut into column blocks (packed op(A) B) or row blocks (A B^T) per thread.
    if (!tb) {
      std::vector<float> packed(avx512::packed_a_floats(m, k));
      avx512::pack_a(ta, m, k, A, lda, packed.data());
      const int step = ((n + threads - 1) / threads + 47) / 48 * 48;  // whole 48-column micro-tiles
#pragma omp parallel for schedule(static, 1) num_threads(threads) if (threads > 1)
      for (int j0 = 0; j0 < n; j0 += step)
        packed_times(m, std::min(step, n - j0), k, packed.data(), B + j0, ldb, beta, C + j0, ldc);
    } else if (gemm_nt_on_packed(m, n)) {  // column blocks: each thread transposes only its rows of B
      const int step = ((n + threads - 1) / threads + 47) / 48 * 48;
#pragma omp parallel for schedule(static, 1) num_threads(threads) if (threads > 1)
      for (int j0 = 0; j0 < n; j0 += step)
        nt_packed(m, std::min(step, n - j0), k, A, lda, B + (size_t)j0 * ldb, ldb, beta, C + j0, ldc);
    } else if (m < n) {  // column blocks: each row of B (an fc layer's weights) is read by one thread
      const int step = ((n + threads - 1) / threads + 3) / 4 * 4;
#pragma omp parallel for schedule(static, 1) num_threads(threads) if (threads > 1)
      for (int j0 = 0; j0 < n; j0 += step)
        nt_dots(m, std::min(step, n - j0), k, A, lda, B + (size_t)j0 * ldb, ldb, beta, C + j0, ldc);
    } else {
      const int step = ((m + threads - 1) / threads + 3) / 4 * 4;
#pragma omp parallel for schedule(static, 1) num_threads(threads) if (threads > 1)
      for (int i0 = 0; i0 < m; i0 += step)
        nt_dots(std::min(step, m - i0), n, k, A + (size_t)i0 * lda, lda, B, ldb, beta, C + (size_t)i0 * ldc, ldc);
    }
    return;
  }
  blas_single_threaded();
  int parts = threads;
  const bool split_n = n >= m;  // cut the longer side of C
  const int side = split_n ? n : m, align = split_n ? 16 : 8;
  int step = (side + parts - 1) / parts;
  step = (step + align - 1) / align * align;
  parts = (side + step - 1) / step;
  const auto TA = ta ? CblasTrans : CblasNoTrans, TB = tb ? CblasTrans : CblasNoTrans;
#pragma omp parallel for schedule(static, 1) num_threads(parts) if (parts > 1)
  for (int p = 0; p < parts; ++p) {
    const int lo = p * step, len = std::min(side, lo + step) - lo;
    if (split_n)  // columns [lo, lo+len) of op(B) and C
      cblas_sgemm(CblasRowMajor, TA, TB, m, len, k, alpha, A, lda, B + (tb ? (size_t)lo * ldb : lo), ldb, beta, C + lo, ldc);
    else  // rows [lo, lo+len) of op(A) and C
      cblas_sgemm(CblasRowMajor, TA, TB, len, n, k, alpha, A + (ta ? lo : (size_t)lo * lda), lda, B, ldb, beta,
                  C + (size_t)lo * ldc, ldc);
  }
}

GemmLhs::GemmLhs(bool trans, int m, int k, const float* a, int lda) : trans_(trans), m_(m), k_(k), lda_(lda), a_(a) {
  if (kernels() != Kernels::openblas && m > 0 && k > 0) {
    packed_.resize(avx512::packed_a_floats(m, k));
    avx512::pack_a(trans, m, k, a, lda, packed_.data());
  }
}

void GemmLhs::times(int n, const float* b, int ldb, float beta, float* c, int ldc) const {
  if (m_ > 0) times_rows(0, m_, n, b, ldb, beta, c, ldc);
}

void GemmLhs::times_rows(int i0, int i1, int n, const float* b, int ldb, float beta, float* c, int ldc) const {
  if (i0 % avx512::kPanelRows != 0 || i0 < 0 || i1 <= i0 || i1 > m_)
    throw std::logic_error("GemmLhs::times_rows: rows [" + std::to_string(i0) + ", " + std::to_string(i1) + ") of " +
                           std::to_string(m_) + " (they start at a multiple of " + std::to_string(avx512::kPanelRows) + ")");
  if (n == 0) return;
  if (k_ == 0) return scale(i1 - i0, n, beta, c, ldc);
  if (!packed_.empty()) return packed_times(i1 - i0, n, k_, packed_.data() + (size_t)i0 * k_, b, ldb, beta, c, ldc);
  blas_single_threaded();
  cblas_sgemm(CblasRowMajor, trans_ ? CblasTrans : CblasNoTrans, CblasNoTrans, i1 - i0, n, k_, 1.0f,
              a_ + (trans_ ? (size_t)i0 : (size_t)i0 * lda_), lda_, b, ldb, beta, c, ldc);
}

void gemm_nt(int m, int n, int k, const float* a, int lda, const float* b, int ldb, float beta, float* c, int ldc) {
  if (m == 0 || n == 0) return;
  if (k == 0) return scale(m, n, beta, c, ldc);
  if (kernels() != Kernels::openblas) return nt(m, n, k, a, lda, b, ldb, beta, c, ldc);
  blas_single_threaded();
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f, a, lda, b, ldb, beta, c, ldc);
}

bool gemm_nt_on_packed(int m, int n) { return m >= kNtPackedMinRows && n >= kNtPackedMinCols; }

bool nt_halves_pays() { return kernels() == Kernels::avx2; }

namespace {
size_t halves_at(int t, int h) { return t % 16 < 8 ? t / 16 * 8 + t % 16 : h + t / 16 * 8 + t % 16 - 8; }
}  // namespace

void to_halves(const float* src, int k, float* dst, int h) {
  if (h % 8 != 0 || k > 2 * h)
    throw std::logic_error("to_halves: " + std::to_string(k) + " values in halves of " + std::to_string(h));
  const int whole = k / 16 * 16;
  for (int t = 0; t < whole; t += 16) {  // 8-float copies
    std::memcpy(dst + t / 2, src + t, 8 * sizeof(float));
    std::memcpy(dst + h + t / 2, src + t + 8, 8 * sizeof(float));
  }
  std::fill(dst + whole / 2, dst + h, 0.0f), std::fill(dst + h + whole / 2, dst + 2 * (size_t)h, 0.0f);
  for (int t = whole; t < k; ++t) dst[halves_at(t, h)] = src[t];
}

void gemm_nt_halves(int m, int n, int h, const float* a, int lda, const float* b, int ldb, float beta, float* c, int ldc) {
  if (h <= 0 || h % 8 != 0) throw std::logic_error("gemm_nt_halves: h " + std::to_string(h) + " is not a positive multiple of 8");
  if (m == 0 || n == 0) return;
  if (nt_halves_pays()) return avx2::gemm_nt_halves(m, n, h, a, lda, b, ldb, beta, c, ldc);
  auto plain = [h](int rows, const float* x, int ld) {  // the rows in k order; the zeros past k add 0 * 0
    std::vector<float> out((size_t)rows * 2 * h);
    for (int r = 0; r < rows; ++r)
      for (int t = 0; t < 2 * h; ++t) out[(size_t)r * 2 * h + t] = x[(size_t)r * ld + halves_at(t, h)];
    return out;
  };
  const std::vector<float> pa = plain(m, a, lda), pb = plain(n, b, ldb);
  for (int i0 = 0; i0 < m; i0 += 16)  // under 32 rows: the dot-product tiles, whatever n
    gemm_nt(std::min(16, m - i0), n, 2 * h, pa.data() + (size_t)i0 * 2 * h, 2 * h, pb.data(), 2 * h, beta, c + (size_t)i0 * ldc,
            ldc);
}

// The packed layout both our kernel sets read; compiled for the base ISA so every CPU can pack.
namespace avx512 {

constexpr int kMr = kPanelRows;

size_t packed_a_floats(int m, int k) { return (size_t)(m + kMr - 1) / kMr * kMr * k; }

void pack_a(bool trans, int m, int k, const float* a, int lda, float* dst) {
  for (int i0 = 0; i0 < m; i0 += kMr) {
    const int mr = std::min(kMr, m - i0);
    float* panel = dst + (size_t)i0 * k;  // panel i0/kMr starts after i0/kMr full panels of kMr*k
    for (int p = 0; p < k; ++p)
      for (int r = 0; r < kMr; ++r)
        panel[(size_t)p * kMr + r] = r >= mr ? 0.0f : trans ? a[(size_t)p * lda + i0 + r] : a[(size_t)(i0 + r) * lda + p];
  }
}

}  // namespace avx512
}  // namespace cpu
}  // namespace cvg
