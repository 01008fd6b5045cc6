// Several processes as one: the MPI ranks a launcher (mpirun) started, or this process alone.
//
// MPI is touched only when the process was started by an MPI launcher (its environment names a
// world size: OMPI_COMM_WORLD_SIZE, PMI_SIZE or PMIX_SIZE); otherwise, and in a build without MPI
// (make MPI=0), every call is the single-process one: rank 0 of 1, reductions leave the buffer as
// it is. Reductions sum in a fixed order (rank 0 + rank 1, then + rank 2, ...), never in the order
// messages happen to arrive, so a result does not depend on timing.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace cvg::dist {

bool compiled();   // this build has MPI support
int rank();        // 0 without MPI
int size();        // 1 without MPI
int local_rank();  // the rank among this node's ranks (one GPU each); 0 without MPI
inline bool is_root() { return rank() == 0; }
// The world size the launcher announced in the environment (1 without a launcher).
int launched_size();

// MPI_Init when launched by an MPI launcher (and built with MPI), MPI_Finalize at the end. Throws
// std::runtime_error when launched with several ranks by a build without MPI (each would run alone).
class Session {
 public:
  Session();
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;
};

// Rank 0's buffer becomes the sum over ranks, added in rank order; other ranks' buffers unchanged.
void reduce_to_root(double* buf, size_t n);
void reduce_to_root(uint64_t* buf, size_t n);
// reduce_to_root, then rank 0's sum to every rank: every rank ends with the same bits.
void allreduce(double* buf, size_t n);
// Floats summed in double (rank order), rounded once, the same on every rank (gradients).
void allreduce(float* buf, size_t n);
void broadcast(void* buf, size_t bytes, int root = 0);
// Every rank's bytes, concatenated in rank order, on rank 0 (empty elsewhere).
std::vector<char> gather_to_root(const void* buf, size_t bytes);
void barrier();
// Bytes this rank has sent in reductions, broadcasts and gathers so far (for make bench).
uint64_t bytes_sent();

// Stops every rank now (MPI_Abort) with this exit code; a plain exit without MPI.
[[noreturn]] void abort(int code);

// Test hook for the fault tests: when the environment's CONVERGENT_FAIL_RANK is this rank, throws
// InputError("<what>: injected failure (CONVERGENT_FAIL_RANK)"), as an unreadable shard would.
void injected_failure(const std::string& what);

}  // namespace cvg::dist
