#include "analysis/align/linalg.h"

#include <cblas.h>

#include <algorithm>
#include <stdexcept>
#include <string>

#include "kernels/gemm.h"
#include "nn/device.h"

#ifdef CONVERGENT_CUDA
#include <cusolverDn.h>  // types and prototypes only: the functions come from dlopen/dlsym
#include <dlfcn.h>

#include <mutex>
#endif

// LAPACK from the OpenBLAS static library (Fortran calling convention; hidden string lengths last).
extern "C" {
void dsyevd_(const char* jobz, const char* uplo, const int* n, double* a, const int* lda, double* w, double* work,
             const int* lwork, int* iwork, const int* liwork, int* info, size_t jobz_len, size_t uplo_len);
void dsytrd_(const char* uplo, const int* n, double* a, const int* lda, double* d, double* e, double* tau, double* work,
             const int* lwork, int* info, size_t uplo_len);
void dsterf_(const int* n, double* d, double* e, int* info);
void dstein_(const int* n, const double* d, const double* e, const int* m, const double* w, const int* iblock,
             const int* isplit, double* z, const int* ldz, double* work, int* iwork, int* ifail, int* info);
void dormtr_(const char* side, const char* uplo, const char* trans, const int* m, const int* n, const double* a,
             const int* lda, const double* tau, double* c, const int* ldc, double* work, const int* lwork, int* info,
             size_t side_len, size_t uplo_len, size_t trans_len);
void dpotrf_(const char* uplo, const int* n, double* a, const int* lda, int* info, size_t uplo_len);
void dtrtri_(const char* uplo, const char* diag, const int* n, double* a, const int* lda, int* info, size_t uplo_len,
             size_t diag_len);
void dgesdd_(const char* jobz, const int* m, const int* n, double* a, const int* lda, double* s, double* u, const int* ldu,
             double* vt, const int* ldvt, double* work, const int* lwork, int* iwork, int* info, size_t jobz_len);
}

