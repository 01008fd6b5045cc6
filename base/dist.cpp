#include "base/dist.h"

#include <cstdio>
#include <cstdlib>
#include <stdexcept>

#include "base/errors.h"

#if CONVERGENT_MPI
#define OMPI_SKIP_MPICXX 1  // the C API only (the C++ bindings warn under -Wextra)
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>
#endif

namespace cvg::dist {

namespace {
int g_rank = 0, g_size = 1, g_local = 0;
uint64_t g_sent = 0;
#if CONVERGENT_MPI
bool g_active = false;  // MPI_Init called by a Session
#endif

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoi(v) : fallback;
}
}  // namespace

int launched_size() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"})
    if (int n = env_int(name, 0); n > 0) return n;
  return 1;
}

bool compiled() {
#if CONVERGENT_MPI
  return true;
#else
  return false;
#endif
}
int rank() { return g_rank; }
int size() { return g_size; }
int local_rank() { return g_local; }
uint64_t bytes_sent() { return g_sent; }

void injected_failure(const std::string& what) {
  if (const char* v = std::getenv("CONVERGENT_FAIL_RANK"); v && *v && std::atoi(v) == g_rank)
    throw InputError(what + ": injected failure (CONVERGENT_FAIL_RANK)");
}

#if CONVERGENT_MPI

namespace {
// Messages of at most this many elements: no int overflow in MPI counts, bounded scratch memory.
constexpr size_t kChunk = size_t(1) << 22;

void check(int rc, const char* what) {
  if (rc != MPI_SUCCESS) throw std::runtime_error(std::string("MPI: ") + what + " failed");
}

// Sums T (on the wire) in A (on rank 0): float gradients are added in double and rounded once.
template <class T, class A = T>
void reduce_impl(T* buf, size_t n, MPI_Datatype type, bool to_all) {
  if (!g_active || g_size == 1) return;
  std::vector<T> part(std::min(n, kChunk));
  std::vector<A> acc(g_rank == 0 ? std::min(n, kChunk) : 0);
  for (size_t off = 0; off < n; off += kChunk) {
    const int m = (int)std::min(kChunk, n - off);
    if (g_rank == 0) {
      for (int i = 0; i < m; ++i) acc[i] = buf[off + i];
      for (int r = 1; r < g_size; ++r) {  // rank order: ((x0 + x1) + x2) + ...
        check(MPI_Recv(part.data(), m, type, r, 17, MPI_COMM_WORLD, MPI_STATUS_IGNORE), "MPI_Recv");
        for (int i = 0; i < m; ++i) acc[i] += part[i];
      }
      for (int i = 0; i < m; ++i) buf[off + i] = (T)acc[i];
    } else {
      check(MPI_Send(buf + off, m, type, 0, 17, MPI_COMM_WORLD), "MPI_Send");
      g_sent += (uint64_t)m * sizeof(T);
    }
    if (to_all) {
      check(MPI_Bcast(buf + off, m, type, 0, MPI_COMM_WORLD), "MPI_Bcast");
      if (g_rank == 0) g_sent += (uint64_t)m * sizeof(T);
    }
  }
}
}  // namespace

Session::Session() {
  if (launched_size() <= 1) return;
  int inited = 0;
  MPI_Initialized(&inited);
  if (!inited) check(MPI_Init(nullptr, nullptr), "MPI_Init");
  g_active = true;
  MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g_size);
  MPI_Comm node;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, g_rank, MPI_INFO_NULL, &node);
  MPI_Comm_rank(node, &g_local);
  MPI_Comm_free(&node);
}

Session::~Session() {
  if (g_active) MPI_Finalize();
  g_active = false, g_rank = 0, g_size = 1, g_local = 0;
}

void reduce_to_root(double* buf, size_t n) { reduce_impl(buf, n, MPI_DOUBLE, false); }
void reduce_to_root(uint64_t* buf, size_t n) { reduce_impl(buf, n, MPI_UINT64_T, false); }
void allreduce(double* buf, size_t n) { reduce_impl(buf, n, MPI_DOUBLE, true); }

void allreduce(float* buf, size_t n) { reduce_impl<float, double>(buf, n, MPI_FLOAT, true); }

void broadcast(void* buf, size_t bytes, int root) {
  if (!g_active || g_size == 1) return;
  char* p = static_cast<char*>(buf);
  for (size_t off = 0; off < bytes; off += kChunk) {
    const int m = (int)std::min(kChunk, bytes - off);
    check(MPI_Bcast(p + off, m, MPI_BYTE, root, MPI_COMM_WORLD), "MPI_Bcast");
    if (g_rank == root) g_sent += m;
  }
}

std::vector<char> gather_to_root(const void* buf, size_t bytes) {
  if (!g_active || g_size == 1) return std::vector<char>((const char*)buf, (const char*)buf + bytes);
  if (bytes > (size_t)INT32_MAX) throw std::runtime_error("MPI: gather of more than 2 GiB per rank");
  int mine = (int)bytes;
  std::vector<int> counts(g_size), offsets(g_size);
  check(MPI_Gather(&mine, 1, MPI_INT, counts.data(), 1, MPI_INT, 0, MPI_COMM_WORLD), "MPI_Gather");
  std::vector<char> all;
  if (g_rank == 0) {
    size_t total = 0;
    for (int r = 0; r < g_size; ++r) offsets[r] = (int)total, total += counts[r];
    if (total > (size_t)INT32_MAX) throw std::runtime_error("MPI: gather of more than 2 GiB in all");
    all.resize(total);
  } else {
    g_sent += bytes;
  }
  check(MPI_Gatherv(buf, mine, MPI_BYTE, all.data(), counts.data(), offsets.data(), MPI_BYTE, 0, MPI_COMM_WORLD),
        "MPI_Gatherv");
  return all;
}

void barrier() {
  if (g_active && g_size > 1) check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier");
}

void abort(int code) {
  std::fflush(stdout), std::fflush(stderr);
  if (g_active) MPI_Abort(MPI_COMM_WORLD, code);
  std::_Exit(code);
}

#else  // single-process stubs

Session::Session() {
  if (launched_size() > 1)
    throw std::runtime_error("started by an MPI launcher with " + std::to_string(launched_size()) +
                             " ranks, but this build has no MPI support (rebuild with MPI: make, with mpicxx installed)");
}
Session::~Session() = default;
void reduce_to_root(double*, size_t) {}
void reduce_to_root(uint64_t*, size_t) {}
void allreduce(double*, size_t) {}
void allreduce(float*, size_t) {}
void broadcast(void*, size_t, int) {}
std::vector<char> gather_to_root(const void* buf, size_t bytes) {
  return std::vector<char>((const char*)buf, (const char*)buf + bytes);
}
void barrier() {}
void abort(int code) {
  std::fflush(stdout), std::fflush(stderr);
  std::_Exit(code);
}

#endif

}  // namespace cvg::dist
