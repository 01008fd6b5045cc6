// Shared by every kernel family: the host/device qualifier and the one CUDA error path.
// kernels/ includes nothing of the project but base/errors.h and its own headers, and reads no files.
// The CUDA twins allocate nothing (callers own every buffer); the CPU conv and pool twins keep
// per-thread scratch vectors, which is their only allocation.
#pragma once
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

#if defined(__CUDACC__)
#define CVG_HD __host__ __device__ __forceinline__
#else
#define CVG_HD inline
#endif

#include "base/errors.h"  // CudaError

#if defined(__CUDACC__) || defined(CONVERGENT_CUDA)
#include <cuda_runtime_api.h>
#define CUDA_CHECK(expr)                                                                                                     \
  do {                                                                                                                       \
    cudaError_t cvg_err_ = (expr);                                                                                           \
    if (cvg_err_ != cudaSuccess)                                                                                             \
      throw ::cvg::CudaError(std::string("CUDA error: ") + cudaGetErrorString(cvg_err_) + " in " #expr " at " __FILE__ ":" + \
                             std::to_string(__LINE__));                                                                      \
  } while (0)
// After a kernel launch: catches bad launch configurations at once (asynchronous faults surface
// at the next synchronising call, which is CUDA_CHECKed too).
#define CUDA_CHECK_LAUNCH() CUDA_CHECK(cudaGetLastError())
#endif
