// Forced include (-include) for compiling kernels/*.cu with the host compiler under make CUDA=emu.
// tests/emu/rewrite.py has already turned launches, __shared__ declarations and __launch_bounds__
// into calls of tests/emu/emu.h (same line numbers); this header supplies the rest of the device
// language: built-in indices, barriers, shuffles, atomics, __ldg, min/max.
#pragma once
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <type_traits>

#include "tests/emu/emu.h"

#undef __launch_bounds__
#define __launch_bounds__(...)

#define threadIdx (::emu::g_thread->idx)
#define blockIdx (::emu::g_block_idx)
#define blockDim (::emu::g_block_dim)
#define gridDim (::emu::g_grid_dim)
#define warpSize 32

#define __syncthreads() ::emu::syncthreads(__FILE__, __LINE__)
#define __shfl_down_sync(mask, v, d, ...) ::emu::shfl(::emu::Shfl::Down, mask, v, d, EMU_WIDTH(__VA_ARGS__), __FILE__, __LINE__)
#define __shfl_up_sync(mask, v, d, ...) ::emu::shfl(::emu::Shfl::Up, mask, v, d, EMU_WIDTH(__VA_ARGS__), __FILE__, __LINE__)
#define __shfl_xor_sync(mask, v, d, ...) ::emu::shfl(::emu::Shfl::Xor, mask, v, d, EMU_WIDTH(__VA_ARGS__), __FILE__, __LINE__)
#define __shfl_sync(mask, v, d, ...) ::emu::shfl(::emu::Shfl::Idx, mask, v, d, EMU_WIDTH(__VA_ARGS__), __FILE__, __LINE__)
#define EMU_WIDTH(...) (0 __VA_OPT__(+) __VA_ARGS__ ?: 32)

namespace emu::detail {
template <class T>
struct same { using type = T; };
}  // namespace emu::detail

// The fibers of a block never run at the same time, so an atomic is an ordinary read-modify-write;
// the __atomic builtins keep it one too if a kernel ever runs from several host threads.
template <class T>
T atomicAdd(T* p, typename emu::detail::same<T>::type v) {
  if constexpr (std::is_integral_v<T>) return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST);
  T old = *p;
  *p = old + v;
  return old;
}
template <class T>
T atomicSub(T* p, typename emu::detail::same<T>::type v) { return __atomic_fetch_sub(p, v, __ATOMIC_SEQ_CST); }
template <class T>
T atomicExch(T* p, typename emu::detail::same<T>::type v) { return __atomic_exchange_n(p, v, __ATOMIC_SEQ_CST); }
template <class T>
T atomicMax(T* p, typename emu::detail::same<T>::type v) {
  T old = *p;
  if (v > old) *p = v;
  return old;
}
template <class T>
T atomicMin(T* p, typename emu::detail::same<T>::type v) {
  T old = *p;
  if (v < old) *p = v;
  return old;
}
template <class T>
T atomicCAS(T* p, typename emu::detail::same<T>::type expected, typename emu::detail::same<T>::type desired) {
  __atomic_compare_exchange_n(p, &expected, desired, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
  return expected;
}

template <class T>
T __ldg(const T* p) { return *p; }

// CUDA's min/max overloads, mixed argument types included (the usual arithmetic conversions).
template <class A, class B>
std::common_type_t<A, B> min(A a, B b) { return b < a ? b : a; }
template <class A, class B>
std::common_type_t<A, B> max(A a, B b) { return a < b ? b : a; }

// cuda_runtime.h declares this overload for nvcc only: the kernel's address identifies it.
template <class T>
cudaError_t cudaFuncSetAttribute(T* kernel, cudaFuncAttribute attr, int value) {
  return ::cudaFuncSetAttribute(reinterpret_cast<const void*>(kernel), attr, value);
}
