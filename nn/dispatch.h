// Runs a kernel family's twin for a device: cuda::fn on a GPU, cpu::fn on the host.
#pragma once
#include "nn/device.h"

#ifdef CONVERGENT_CUDA
#define CVG_DISPATCH(dev, fn, ...) ((dev).is_cuda() ? ::cvg::cuda::fn(__VA_ARGS__) : ::cvg::cpu::fn(__VA_ARGS__))
#else
#define CVG_DISPATCH(dev, fn, ...) ((void)(dev), ::cvg::cpu::fn(__VA_ARGS__))
#endif
