// The GPU baselines of the benchmarks and the GPU's limits, for bench/ only (never the engine):
//  - cuBLAS and cuDNN, loaded with dlopen at run time (libcublas.so.13 / libcudnn.so.9; on the GPU
//    machines they live in PyTorch's wheels, found through LD_LIBRARY_PATH, which scripts/bench.sh and
//    scripts/gpu_check.sh set). Their headers give only types and enum values; nothing is linked.
//    Both run in strict FP32 like our kernels: cuBLAS in CUBLAS_DEFAULT_MATH (its SGEMM never uses
//    TF32 in this mode; TF32 needs CUBLAS_TF32_TENSOR_OP_MATH), cuDNN in CUDNN_FMA_MATH (only FMA
//    kernels: no TF32 tensor cores, which CUDNN_DEFAULT_MATH allows for FP32 convolutions; this is
//    the mode PyTorch sets when allow_tf32 is off).
//  - the peaks: memory bandwidth = 2 (DDR) * memory clock * bus width / 8, from
//    cudaDeviceGetAttribute (cudaDeviceProp lost memoryClockRate in CUDA 13), with a table by GPU name
//    when the attribute reads 0; FP32 = SMs * SM clock * FP32 lanes per SM (128 on Hopper) * 2 (FMA).
#pragma once
#ifdef CONVERGENT_CUDA
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>
#include <dlfcn.h>

#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/common.h"
#include "kernels/conv.h"

namespace cvg::bench {

struct GpuPeaks {
  std::string name;
  double bandwidth_gbs = 0, fp32_gflops = 0;
  std::string bandwidth_source, flops_formula;
};

inline GpuPeaks gpu_peaks(int device = 0) {
  GpuPeaks p;
  cudaDeviceProp prop{};
  CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
  p.name = prop.name;
  int mem_khz = 0, bus_bits = 0, sm_khz = 0;
  cudaDeviceGetAttribute(&mem_khz, cudaDevAttrMemoryClockRate, device);
  cudaDeviceGetAttribute(&bus_bits, cudaDevAttrGlobalMemoryBusWidth, device);
  cudaDeviceGetAttribute(&sm_khz, cudaDevAttrClockRate, device);
  if (mem_khz > 0 && bus_bits > 0) {
    p.bandwidth_gbs = 2.0 * mem_khz * 1e3 * (bus_bits / 8.0) / 1e9;
    p.bandwidth_source = "2 x " + std::to_string(mem_khz / 1000) + " MHz x " + std::to_string(bus_bits) +
                         " bit / 8 (cudaDevAttrMemoryClockRate, cudaDevAttrGlobalMemoryBusWidth)";
  } else {
    const std::string n = p.name;
    struct Known {
      const char* key;
      double gbs;
    };
    const Known table[] = {{"H200", 4800}, {"H100 PCIe", 2000},      {"H100 NVL", 3900},
                           {"H100", 3350}, {"A100-SXM4-80GB", 2039}, {"A100", 1555}};
    for (const Known& k : table)
      if (n.find(k.key) != std::string::npos) {
        p.bandwidth_gbs = k.gbs;
        break;
      }
    p.bandwidth_source = p.bandwidth_gbs > 0 ? "datasheet value for " + n + " (the clock attribute read 0)" : "unknown";
  }
  int lanes = 64;  // FP32 lanes per SM: 64 on sm_60/70/80, 128 on sm_86/89/90 and later
  if (prop.major >= 9 || (prop.major == 8 && prop.minor >= 6)) lanes = 128;
  p.fp32_gflops = (double)prop.multiProcessorCount * (sm_khz * 1e3) * lanes * 2 / 1e9;
  p.flops_formula = std::to_string(prop.multiProcessorCount) + " SMs x " + std::to_string(sm_khz / 1000) + " MHz x " +
                    std::to_string(lanes) + " FP32 lanes x 2 (FMA)";
  return p;
}

// dlopen the first library of `names` that loads; null when none does.
inline void* open_first(const std::vector<const char*>& names) {
  for (const char* n : names)
    if (void* h = dlopen(n, RTLD_NOW | RTLD_LOCAL)) return h;
  return nullptr;
}

template <class F>
inline void bind(void* lib, F& f, const char* name) {
  f = reinterpret_cast<F>(dlsym(lib, name));
  if (!f) throw std::runtime_error(std::string("symbol ") + name + " missing");
}

// ---- cuBLAS -------------------------------------------------------------------------------------------
class Cublas {
 public:
  // Loads the library and creates a handle; false (and the reason in why()) when it cannot.
  bool load() {
    lib_ = open_first({"libcublas.so.13", "libcublas.so.12", "libcublas.so"});
    if (!lib_) {
      why_ = "libcublas.so.13 not found";
      return false;
    }
    try {
      bind(lib_, create_, "cublasCreate_v2");
      bind(lib_, destroy_, "cublasDestroy_v2");
      bind(lib_, set_math_, "cublasSetMathMode");
      bind(lib_, sgemm_, "cublasSgemm_v2");
      bind(lib_, ssyrk_, "cublasSsyrk_v2");
      bind(lib_, version_, "cublasGetVersion_v2");
    } catch (const std::exception& e) {
      why_ = e.what();
      return false;
    }
    if (create_(&h_) != CUBLAS_STATUS_SUCCESS) {
      why_ = "cublasCreate failed";
      h_ = nullptr;
      return false;
    }
    check(set_math_(h_, CUBLAS_DEFAULT_MATH), "cublasSetMathMode");
    int v = 0;
    version_(h_, &v);
    version_str_ = std::to_string(v);
    return true;
  }
  ~Cublas() {
    if (h_) destroy_(h_);
  }
  const std::string& why() const { return why_; }
  const std::string& version() const { return version_str_; }

