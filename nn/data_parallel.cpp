#include "nn/data_parallel.h"

#include <stdexcept>
#include <string>
#include <type_traits>

#include "base/dist.h"

#if CONVERGENT_CUDA && !CONVERGENT_CUDA_EMU
#include <cuda_runtime.h>
#include <dlfcn.h>
#include <nccl.h>
#endif

namespace cvg {

#if CONVERGENT_CUDA && !CONVERGENT_CUDA_EMU
namespace {
// NCCL between the ranks' GPUs, loaded at the first GPU reduction from the CUDA toolkit's
// libnccl.so.2 (dlopen: the binaries run on machines without it until a multi-rank GPU run asks).
// Each rank's gradients are premultiplied by its share of the batch (ncclRedOpCreatePreMulSum) and
// summed on the GPUs; every rank gets the same bits (NCCL's order is fixed for one communicator).
struct Nccl {
  decltype(&ncclGetUniqueId) get_unique_id;
  decltype(&ncclCommInitRank) init_rank;
  decltype(&ncclAllReduce) all_reduce;
  decltype(&ncclRedOpCreatePreMulSum) premul;
  decltype(&ncclRedOpDestroy) op_destroy;
  decltype(&ncclGroupStart) group_start;
  decltype(&ncclGroupEnd) group_end;
  decltype(&ncclGetErrorString) error_string;
  ncclComm_t comm = nullptr;

  void check(ncclResult_t r, const char* what) const {
    if (r != ncclSuccess) throw std::runtime_error(std::string("NCCL: ") + what + ": " + error_string(r));
  }
  static Nccl& get(const Device& d) {
    static Nccl n = [&] {
      Nccl x;
      void* lib = dlopen("libnccl.so.2", RTLD_NOW | RTLD_LOCAL);
      if (!lib) throw std::runtime_error(std::string("NCCL is needed for several ranks on GPUs: ") + dlerror());
      auto sym = [&](auto& f, const char* name) {
        f = reinterpret_cast<std::remove_reference_t<decltype(f)>>(dlsym(lib, name));
        if (!f) throw std::runtime_error(std::string("NCCL: ") + name + " not found in libnccl.so.2");
      };
      sym(x.get_unique_id, "ncclGetUniqueId"), sym(x.init_rank, "ncclCommInitRank"), sym(x.all_reduce, "ncclAllReduce");
      sym(x.premul, "ncclRedOpCreatePreMulSum"), sym(x.op_destroy, "ncclRedOpDestroy");
      sym(x.group_start, "ncclGroupStart"), sym(x.group_end, "ncclGroupEnd"), sym(x.error_string, "ncclGetErrorString");
      ncclUniqueId id{};
      if (dist::is_root()) x.check(x.get_unique_id(&id), "ncclGetUniqueId");
      dist::broadcast(&id, sizeof id);
      cudaSetDevice(d.index);
      x.check(x.init_rank(&x.comm, dist::size(), id, dist::rank()), "ncclCommInitRank");
      return x;
    }();
    return n;
  }
};

void nccl_all_reduce_gradients(Net& net, float share) {
  Nccl& n = Nccl::get(net.device());
  ncclRedOp_t op;
  n.check(n.premul(&op, &share, ncclFloat, ncclScalarHostImmediate, n.comm), "ncclRedOpCreatePreMulSum");
  n.check(n.group_start(), "ncclGroupStart");
  for (Param* p : net.params())
    n.check(n.all_reduce(p->grad.ptr(), p->grad.ptr(), p->grad.numel(), ncclFloat, op, n.comm, 0), "ncclAllReduce");
  n.check(n.group_end(), "ncclGroupEnd");
  n.check(n.op_destroy(op, n.comm), "ncclRedOpDestroy");
  if (cudaStreamSynchronize(0) != cudaSuccess) throw std::runtime_error("NCCL all-reduce: CUDA stream failed");
}
}  // namespace
#endif

BatchSlice rank_slice(int batch) {
  const long long r = dist::rank(), n = dist::size();
  BatchSlice s;
  s.first = (int)(batch * r / n);
  s.count = (int)(batch * (r + 1) / n) - s.first;
  return s;
}

void all_reduce_gradients(Net& net, int count, int batch) {
  if (dist::size() == 1) return;
  const float share = (float)((double)count / batch);
#if CONVERGENT_CUDA && !CONVERGENT_CUDA_EMU
  if (net.device().is_cuda()) return nccl_all_reduce_gradients(net, share);
#endif
  std::vector<Param*> ps = net.params();
  size_t total = 0;
  for (Param* p : ps) total += p->grad.data.size();
  std::vector<float> flat(total);
  size_t off = 0;
  for (Param* p : ps) {
    const std::vector<float> g = p->grad.data.to_host();
    for (size_t i = 0; i < g.size(); ++i) flat[off + i] = g[i] * share;
    off += g.size();
  }
  dist::allreduce(flat.data(), flat.size());
  off = 0;
  for (Param* p : ps) {
    p->grad.data.from_host(flat.data() + off, p->grad.data.size());
    off += p->grad.data.size();
  }
}

void broadcast_parameters(Net& net) {
  if (dist::size() == 1) return;
  for (Param* p : net.params())
    for (Tensor* t : {&p->value, &p->momentum}) {
      std::vector<float> h = t->data.to_host();
      dist::broadcast(h.data(), h.size() * sizeof(float));
      t->data.from_host(h);
    }
}

Net::Metrics all_reduce_metrics(const Net::Metrics& mine, bool& stop) {
  if (dist::size() == 1) return mine;
  double v[5] = {mine.loss_sum, (double)mine.top1, (double)mine.top5, (double)mine.n, stop ? 1.0 : 0.0};
  dist::allreduce(v, 5);
  Net::Metrics m;
  m.loss_sum = v[0], m.top1 = (long long)v[1], m.top5 = (long long)v[2], m.n = (long long)v[3];
  stop = v[4] > 0;
  return m;
}

}  // namespace cvg
