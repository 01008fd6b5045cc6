// Where tensors live and kernels run: the host, or one CUDA GPU. The only place that talks to the
// CUDA runtime for memory; everything else goes through these functions.
#pragma once
#include <cstddef>
#include <string>

namespace cvg {

struct Device {
  enum Kind { CPU, CUDA } kind = CPU;
  int index = 0;
  bool is_cuda() const { return kind == CUDA; }
  bool operator==(const Device& o) const { return kind == o.kind && (kind == CPU || index == o.index); }
  bool operator!=(const Device& o) const { return !(*this == o); }
  std::string name() const;  // "cpu", "cuda:0 (NVIDIA H100 ...)"
  static Device cpu() { return {}; }
};

bool built_with_cuda();
// Number of usable GPUs: 0 when built without CUDA, without a driver, or with no device.
int gpu_count();
// Parses "cpu", "cuda", "cuda:N", or "auto" (the GPU when one exists, else the CPU with a
// one-line notice on stderr). Throws InputError with a clear message otherwise, and
// when a GPU is asked for that this build or machine does not have.
Device parse_device(const std::string& spec);
// parse_device for one of several MPI ranks (base/dist.h): "auto" or "cuda" without an index gives
// each rank of a node its own GPU (local rank modulo the GPUs), so ranks do not share one.
Device parse_device_for_rank(const std::string& spec);
// Makes `d` current for the calling thread (no-op for the CPU).
void set_current(const Device& d);

// Raw memory on a device. Allocation failures throw with the size and the device's free memory.
void* device_alloc(const Device& d, size_t bytes);
void device_free(const Device& d, void* p);
void device_memset0(const Device& d, void* p, size_t bytes);
// Copies between any two devices (host<->host included); synchronous.
void device_copy(void* dst, const Device& dst_dev, const void* src, const Device& src_dev, size_t bytes);
void device_sync(const Device& d);

}  // namespace cvg
