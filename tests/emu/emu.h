// The emulated GPU's runtime interface (make CUDA=emu; never part of the engine). Kernels compiled
// through tests/emu/cuda_emu.h call into this: launches, per-thread built-ins, barriers, warp
// shuffles and per-block shared memory. The implementation is tests/emu/runtime.cpp.
//
// A launch runs its blocks one after another; a block's threads are cooperative fibers, each run
// until its next __syncthreads or warp shuffle, in the order CONVERGENT_EMU_ORDER names (forward,
// reverse, or random:SEED). Every bug found (bad launch, divergent barrier, shuffle mask error,
// shared memory over the sm_90 limits) prints one "emu: error: ..." line and aborts.
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <tuple>
#include <type_traits>

namespace emu {

struct Site {
  const char* file;
  int line;
  const char* kernel;
};
struct Config {
  dim3 grid, block;
  size_t smem;
};
inline Config config(dim3 grid, dim3 block, size_t smem = 0, cudaStream_t = nullptr) { return {grid, block, smem}; }

// Per-fiber and per-block state the kernels read through threadIdx, blockIdx, blockDim, gridDim.
struct ThreadState {
  uint3 idx;
};
extern ThreadState* g_thread;
extern uint3 g_block_idx;
extern dim3 g_block_dim, g_grid_dim;

// Launch: checks the configuration and the pointer arguments, then runs body(ctx) once per thread.
void launch_begin(const Site& site, const void* kernel, const Config& c);
void check_pointer_arg(const void* p, int index);
void run_grid(void (*body)(void*), void* ctx);

template <class F, class... A>
void launch(const Site& site, const void* kernel, const Config& c, F f, A... args) {
  launch_begin(site, kernel, c);
  int index = 0;
  auto check = [&index](const auto& a) {
    if constexpr (std::is_pointer_v<std::decay_t<decltype(a)>>) check_pointer_arg((const void*)a, index);
    ++index;
  };
  (check(args), ...);
  std::tuple<A...> saved(args...);
  auto body = [&] { std::apply(f, saved); };
  run_grid([](void* b) { (*static_cast<decltype(body)*>(b))(); }, &body);
}

// Inserted by tests/emu/rewrite.py at the top of every kernel with __launch_bounds__(n).
void launch_bounds(long max_threads);

// Barriers and shuffles: the only points where a fiber yields.
void syncthreads(const char* file, int line);
enum class Shfl { Down, Up, Xor, Idx };
uint64_t shuffle(Shfl kind, unsigned mask, uint64_t bits, int arg, int width, const char* file, int line);

// Shared memory of the current block: each __shared__ declaration (keyed by its file:line) gets its
// own exact-size, 0xff-filled allocation; extern __shared__ is the launch's dynamic buffer.
void* shared_alloc(const char* key, size_t bytes);
void* dynamic_shared();
template <class T>
T& shared(const char* key) {
  return *static_cast<T*>(shared_alloc(key, sizeof(T)));
}

template <class T>
T shfl(Shfl kind, unsigned mask, T v, int arg, int width, const char* file, int line) {
  static_assert(sizeof(T) <= 8 && std::is_trivially_copyable_v<T>, "shuffles move at most 8 bytes");
  uint64_t bits = 0;
  std::memcpy(&bits, &v, sizeof(T));
  bits = shuffle(kind, mask, bits, arg, width, file, line);
  std::memcpy(&v, &bits, sizeof(T));
  return v;
}

}  // namespace emu
