#include "nn/device.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include "base/dist.h"
#include "base/log.h"
#include "kernels/common.h"

namespace cvg {

#ifdef CONVERGENT_CUDA
bool built_with_cuda() { return true; }

int gpu_count() {
  static int count = [] {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
      cudaGetLastError();  // clear the sticky "no driver" error
      return 0;
    }
    return n;
  }();
  return count;
}

std::string Device::name() const {
  if (kind == CPU) return "cpu";
  cudaDeviceProp prop;
  CUDA_CHECK(cudaGetDeviceProperties(&prop, index));
  return "cuda:" + std::to_string(index) + " (" + prop.name + ")";
}

void set_current(const Device& d) {
  if (d.is_cuda()) CUDA_CHECK(cudaSetDevice(d.index));
}

void* device_alloc(const Device& d, size_t bytes) {
  if (bytes == 0) return nullptr;
  if (!d.is_cuda()) {
    void* p = std::aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (!p) throw std::runtime_error("out of host memory allocating " + std::to_string(bytes) + " bytes");
    return p;
  }
  set_current(d);
  void* p = nullptr;
  cudaError_t e = cudaMalloc(&p, bytes);
  if (e != cudaSuccess) {
    cudaGetLastError();
    size_t free_b = 0, total_b = 0;
    cudaMemGetInfo(&free_b, &total_b);
    throw CudaError("out of GPU memory: cudaMalloc of " + std::to_string(bytes >> 20) + " MiB on " + d.name() + " failed (" +
                    cudaGetErrorString(e) + ", " + std::to_string(free_b >> 20) + " MiB free)");
  }
  return p;
}

void device_free(const Device& d, void* p) {
  if (!p) return;
  if (d.is_cuda())
    cudaFree(p);  // never throws: called from destructors
  else
    std::free(p);
}

void device_memset0(const Device& d, void* p, size_t bytes) {
  if (!bytes) return;
  if (d.is_cuda())
    CUDA_CHECK(cudaMemset(p, 0, bytes));
  else
    std::memset(p, 0, bytes);
}

void device_copy(void* dst, const Device& dd, const void* src, const Device& sd, size_t bytes) {
  if (!bytes) return;
  if (!dd.is_cuda() && !sd.is_cuda()) {
    std::memcpy(dst, src, bytes);
    return;
  }
  CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyDefault));
}

void device_sync(const Device& d) {
  if (d.is_cuda()) CUDA_CHECK(cudaDeviceSynchronize());
}

#else  // CPU-only build
bool built_with_cuda() { return false; }
int gpu_count() { return 0; }
std::string Device::name() const { return kind == CPU ? "cpu" : "cuda:" + std::to_string(index); }
static void no_cuda() { throw std::runtime_error("this build has no CUDA support (built with CUDA=0)"); }
void set_current(const Device& d) {
  if (d.is_cuda()) no_cuda();
}
void* device_alloc(const Device& d, size_t bytes) {
  if (d.is_cuda()) no_cuda();
  if (bytes == 0) return nullptr;
  void* p = std::aligned_alloc(64, (bytes + 63) / 64 * 64);
  if (!p) throw std::runtime_error("out of host memory allocating " + std::to_string(bytes) + " bytes");
  return p;
}
void device_free(const Device&, void* p) { std::free(p); }
void device_memset0(const Device& d, void* p, size_t bytes) {
  if (d.is_cuda()) no_cuda();
  if (bytes) std::memset(p, 0, bytes);
}
void device_copy(void* dst, const Device& dd, const void* src, const Device& sd, size_t bytes) {
  if (dd.is_cuda() || sd.is_cuda()) no_cuda();
  if (bytes) std::memcpy(dst, src, bytes);
}
void device_sync(const Device&) {}
#endif

Device parse_device(const std::string& spec) {
  Device d;
  if (spec == "cpu") return d;
  if (spec == "auto" || spec.empty()) {
    if (gpu_count() > 0) {
      d.kind = Device::CUDA;
      return d;
    }
    log_note(std::string("no GPU found") + (built_with_cuda() ? "" : " (built without CUDA)") + "; running on the CPU");
    return d;
  }
  if (spec.rfind("cuda", 0) == 0) {
    d.kind = Device::CUDA;
    if (spec.size() > 4) {
      // At most 4 digits: atoi would overflow (cuda:4294967296 was GPU 0).
      if (spec[4] != ':' || spec.size() == 5 || spec.size() > 9 || spec.find_first_not_of("0123456789", 5) != std::string::npos)
        throw InputError("bad device '" + spec + "': expected cpu, cuda, cuda:N or auto");
      d.index = std::atoi(spec.c_str() + 5);
    }
    if (!built_with_cuda())
      throw InputError("device " + spec + " asked for, but this build has no CUDA (rebuild with nvcc present)");
    if (d.index >= gpu_count())
      throw InputError("device " + spec + " asked for, but " + std::to_string(gpu_count()) + " GPU(s) found");
    return d;
  }
  throw InputError("bad device '" + spec + "': expected cpu, cuda, cuda:N or auto");
}

Device parse_device_for_rank(const std::string& spec) {
  Device d = parse_device(spec);
  if (d.is_cuda() && dist::size() > 1 && (spec == "auto" || spec.empty() || spec == "cuda"))
    d.index = dist::local_rank() % gpu_count();
  return d;
}

}  // namespace cvg