namespace cvg {

static void check_size(const std::vector<double>& A, size_t want, const char* who) {
  if (A.size() != want) throw std::logic_error(std::string(who) + ": matrix has the wrong number of elements");
}

// Row-major symmetric A, lower triangle, is column-major A with its upper triangle: uplo 'U'. The
// eigenvectors come back column-major, i.e. eigenvector k in row k of the row-major buffer.
static SymEig sym_eig_lapack(const std::vector<double>& A, int n, bool want_vectors) {
  cpu::blas_single_threaded();
  SymEig r;
  r.n = n;
  r.solver = "lapack dsyevd";
  r.values.assign(n, 0.0);
  if (n == 0) return r;
  std::vector<double> a = A;
  const char jobz = want_vectors ? 'V' : 'N', uplo = 'U';
  int info = 0, lwork = -1, liwork = -1, iwork_query = 0;
  double work_query = 0;
  dsyevd_(&jobz, &uplo, &n, a.data(), &n, r.values.data(), &work_query, &lwork, &iwork_query, &liwork, &info, 1, 1);
  if (info != 0) throw std::runtime_error("dsyevd workspace query failed (info " + std::to_string(info) + ")");
  lwork = std::max(1, (int)work_query);
  liwork = std::max(1, iwork_query);
  std::vector<double> work(lwork);
  std::vector<int> iwork(liwork);
  dsyevd_(&jobz, &uplo, &n, a.data(), &n, r.values.data(), work.data(), &lwork, iwork.data(), &liwork, &info, 1, 1);
  if (info != 0) throw std::runtime_error("dsyevd failed to converge (info " + std::to_string(info) + ")");
  if (want_vectors) r.vectors = std::move(a);
  return r;
}

SymEig sym_eig(const std::vector<double>& A, int n, bool want_vectors, const EigOptions& opt) {
  check_size(A, (size_t)n * n, "sym_eig");
  const bool gpu_wanted =
      opt.where == EigOptions::Gpu || (opt.where == EigOptions::Auto && n >= opt.gpu_min_n && gpu_count() > 0);
  if (gpu_wanted) {
    std::string why;
    if (cusolver_available(&why)) return sym_eig_cusolver(A, n, want_vectors, 0);
    if (opt.where == EigOptions::Gpu) throw std::runtime_error("sym_eig: cuSOLVER unavailable: " + why);
  }
  return sym_eig_lapack(A, n, want_vectors);
}

SymEig sym_eig_top(const std::vector<double>& A, int n, const std::function<int(const std::vector<double>&)>& kept) {
  check_size(A, (size_t)n * n, "sym_eig_top");
  cpu::blas_single_threaded();
  SymEig r;
  r.n = n;
  r.solver = "lapack dsytrd+dstein";
  r.values.assign(n, 0.0);
  r.first_vector = n;
  if (n == 0) return r;
  // A = Q T Q^T, T tridiagonal (d, e); same layout argument as sym_eig_lapack: uplo 'U'.
  std::vector<double> a = A, d(n), e(n, 0.0), tau(std::max(1, n - 1));
  const char uplo = 'U';
  int info = 0, lwork = -1;
  double query = 0;
  dsytrd_(&uplo, &n, a.data(), &n, d.data(), e.data(), tau.data(), &query, &lwork, &info, 1);
  std::vector<double> work(std::max(1, (int)query));
  lwork = (int)work.size();
  dsytrd_(&uplo, &n, a.data(), &n, d.data(), e.data(), tau.data(), work.data(), &lwork, &info, 1);
  if (info != 0) throw std::runtime_error("dsytrd failed (info " + std::to_string(info) + ")");
  r.values = d;
  std::vector<double> e_values = e;
  dsterf_(&n, r.values.data(), e_values.data(), &info);
  if (info != 0) throw std::runtime_error("dsterf failed to converge (info " + std::to_string(info) + ")");
  const int k = kept(r.values);
  if (k < 0 || k > n) throw std::logic_error("sym_eig_top: kept must be in 0..n");
  r.first_vector = n - k;
  if (k == 0) return r;
  // The vectors of T for those eigenvalues by inverse iteration (T taken as one block: the values
  // came without split points), column-major n x k = row-major k x n; then Q times them.
  std::vector<int> iblock(k, 1), iwork(n), ifail(k);
  std::vector<double> z((size_t)n * k);
  work.assign(5 * (size_t)n, 0.0);
  dstein_(&n, d.data(), e.data(), &k, &r.values[n - k], iblock.data(), &n, z.data(), &n, work.data(), iwork.data(),
          ifail.data(), &info);
  if (info != 0) throw std::runtime_error("dstein: " + std::to_string(info) + " vectors failed to converge");
  const char side = 'L', trans = 'N';
  lwork = -1;
  dormtr_(&side, &uplo, &trans, &n, &k, a.data(), &n, tau.data(), z.data(), &n, &query, &lwork, &info, 1, 1, 1);
  work.assign(std::max(1, (int)query), 0.0);
  lwork = (int)work.size();
  dormtr_(&side, &uplo, &trans, &n, &k, a.data(), &n, tau.data(), z.data(), &n, work.data(), &lwork, &info, 1, 1, 1);
  if (info != 0) throw std::runtime_error("dormtr failed (info " + std::to_string(info) + ")");
  r.vectors = std::move(z);
  return r;
}

std::vector<double> singular_values(const std::vector<double>& A, int rows, int cols) {
  check_size(A, (size_t)rows * cols, "singular_values");
  cpu::blas_single_threaded();
  const int k = std::min(rows, cols);
  std::vector<double> s(k, 0.0);
  if (k == 0) return s;
  // Row-major rows x cols is column-major cols x rows: its transpose, same singular values.
  std::vector<double> a = A;
  const int m = cols, n = rows, ld = cols, one = 1;
  const char jobz = 'N';
  int info = 0, lwork = -1;
  double work_query = 0, dummy = 0;
  std::vector<int> iwork(8 * (size_t)k);
  dgesdd_(&jobz, &m, &n, a.data(), &ld, s.data(), &dummy, &one, &dummy, &one, &work_query, &lwork, iwork.data(), &info, 1);
  if (info != 0) throw std::runtime_error("dgesdd workspace query failed (info " + std::to_string(info) + ")");
  lwork = std::max(1, (int)work_query);
  std::vector<double> work(lwork);
  dgesdd_(&jobz, &m, &n, a.data(), &ld, s.data(), &dummy, &one, &dummy, &one, work.data(), &lwork, iwork.data(), &info, 1);
  if (info != 0) throw std::runtime_error("dgesdd failed to converge (info " + std::to_string(info) + ")");
  return s;
}

Svd svd(const std::vector<double>& A, int rows, int cols) {
  check_size(A, (size_t)rows * cols, "svd");
  cpu::blas_single_threaded();
  Svd r;
  r.k = std::min(rows, cols);
  r.s.assign(r.k, 0.0);
  if (r.k == 0) return r;
  // LAPACK sees At = A^T (cols x rows, column-major) = U' S V'^T, so A = V' S U'^T: U' (cols x k,
  // column-major) holds the right singular vectors of A as its columns = the rows of `v`; V'^T (k x
  // rows, column-major) holds the left ones as its rows, i.e. element (i, j) = u_i[j].
  std::vector<double> a = A;
  const int m = cols, n = rows, k = r.k;
  const char jobz = 'S';
  int info = 0, lwork = -1;
  double work_query = 0;
  std::vector<double> up((size_t)m * k), vt((size_t)k * n);
  std::vector<int> iwork(8 * (size_t)k);
  dgesdd_(&jobz, &m, &n, a.data(), &m, r.s.data(), up.data(), &m, vt.data(), &k, &work_query, &lwork, iwork.data(), &info, 1);
  if (info != 0) throw std::runtime_error("dgesdd workspace query failed (info " + std::to_string(info) + ")");
  lwork = std::max(1, (int)work_query);
  std::vector<double> work(lwork);
  dgesdd_(&jobz, &m, &n, a.data(), &m, r.s.data(), up.data(), &m, vt.data(), &k, work.data(), &lwork, iwork.data(), &info, 1);
  if (info != 0) throw std::runtime_error("dgesdd failed to converge (info " + std::to_string(info) + ")");
  r.v = std::move(up);  // column i of U' (contiguous) = row i of v
  r.u.resize((size_t)k * n);
  for (int i = 0; i < k; ++i)
    for (int j = 0; j < n; ++j) r.u[(size_t)i * n + j] = vt[i + (size_t)j * k];
  return r;
}

// Row-major lower = column-major upper: LAPACK's 'U' factor U^T U = A, read row-major, is L = U^T.
bool cholesky(const std::vector<double>& A, int n, std::vector<double>& L) {
  check_size(A, (size_t)n * n, "cholesky");
  cpu::blas_single_threaded();
  L = A;
  if (n == 0) return true;
  const char uplo = 'U';
  int info = 0;
  dpotrf_(&uplo, &n, L.data(), &n, &info, 1);
  for (int i = 0; i < n; ++i)
    for (int j = i + 1; j < n; ++j) L[(size_t)i * n + j] = 0.0;
  return info == 0;
}

std::vector<double> lower_inverse(const std::vector<double>& L, int n) {
  check_size(L, (size_t)n * n, "lower_inverse");
  cpu::blas_single_threaded();
  std::vector<double> inv = L;
  if (n == 0) return inv;
  const char uplo = 'U', diag = 'N';
  int info = 0;
  dtrtri_(&uplo, &diag, &n, inv.data(), &n, &info, 1, 1);
  if (info != 0) throw std::runtime_error("dtrtri: singular triangular factor (info " + std::to_string(info) + ")");
  return inv;
}

std::vector<double> matmul_tn(const std::vector<double>& A, const std::vector<double>& B, int k, int m, int n) {
  check_size(A, (size_t)k * m, "matmul_tn"), check_size(B, (size_t)k * n, "matmul_tn");
  cpu::blas_single_threaded();
  std::vector<double> C((size_t)m * n, 0.0);
  if (k > 0 && m > 0 && n > 0)
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, m, n, k, 1.0, A.data(), m, B.data(), n, 0.0, C.data(), n);
  return C;
}