  // Row-major C[m x n] = op(A) op(B) + beta C, as kernels/fc.h's gemm: cuBLAS is column-major, so it
  // computes C^T = op(B)^T op(A)^T, which is the same memory.
  void gemm(bool ta, bool tb, int m, int n, int k, const float* A, int lda, const float* B, int ldb, float* C, int ldc,
            float beta = 0.0f) {
    const float one = 1.0f;
    check(
        sgemm_(h_, tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N, n, m, k, &one, B, ldb, A, lda, &beta, C, ldc),
        "cublasSgemm");
  }
  // The Gram of a row-major [c x N] matrix X: the upper triangle of G = X X^T (row-major), which
  // column-major cuBLAS sees as X^T (N x c, ld N): G = (X^T)^T (X^T), trans = T.
  void gram(int c, int N, const float* X, float* G) {
    const float one = 1.0f, zero = 0.0f;
    check(ssyrk_(h_, CUBLAS_FILL_MODE_LOWER, CUBLAS_OP_T, c, N, &one, X, N, &zero, G, c), "cublasSsyrk");
  }

 private:
  static void check(cublasStatus_t s, const char* what) {
    if (s != CUBLAS_STATUS_SUCCESS) throw std::runtime_error(std::string(what) + " failed with status " + std::to_string((int)s));
  }
  void* lib_ = nullptr;
  cublasHandle_t h_ = nullptr;
  std::string why_, version_str_;
  decltype(&cublasCreate_v2) create_ = nullptr;
  decltype(&cublasDestroy_v2) destroy_ = nullptr;
  decltype(&cublasSetMathMode) set_math_ = nullptr;
  decltype(&cublasSgemm_v2) sgemm_ = nullptr;
  decltype(&cublasSsyrk_v2) ssyrk_ = nullptr;
  decltype(&cublasGetVersion_v2) version_ = nullptr;
};

// ---- cuDNN --------------------------------------------------------------------------------------------
// One convolution's descriptors and, per pass, the fastest algorithm cudnnFind measured in
// CUDNN_FMA_MATH, with its workspace size.
struct CudnnConvPlan {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  cudnnConvolutionFwdAlgo_t fwd{};
  cudnnConvolutionBwdDataAlgo_t bwd_data{};
  cudnnConvolutionBwdFilterAlgo_t bwd_filter{};
  size_t fwd_ws = 0, bwd_data_ws = 0, bwd_filter_ws = 0;
  bool fwd_ok = false, bwd_data_ok = false, bwd_filter_ok = false;
  std::string fwd_algo, bwd_data_algo, bwd_filter_algo;  // "algo N (FMA)" for the table
};

class Cudnn {
 public:
  bool load() {
    lib_ = open_first({"libcudnn.so.9", "libcudnn.so"});
    if (!lib_) {
      why_ = "libcudnn.so.9 not found";
      return false;
    }
    try {
      bind(lib_, create_, "cudnnCreate");
      bind(lib_, destroy_, "cudnnDestroy");
      bind(lib_, error_string_, "cudnnGetErrorString");
      bind(lib_, get_version_, "cudnnGetVersion");
      bind(lib_, create_tensor_, "cudnnCreateTensorDescriptor");
      bind(lib_, set_tensor_, "cudnnSetTensor4dDescriptor");
      bind(lib_, destroy_tensor_, "cudnnDestroyTensorDescriptor");
      bind(lib_, create_filter_, "cudnnCreateFilterDescriptor");
      bind(lib_, set_filter_, "cudnnSetFilter4dDescriptor");
      bind(lib_, destroy_filter_, "cudnnDestroyFilterDescriptor");
      bind(lib_, create_conv_, "cudnnCreateConvolutionDescriptor");
      bind(lib_, set_conv_, "cudnnSetConvolution2dDescriptor");
      bind(lib_, set_groups_, "cudnnSetConvolutionGroupCount");
      bind(lib_, set_math_, "cudnnSetConvolutionMathType");
      bind(lib_, destroy_conv_, "cudnnDestroyConvolutionDescriptor");
      bind(lib_, find_fwd_, "cudnnFindConvolutionForwardAlgorithm");
      bind(lib_, find_bwd_data_, "cudnnFindConvolutionBackwardDataAlgorithm");
      bind(lib_, find_bwd_filter_, "cudnnFindConvolutionBackwardFilterAlgorithm");
      bind(lib_, ws_fwd_, "cudnnGetConvolutionForwardWorkspaceSize");
      bind(lib_, ws_bwd_data_, "cudnnGetConvolutionBackwardDataWorkspaceSize");
      bind(lib_, ws_bwd_filter_, "cudnnGetConvolutionBackwardFilterWorkspaceSize");
      bind(lib_, conv_fwd_, "cudnnConvolutionForward");
      bind(lib_, conv_bwd_data_, "cudnnConvolutionBackwardData");
      bind(lib_, conv_bwd_filter_, "cudnnConvolutionBackwardFilter");
    } catch (const std::exception& e) {
      why_ = e.what();
      return false;
    }
    if (create_(&h_) != CUDNN_STATUS_SUCCESS) {
      why_ = "cudnnCreate failed";
      h_ = nullptr;
      return false;
    }
    return true;
  }
  ~Cudnn() {
    if (h_) destroy_(h_);
  }
  const std::string& why() const { return why_; }
  std::string version() const { return std::to_string(get_version_()); }

