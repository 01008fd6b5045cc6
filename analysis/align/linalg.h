// Dense symmetric eigen-decomposition and singular values for the alignment analyses (bin/align),
// row-major float64. The CPU path is LAPACK (dsyevd, dgesdd from the OpenBLAS static library);
// large symmetric problems can go to cuSOLVER's Dsyevd on a GPU, loaded at run time with dlopen
// (libcusolver is never linked into the engine), falling back to LAPACK when it is absent.
// OpenBLAS runs single-threaded here (kernels/gemm.h: cpu::blas_single_threaded, which also moves a
// CPU OpenBLAS does not know off its slow SSE3 kernels): bin/align parallelises over targets and
// bootstrap replicates with OpenMP, and a second spinning thread pool on the same cores costs ~2x.
#pragma once
#include <functional>
#include <string>
#include <vector>

namespace cvg {

// Eigenvalues ascending, and (when wanted) the matching unit eigenvectors as the ROWS of the n x n
// `vectors` (vectors[k*n + i] = component i of eigenvector k; LAPACK's column-major output as is).
struct SymEig {
  int n = 0;
  std::vector<double> values;
  std::vector<double> vectors;
  std::string solver;    // "lapack dsyevd", "cusolver Dsyevd (cuda:N)" or "lapack dsytrd+dstein"
  int first_vector = 0;  // the eigenvalue index of vectors' row 0 (sym_eig_top keeps only the top rows)
};

// Where sym_eig runs. Auto: cuSOLVER when the build has CUDA, a GPU is present, libcusolver loads
// and n >= gpu_min_n; otherwise LAPACK.
struct EigOptions {
  enum Where { Auto, Cpu, Gpu } where = Auto;
  int gpu_min_n = 2048;
};

// A is symmetric n x n (only its lower triangle, in row-major terms, is read). Throws
// std::runtime_error when the solver fails to converge.
SymEig sym_eig(const std::vector<double>& A, int n, bool want_vectors, const EigOptions& opt = {});

// All eigenvalues of A (ascending, as sym_eig) but the eigenvectors of only the `kept(values)`
// largest (kept in 0..n), as rows of `vectors` [kept x n] in ascending order (first_vector = n -
// kept): LAPACK's tridiagonal reduction once, then its values (dsterf) and, by inverse iteration
// (dstein), just the vectors wanted, back-transformed (dormtr). Much cheaper than sym_eig when few
// are kept (MRRR, dstemr, was slower on fc6's clustered spectrum: its bisection). CPU only.
SymEig sym_eig_top(const std::vector<double>& A, int n, const std::function<int(const std::vector<double>&)>& kept);

// Singular values (descending) of the row-major rows x cols matrix A.
std::vector<double> singular_values(const std::vector<double>& A, int rows, int cols);

// Thin SVD of the row-major rows x cols A, k = min(rows, cols): A = sum_i s_i u_i v_i^T, s descending.
struct Svd {
  int k = 0;
  std::vector<double> s;
  std::vector<double> u;  // [k x rows]: row i = left singular vector u_i
  std::vector<double> v;  // [k x cols]: row i = right singular vector v_i
};
Svd svd(const std::vector<double>& A, int rows, int cols);

// The Cholesky factor of a symmetric positive definite n x n A (row-major; only its lower triangle
// is read): the lower-triangular L with A = L L^T, upper triangle zero (LAPACK dpotrf). False when A
// is not numerically positive definite.
bool cholesky(const std::vector<double>& A, int n, std::vector<double>& L);
// L^{-1} for a lower-triangular L from cholesky() (LAPACK dtrtri), lower triangle, upper zero.
std::vector<double> lower_inverse(const std::vector<double>& L, int n);

// C = A^T B for row-major A [k x m], B [k x n] -> C [m x n] (OpenBLAS dgemm).
std::vector<double> matmul_tn(const std::vector<double>& A, const std::vector<double>& B, int k, int m, int n);
// C = A B for row-major A [m x k], B [k x n] -> C [m x n].
std::vector<double> matmul(const std::vector<double>& A, const std::vector<double>& B, int m, int k, int n);

// cuSOLVER run-time loading: whether libcusolver could be loaded (false without CUDA or a GPU), and
// a line saying why not. Tests use it to decide whether the GPU path can be checked.
bool cusolver_available(std::string* why_not = nullptr);
// The cuSOLVER eigen-decomposition, forced (throws std::runtime_error when unavailable).
SymEig sym_eig_cusolver(const std::vector<double>& A, int n, bool want_vectors, int device_index = 0);

}  // namespace cvg