std::vector<double> matmul(const std::vector<double>& A, const std::vector<double>& B, int m, int k, int n) {
  check_size(A, (size_t)m * k, "matmul"), check_size(B, (size_t)k * n, "matmul");
  cpu::blas_single_threaded();
  std::vector<double> C((size_t)m * n, 0.0);
  if (k > 0 && m > 0 && n > 0)
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0, A.data(), k, B.data(), n, 0.0, C.data(), n);
  return C;
}

// ---- cuSOLVER, loaded at run time ----------------------------------------------------------------
#ifdef CONVERGENT_CUDA
namespace {

struct Cusolver {
  void* lib = nullptr;
  std::string error;
  decltype(&cusolverDnCreate) create = nullptr;
  decltype(&cusolverDnDestroy) destroy = nullptr;
  decltype(&cusolverDnDsyevd_bufferSize) syevd_buffer = nullptr;
  decltype(&cusolverDnDsyevd) syevd = nullptr;
};

const Cusolver& cusolver() {
  static Cusolver c;
  static std::once_flag once;
  std::call_once(once, [] {
    if (gpu_count() == 0) {
      c.error = "no GPU";
      return;
    }
    for (const char* name : {"libcusolver.so.12", "libcusolver.so.11", "libcusolver.so",
                             "/usr/local/cuda/lib64/libcusolver.so.12", "/usr/local/cuda/lib64/libcusolver.so"}) {
      c.lib = dlopen(name, RTLD_NOW | RTLD_LOCAL);
      if (c.lib) break;
    }
    if (!c.lib) {
      c.error = std::string("dlopen libcusolver failed: ") + dlerror();
      return;
    }
    c.create = (decltype(c.create))dlsym(c.lib, "cusolverDnCreate");
    c.destroy = (decltype(c.destroy))dlsym(c.lib, "cusolverDnDestroy");
    c.syevd_buffer = (decltype(c.syevd_buffer))dlsym(c.lib, "cusolverDnDsyevd_bufferSize");
    c.syevd = (decltype(c.syevd))dlsym(c.lib, "cusolverDnDsyevd");
    if (!c.create || !c.destroy || !c.syevd_buffer || !c.syevd) {
      c.error = "libcusolver lacks the Dsyevd entry points";
      c.create = nullptr;
    }
  });
  return c;
}

// Owns one device allocation (freed on every path, exceptions included).
struct DeviceBuffer {
  Device dev;
  void* p = nullptr;
  DeviceBuffer(const Device& d, size_t bytes) : dev(d), p(device_alloc(d, std::max<size_t>(bytes, 8))) {}
  ~DeviceBuffer() { device_free(dev, p); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
};

}  // namespace

bool cusolver_available(std::string* why_not) {
  const Cusolver& c = cusolver();
  if (why_not) *why_not = c.error;
  return c.create != nullptr;
}

SymEig sym_eig_cusolver(const std::vector<double>& A, int n, bool want_vectors, int device_index) {
  check_size(A, (size_t)n * n, "sym_eig_cusolver");
  const Cusolver& c = cusolver();
  if (!c.create) throw std::runtime_error("cuSOLVER unavailable: " + c.error);
  SymEig r;
  r.n = n;
  r.values.assign(n, 0.0);
  const Device dev{Device::CUDA, device_index};
  r.solver = "cusolver Dsyevd (cuda:" + std::to_string(device_index) + ")";
  if (n == 0) return r;
  set_current(dev);
  const Device host = Device::cpu();
  DeviceBuffer a(dev, A.size() * sizeof(double)), w(dev, n * sizeof(double)), info_d(dev, sizeof(int));
  device_copy(a.p, dev, A.data(), host, A.size() * sizeof(double));
  cusolverDnHandle_t handle = nullptr;
  if (c.create(&handle) != CUSOLVER_STATUS_SUCCESS) throw std::runtime_error("cusolverDnCreate failed");
  struct HandleGuard {
    const Cusolver& c;
    cusolverDnHandle_t h;
    ~HandleGuard() { c.destroy(h); }
  } guard{c, handle};
  // Same layout argument as for LAPACK: row-major lower = column-major upper.
  const cusolverEigMode_t jobz = want_vectors ? CUSOLVER_EIG_MODE_VECTOR : CUSOLVER_EIG_MODE_NOVECTOR;
  const cublasFillMode_t uplo = CUBLAS_FILL_MODE_UPPER;
  int lwork = 0;
  if (c.syevd_buffer(handle, jobz, uplo, n, (const double*)a.p, n, (const double*)w.p, &lwork) != CUSOLVER_STATUS_SUCCESS)
    throw std::runtime_error("cusolverDnDsyevd_bufferSize failed");
  DeviceBuffer work(dev, (size_t)std::max(lwork, 1) * sizeof(double));
  if (c.syevd(handle, jobz, uplo, n, (double*)a.p, n, (double*)w.p, (double*)work.p, lwork, (int*)info_d.p) !=
      CUSOLVER_STATUS_SUCCESS)
    throw std::runtime_error("cusolverDnDsyevd failed");
  int info = 0;
  device_copy(&info, host, info_d.p, dev, sizeof(int));  // synchronous: also waits for the solver
  if (info != 0) throw std::runtime_error("cusolverDnDsyevd failed to converge (info " + std::to_string(info) + ")");
  device_copy(r.values.data(), host, w.p, dev, n * sizeof(double));
  if (want_vectors) {
    r.vectors.resize(A.size());
    device_copy(r.vectors.data(), host, a.p, dev, A.size() * sizeof(double));
  }
  return r;
}

#else  // !CONVERGENT_CUDA

bool cusolver_available(std::string* why_not) {
  if (why_not) *why_not = "this build has no CUDA (CUDA=0)";
  return false;
}

SymEig sym_eig_cusolver(const std::vector<double>&, int, bool, int) {
  throw std::runtime_error("cuSOLVER unavailable: this build has no CUDA (CUDA=0)");
}

#endif

}  // namespace cvg