  // Descriptors for geometry g (NCHW float, OIHW filters, cross-correlation as our conv) and the
  // fastest FMA-math algorithm of each pass found by cudnnFind (which runs them on scratch memory).
  CudnnConvPlan plan(const ConvGeom& g) {
    CudnnConvPlan p;
    check(create_tensor_(&p.x), "cudnnCreateTensorDescriptor");
    check(create_tensor_(&p.y), "cudnnCreateTensorDescriptor");
    check(create_filter_(&p.w), "cudnnCreateFilterDescriptor");
    check(create_conv_(&p.conv), "cudnnCreateConvolutionDescriptor");
    check(set_tensor_(p.x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, g.n, g.c, g.h, g.w), "cudnnSetTensor4dDescriptor x");
    check(set_tensor_(p.y, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, g.n, g.k, g.out_h(), g.out_w()), "cudnnSetTensor4dDescriptor y");
    check(set_filter_(p.w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, g.k, g.c / g.groups, g.kh, g.kw), "cudnnSetFilter4dDescriptor");
    check(set_conv_(p.conv, g.pad, g.pad, g.stride, g.stride, 1, 1, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT),
          "cudnnSetConvolution2dDescriptor");
    check(set_groups_(p.conv, g.groups), "cudnnSetConvolutionGroupCount");
    check(set_math_(p.conv, CUDNN_FMA_MATH), "cudnnSetConvolutionMathType");
    {
      cudnnConvolutionFwdAlgoPerf_t r[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
      int got = 0;
      check(find_fwd_(h_, p.x, p.w, p.conv, p.y, CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &got, r),
            "cudnnFindConvolutionForwardAlgorithm");
      if (int i = pick(r, got); i >= 0) {
        p.fwd = r[i].algo, p.fwd_ok = true, p.fwd_algo = describe((int)r[i].algo, r[i].mathType);
        check(ws_fwd_(h_, p.x, p.w, p.conv, p.y, p.fwd, &p.fwd_ws), "cudnnGetConvolutionForwardWorkspaceSize");
      }
    }
    {
      cudnnConvolutionBwdDataAlgoPerf_t r[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
      int got = 0;
      check(find_bwd_data_(h_, p.w, p.y, p.conv, p.x, CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &got, r),
            "cudnnFindConvolutionBackwardDataAlgorithm");
      if (int i = pick(r, got); i >= 0) {
        p.bwd_data = r[i].algo, p.bwd_data_ok = true, p.bwd_data_algo = describe((int)r[i].algo, r[i].mathType);
        check(ws_bwd_data_(h_, p.w, p.y, p.conv, p.x, p.bwd_data, &p.bwd_data_ws),
              "cudnnGetConvolutionBackwardDataWorkspaceSize");
      }
    }
    {
      cudnnConvolutionBwdFilterAlgoPerf_t r[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
      int got = 0;
      check(find_bwd_filter_(h_, p.x, p.y, p.conv, p.w, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &got, r),
            "cudnnFindConvolutionBackwardFilterAlgorithm");
      if (int i = pick(r, got); i >= 0) {
        p.bwd_filter = r[i].algo, p.bwd_filter_ok = true, p.bwd_filter_algo = describe((int)r[i].algo, r[i].mathType);
        check(ws_bwd_filter_(h_, p.x, p.y, p.conv, p.w, p.bwd_filter, &p.bwd_filter_ws),
              "cudnnGetConvolutionBackwardFilterWorkspaceSize");
      }
    }
    return p;
  }
  void release(CudnnConvPlan& p) {
    if (p.x) destroy_tensor_(p.x);
    if (p.y) destroy_tensor_(p.y);
    if (p.w) destroy_filter_(p.w);
    if (p.conv) destroy_conv_(p.conv);
    p = CudnnConvPlan{};
  }

  void forward(const CudnnConvPlan& p, const float* x, const float* w, float* y, void* ws) {
    const float one = 1.0f, zero = 0.0f;
    check(conv_fwd_(h_, &one, p.x, x, p.w, w, p.conv, p.fwd, ws, p.fwd_ws, &zero, p.y, y), "cudnnConvolutionForward");
  }
  void backward_data(const CudnnConvPlan& p, const float* dy, const float* w, float* dx, void* ws) {
    const float one = 1.0f, zero = 0.0f;
    check(conv_bwd_data_(h_, &one, p.w, w, p.y, dy, p.conv, p.bwd_data, ws, p.bwd_data_ws, &zero, p.x, dx),
          "cudnnConvolutionBackwardData");
  }
  void backward_filter(const CudnnConvPlan& p, const float* x, const float* dy, float* dw, void* ws) {
    const float one = 1.0f, zero = 0.0f;
    check(conv_bwd_filter_(h_, &one, p.x, x, p.y, dy, p.conv, p.bwd_filter, ws, p.bwd_filter_ws, &zero, p.w, dw),
          "cudnnConvolutionBackwardFilter");
  }

 private:
  // The fastest successful result in FMA math (cudnnFind sorts by time); failing that, the fastest
  // successful one whatever its math (its mode is then shown in the table).
  template <class Perf>
  static int pick(const Perf* r, int got) {
    for (int i = 0; i < got; ++i)
      if (r[i].status == CUDNN_STATUS_SUCCESS && r[i].mathType == CUDNN_FMA_MATH) return i;
    for (int i = 0; i < got; ++i)
      if (r[i].status == CUDNN_STATUS_SUCCESS) return i;
    return -1;
  }
  static std::string describe(int algo, cudnnMathType_t m) {
    return "algo " + std::to_string(algo) + (m == CUDNN_FMA_MATH ? " (FMA)" : " (math " + std::to_string((int)m) + ")");
  }
  void check(cudnnStatus_t s, const char* what) {
    if (s != CUDNN_STATUS_SUCCESS) throw std::runtime_error(std::string(what) + ": " + error_string_(s));
  }
  void* lib_ = nullptr;
  cudnnHandle_t h_ = nullptr;
  std::string why_;
  decltype(&cudnnCreate) create_ = nullptr;
  decltype(&cudnnDestroy) destroy_ = nullptr;
  decltype(&cudnnGetErrorString) error_string_ = nullptr;
  decltype(&cudnnGetVersion) get_version_ = nullptr;
  decltype(&cudnnCreateTensorDescriptor) create_tensor_ = nullptr;
  decltype(&cudnnSetTensor4dDescriptor) set_tensor_ = nullptr;
  decltype(&cudnnDestroyTensorDescriptor) destroy_tensor_ = nullptr;
  decltype(&cudnnCreateFilterDescriptor) create_filter_ = nullptr;
  decltype(&cudnnSetFilter4dDescriptor) set_filter_ = nullptr;
  decltype(&cudnnDestroyFilterDescriptor) destroy_filter_ = nullptr;
  decltype(&cudnnCreateConvolutionDescriptor) create_conv_ = nullptr;
  decltype(&cudnnSetConvolution2dDescriptor) set_conv_ = nullptr;
  decltype(&cudnnSetConvolutionGroupCount) set_groups_ = nullptr;
  decltype(&cudnnSetConvolutionMathType) set_math_ = nullptr;
  decltype(&cudnnDestroyConvolutionDescriptor) destroy_conv_ = nullptr;
  decltype(&cudnnFindConvolutionForwardAlgorithm) find_fwd_ = nullptr;
  decltype(&cudnnFindConvolutionBackwardDataAlgorithm) find_bwd_data_ = nullptr;
  decltype(&cudnnFindConvolutionBackwardFilterAlgorithm) find_bwd_filter_ = nullptr;
  decltype(&cudnnGetConvolutionForwardWorkspaceSize) ws_fwd_ = nullptr;
  decltype(&cudnnGetConvolutionBackwardDataWorkspaceSize) ws_bwd_data_ = nullptr;
  decltype(&cudnnGetConvolutionBackwardFilterWorkspaceSize) ws_bwd_filter_ = nullptr;
  decltype(&cudnnConvolutionForward) conv_fwd_ = nullptr;
  decltype(&cudnnConvolutionBackwardData) conv_bwd_data_ = nullptr;
  decltype(&cudnnConvolutionBackwardFilter) conv_bwd_filter_ = nullptr;
};

}  // namespace cvg::bench
#endif  // CONVERGENT_CUDA
