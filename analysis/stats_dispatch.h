// CVG_STATS_CALL(dev, f, args...): calls kernels/stats.h's f on the twin of `dev` (cuda:: for a GPU,
// cpu:: otherwise; a CPU-only build has only the CPU twin). For analysis/*.cpp only.
#pragma once
#include "kernels/stats.h"

#ifdef CONVERGENT_CUDA
#define CVG_STATS_CALL(dev, f, ...) ((dev).is_cuda() ? ::cvg::cuda::f(__VA_ARGS__) : ::cvg::cpu::f(__VA_ARGS__))
#else
#define CVG_STATS_CALL(dev, f, ...) ::cvg::cpu::f(__VA_ARGS__)
#endif
