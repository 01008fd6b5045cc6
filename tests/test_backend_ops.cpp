// One backend test for every kernel family (ggml's test-backend-ops idea). The table lists cases
// {family, op and shape, inputs, bound}; one loop (run_family) runs each case on the CPU twin and on
// the CUDA twin (a real GPU, or the emulated one of make CUDA=emu) and compares every output within
// its bound, writing each comparison to the gpu-check JSON (worst normalised error, largest absolute
// difference, the bound). Large shapes shrink only through test::emu_scale.
//
// Bounds: "exact" where both twins do the same float operations in the same order (selections,
// integer work, elementwise expressions with nothing to fuse); for sums, each twin is within
// gamma(N) * absref of the exact value (tests/bounds.h), so the twins are within twice that, where
// absref is the CPU twin's result on absolute values (its own relative rounding, < 1e-3 for every N
// here, is covered by a factor 1.01); elementwise math-library differences in ulps, argued per case.
#include <doctest/doctest.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "analysis/stats/mutual_info.h"  // select_samples
#include "kernels/act.h"
#include "kernels/assign.h"
#include "kernels/conv.h"
#include "kernels/fc.h"
#include "kernels/gemm.h"
#include "kernels/loss.h"
#include "kernels/lrn.h"
#include "kernels/pool.h"
#include "kernels/sgd.h"
#include "kernels/stats.h"
#include "nn/config.h"
#include "nn/dispatch.h"
#include "nn/net.h"
#include "nn/tensor.h"
#include "tests/bounds.h"
#include "tests/check.h"
#include "tests/shapes.h"

using namespace cvg;

namespace {

using VF = std::vector<float>;
using VD = std::vector<double>;

// One output of a case, and how far the CUDA twin's may be from the CPU twin's: for every i,
// |gpu_i - cpu_i| <= factor * absref_i + atol (absref empty: |cpu_i|); factor = atol = 0 is exact,
// NaN matching NaN.
struct Out {
  std::string name;
  VD v;
  double factor = 0, atol = 0;
  VD absref;
};
using Outs = std::vector<Out>;

struct Case {
  std::string family;                      // kernels/<family>.h
  std::string op;                          // op and shape: the name in the gpu-check JSON
  std::function<Outs(const Device&)> run;  // the op on that device's twin; outputs on the host
};

template <class T>
Array<T> put(const Device& d, const std::vector<T>& h) {
  Array<T> a(d, std::max<size_t>(h.size(), 1));
  if (!h.empty()) a.from_host(h.data(), h.size());
  return a;
}
template <class T>
VD get(const Array<T>& a, size_t from = 0, size_t count = SIZE_MAX) {
  const auto h = a.to_host();
  const size_t end = count == SIZE_MAX ? h.size() : from + count;
  return VD(h.begin() + from, h.begin() + end);
}
template <class V>
VD dbl(const V& v) {
  return VD(v.begin(), v.end());
}
Out exact(std::string name, VD v) { return {std::move(name), std::move(v), 0, 0, {}}; }
Out within(std::string name, VD v, double factor, double atol, VD absref = {}) {
  return {std::move(name), std::move(v), factor, atol, std::move(absref)};
}
constexpr double kTwins = 2 * 1.01;  // two twins, each within gamma(N) * absref (absref from a float twin)

// ---- act: exact. ReLU selects; dropout draws the same integer mask (rng_keep) and applies the same
// single float multiply by the same host-computed 1/(1-p) on both devices.
void act_rows(std::vector<Case>& t) {
  const size_t n = (1 << 20) + 3;
  // Offset 0: the float4 path plus its 3-element tail. Offset 1: misaligned, the scalar path.
  for (size_t off : {size_t(0), size_t(1)}) {
    const size_t m = n - off;
    const float p = off ? 0.1f : 0.5f;
    const std::string tag = " " + std::to_string(m) + (off ? " unaligned" : " float4");
    // f(device, x, dy, out) on the m elements from `off`; out is x itself for the in-place rows.
    using Op = std::function<void(const Device&, float*, float*, float*)>;
    auto add = [&](const char* name, bool in_place, Op f) {
      t.push_back({"act", name + tag, [=](const Device& d) {
                     Array<float> x = put(d, test::randn(n, 11)), dy = put(d, test::randn(n, 12)), y(d, n);
                     f(d, x.data() + off, dy.data() + off, (in_place ? x : y).data() + off);
                     return Outs{exact("y", get(in_place ? x : y, off, m))};
                   }});
    };
    for (bool in_place : {false, true}) {
      add(in_place ? "relu_forward in place" : "relu_forward", in_place,
          [=](const Device& d, float* x, float*, float* y) { CVG_DISPATCH(d, relu_forward, m, x, y); });
      add(in_place ? "dropout_forward in place" : "dropout_forward", in_place,
          [=](const Device& d, float* x, float*, float* y) { CVG_DISPATCH(d, dropout_forward, m, p, 3, 4, 0, x, y); });
    }
    add("relu_backward", false, [=](const Device& d, float* x, float* dy, float* dx) {
      CVG_DISPATCH(d, relu_forward, m, x, x);  // y = relu(x) in place, then the gradient through it
      CVG_DISPATCH(d, relu_backward, m, x, dy, dx);
    });
    add("dropout_backward", false,
        [=](const Device& d, float*, float* dy, float* dx) { CVG_DISPATCH(d, dropout_backward, m, p, 3, 4, 1000, dy, dx); });
  }
}

// ---- assign: exact. The auction takes the same integer steps on both devices, so the same matching,
// prices and rounds, and sums its objective in the same fixed order.
// The assign tests' matrices (tests/shapes.h), then sizes past one block (the grid path with its
// single-block tail), square and rectangular. The emulated GPU runs a block's 1024 threads as fibers
// through every round's barriers: there, the first three cases (square, square, rectangular) and one
// grid-path case just past 1024. Built only when a row runs.
std::vector<test::AssignCase> assign_matrices(bool grid) {
  std::vector<test::AssignCase> all;
  if (!grid) {
    all = test::assign_cases(true);
    all.resize(test::emu_scale(all.size(), size_t(3)));
    return all;
  }
  auto add = [&](const char* kind, MatrixKind k, int n, int m, uint64_t seed) {
    all.push_back({std::string(kind) + " " + std::to_string(n) + "x" + std::to_string(m), n, m, synthetic_matrix(k, n, m, seed)});
  };
  add("rectangular", MatrixKind::Correlation, test::emu_scale(1500, 500), test::emu_scale(3000, 1100), 23);  // + reverse
  if (test::kEmulatedGpu) return all;
  add("uniform", MatrixKind::Uniform, 2048, 2048, 21);
  add("correlation", MatrixKind::Correlation, 4096, 4096, 22);
  add("rectangular", MatrixKind::Uniform, 3000, 1200, 24);
  return all;
}
void assign_rows(std::vector<Case>& t) {
  for (bool grid : {false, true})
    t.push_back({"assign", grid ? "assign_auction past one block" : "assign_auction in one block", [grid](const Device& d) {
                   Outs o;
                   for (const test::AssignCase& c : assign_matrices(grid))
                     for (bool minimize : {false, true}) {
                       if (c.n * (size_t)c.m > 4'000'000 && minimize) continue;  // keeps the CPU twin's share short
                       Array<double> M = put(d, c.M);
                       Array<int64_t> r2c(d, (size_t)c.n);
                       Array<char> work(d, std::max<size_t>(1, CVG_DISPATCH(d, assign_auction_workspace_bytes, c.n, c.m)));
                       const AuctionReport rep =
                           CVG_DISPATCH(d, assign_auction, M.data(), c.n, c.m, minimize, r2c.data(), work.data());
                       const std::string tag = c.name + (minimize ? " min " : " max ");
                       for (Out out : {exact("row_to_col", get(r2c)), exact("objective", {rep.objective}),
                                       exact("rounds", {(double)rep.rounds}), exact("phases", {(double)rep.phases}),
                                       exact("certified", {(double)rep.certified})}) {
                         out.name = tag + out.name;
                         o.push_back(out);
                       }
                     }
                   return o;
                 }});
}

// ---- conv: sums of N terms (test::conv_sum_lengths); the forward without bias must not read it.
void conv_rows(std::vector<Case>& t) {
  std::vector<ConvGeom> gs = test::small_conv_geoms();
  // CaffeNet's conv1 and conv2, then workloads with several im2col chunks and weight splits. On the
  // emulated GPU smaller batches and maps: same kernels, strides, pads and groups, one chunk.
  gs.push_back(
      test::conv_geom(test::emu_scale(2, 1), 3, test::emu_scale(227, 51), test::emu_scale(227, 51), 96, 11, 11, 4, 0, 1));
  gs.push_back(test::conv_geom(test::emu_scale(2, 1), 96, test::emu_scale(27, 13), test::emu_scale(27, 13), 256, 5, 5, 1, 2, 2));
  gs.push_back(test::conv_geom(test::emu_scale(64, 3), 32, 14, 14, 64, 5, 5, 1, 2, 1));  // the small net's conv2 at its batch
  gs.push_back(test::conv_geom(test::emu_scale(70, 5), 16, test::emu_scale(64, 12), test::emu_scale(64, 12), 8, 4, 4, 1, 1,
                               1));  // 3 im2col chunks, 3 images per weight split
  gs.push_back(test::conv_geom(test::emu_scale(12, 3), 64, test::emu_scale(64, 12), test::emu_scale(64, 12), 16, 5, 5, 1, 2,
                               2));  // chunks of 5, 5, 2 images
  for (const ConvGeom& g : gs)
    t.push_back({"conv", "conv " + test::conv_name(g), [g](const Device& d) {
                   const VF x = test::randn(g.x_size(), 51), w = test::randn(g.w_size(), 52), b = test::randn(g.k, 53),
                            dy = test::randn(g.y_size(), 54);
                   struct R {
                     VD y, y0, dx, dw, db;
                   };
                   auto run = [&](const VF& x, const VF& w, const VF& b, const VF& dy) {
                     Array<float> X = put(d, x), W = put(d, w), B = put(d, b), DY = put(d, dy);
                     Array<float> y(d, g.y_size()), dx(d, g.x_size()), dw(d, g.w_size()), db(d, g.k);
                     Array<float> ws(d, std::max<size_t>(CVG_DISPATCH(d, conv_workspace_floats, g), 1));
                     R r;
                     CVG_DISPATCH(d, conv_forward, g, X.data(), W.data(), nullptr, y.data(), ws.data());
                     r.y0 = get(y);
                     CVG_DISPATCH(d, conv_forward, g, X.data(), W.data(), B.data(), y.data(), ws.data());
                     CVG_DISPATCH(d, conv_backward_data, g, DY.data(), W.data(), dx.data(), ws.data());
                     CVG_DISPATCH(d, conv_backward_weights, g, X.data(), DY.data(), dw.data(), db.data(), ws.data());
                     r.y = get(y), r.dx = get(dx), r.dw = get(dw), r.db = get(db);
                     return r;
                   };
                   const R r = run(x, w, b, dy);
                   R a;  // |.| references: the CPU twin's only
                   if (!d.is_cuda()) a = run(test::abs_of(x), test::abs_of(w), test::abs_of(b), test::abs_of(dy));
                   const auto L = test::conv_sum_lengths(g);
                   return Outs{within("forward", r.y, kTwins * test::gamma_n(L.fwd), 0, a.y),
                               within("forward without bias", r.y0, kTwins * test::gamma_n(L.fwd), 0, a.y0),
                               within("backward data", r.dx, kTwins * test::gamma_n(L.bd), 0, a.dx),
                               within("backward weights", r.dw, kTwins * test::gamma_n(L.bw), 0, a.dw),
                               within("backward bias", r.db, kTwins * test::gamma_n(L.bw), 0, a.db)};
                 }});
}

// ---- gemm: the CUDA SGEMM and the CPU GEMM (kernels/fc.h today). Each twin is within gamma(k + 3)
// * absref of the exact alpha op(A) op(B) + beta C (k products, the alpha scale, the beta term and
// its addition). C's row padding holds NaN and must come back untouched (compared exactly).
struct GemmShape {
  bool ta, tb;
  int m, n, k;
  float alpha, beta;
};
std::vector<GemmShape> gemm_shapes() {
  std::vector<GemmShape> s;
  for (int t = 0; t < 4; ++t) {
    const bool ta = t & 1, tb = t & 2;
    s.push_back({ta, tb, 37, 29, 43, 0.7f, -1.3f});
    s.push_back({ta, tb, 1, 1, 1, 1.0f, 0.0f});
    s.push_back({ta, tb, 131, 97, 257, 1.0f, 0.0f});
    s.push_back({ta, tb, 70, 301, 123, -0.5f, 2.0f});
    s.push_back({ta, tb, 5, 3, 0, 1.0f, 0.5f});  // k = 0: C = beta C
    // 17 x 17 tiles of 128: the large-tile kernel (emulated: k over 2 tiles of 8)
    s.push_back({ta, tb, 2100, 2101, test::emu_scale(67, 11), 1.0f, 0.0f});
  }
  return s;
}
// rows x cols stored with row stride ld (> cols), the padding NaN.
VF padded(int rows, int cols, int ld, uint64_t seed) {
  VF v((size_t)std::max(rows, 1) * ld, NAN);
  const VF x = test::randn((size_t)rows * cols, seed);
  for (int i = 0; i < rows; ++i)
    for (int j = 0; j < cols; ++j) v[(size_t)i * ld + j] = x[(size_t)i * cols + j];
  return v;
}
void gemm_rows(std::vector<Case>& t) {
  for (const GemmShape& s : gemm_shapes()) {
    const std::string name = "gemm ta=" + std::to_string(s.ta) + " tb=" + std::to_string(s.tb) + " " + std::to_string(s.m) + "x" +
                             std::to_string(s.n) + "x" + std::to_string(s.k);
    t.push_back({"gemm", name, [s](const Device& d) {
                   // Stored shapes: A is m x k (k x m when ta), B is k x n (n x k when tb); odd paddings on every ld.
                   const int ar = s.ta ? s.k : s.m, ac = s.ta ? s.m : s.k, br = s.tb ? s.n : s.k, bc = s.tb ? s.k : s.n;
                   const int lda = ac + 3, ldb = bc + 5, ldc = s.n + 1;
                   const VF A = padded(ar, ac, lda, 1), B = padded(br, bc, ldb, 2), C = padded(s.m, s.n, ldc, 3);
                   auto run = [&](const VF& A, const VF& B, const VF& C, float alpha, float beta) {
                     Array<float> a = put(d, A), b = put(d, B), c = put(d, C);
                     CVG_DISPATCH(d, gemm, s.ta, s.tb, s.m, s.n, s.k, alpha, a.data(), lda, b.data(), ldb, beta, c.data(), ldc);
                     return get(c);
                   };
                   VD absref;
                   if (!d.is_cuda()) {
                     absref = run(test::abs_of(A), test::abs_of(B), test::abs_of(C), std::fabs(s.alpha), std::fabs(s.beta));
                     for (double& v : absref) v = std::isnan(v) ? 0.0 : v;  // the padding: compared exactly
                   }
                   return Outs{within("C", run(A, B, C, s.alpha, s.beta), kTwins * test::gamma_n(s.k + 3), 0, absref)};
                 }});
  }
}

// ---- fc: y = x w^T + b sums in + 1 terms, dx sums out, dw and db sum over the batch.
void fc_rows(std::vector<Case>& t) {
  struct Shape {
    int n, in, out;
  };
  // The small net's fc and CaffeNet's fc6 input width (emulated GPU: fewer samples and inputs).
  for (Shape s : {Shape{7, 33, 13}, Shape{test::emu_scale(64, 5), 3136, 500},
                  Shape{test::emu_scale(256, 3), test::emu_scale(9216, 1500), 129}})
    t.push_back(
        {"fc", "fc " + std::to_string(s.n) + "x" + std::to_string(s.in) + "->" + std::to_string(s.out), [s](const Device& d) {
           const VF x = test::randn((size_t)s.n * s.in, 31), w = test::randn((size_t)s.out * s.in, 32),
                    b = test::randn(s.out, 33), dy = test::randn((size_t)s.n * s.out, 34);
           auto run = [&](const VF& x, const VF& w, const VF& b, const VF& dy) {
             Array<float> X = put(d, x), W = put(d, w), B = put(d, b), DY = put(d, dy);
             Array<float> y(d, (size_t)s.n * s.out), dx(d, x.size()), dw(d, w.size()), db(d, s.out);
             CVG_DISPATCH(d, fc_forward, s.n, s.in, s.out, X.data(), W.data(), B.data(), y.data());
             CVG_DISPATCH(d, fc_backward_data, s.n, s.in, s.out, DY.data(), W.data(), dx.data());
             CVG_DISPATCH(d, fc_backward_weights, s.n, s.in, s.out, X.data(), DY.data(), dw.data(), db.data());
             return std::vector<VD>{get(y), get(dx), get(dw), get(db)};
           };
           const auto r = run(x, w, b, dy);
           std::vector<VD> a(4);
           if (!d.is_cuda()) a = run(test::abs_of(x), test::abs_of(w), test::abs_of(b), test::abs_of(dy));
           return Outs{within("forward", r[0], kTwins * test::gamma_n(s.in + 1), 0, a[0]),
                       within("backward data", r[1], kTwins * test::gamma_n(s.out), 0, a[1]),
                       within("backward weights", r[2], kTwins * test::gamma_n(s.n), 0, a[2]),
                       within("backward bias", r[3], kTwins * test::gamma_n(s.n), 0, a[3])};
         }});
}

// ---- init: the family has no CUDA twin: parameters are drawn on the host and uploaded
// (nn/net.h), so the row checks what a GPU net receives: the CPU's parameters, bit for bit.
void init_rows(std::vector<Case>& t) {
  t.push_back({"init", "fill_gaussian and fill_constant via Net::init, tiny net", [](const Device& d) {
                 const NetConfig cfg = load_net_config("tests/nets/tiny.json");
                 Net net(cfg, {1, 28, 28}, 10, d, 2);
                 net.init(7);
                 Outs o;
                 for (Param* p : net.params()) o.push_back(exact(p->name, get(p->value.data)));
                 return o;
               }});
}

// ---- loss
void loss_rows(std::vector<Case>& t) {
  // ImageNet-like (1000 classes, 37 rows: not a multiple of the 8 rows per block), CIFAR-like
  // (10 < 32 lanes), 33 (one lane wraps), and a row of huge logits.
  for (int c : {1000, 10, 33})
    t.push_back({"loss", "softmax_xent 37x" + std::to_string(c), [c](const Device& d) {
                   const int n = 37;
                   VF x = test::randn((size_t)n * c, 9, 3.0f);
                   for (int j = 0; j < c; ++j) x[j] = j % 3 ? -1e38f : 1e38f;    // row 0: huge, stays finite
                   for (int j = 0; j < c; ++j) x[c + j] = std::floor(x[c + j]);  // row 1: ties for class_rank
                   const std::vector<int32_t> label = test::labels_for(n, c, 10);
                   // Backward runs on the CPU's prob, so it is compared on identical inputs.
                   VF prob_cpu((size_t)n * c), loss_cpu(n);
                   cpu::softmax_xent_forward(n, c, x.data(), label.data(), prob_cpu.data(), loss_cpu.data());
                   Array<float> X = put(d, x), prob(d, x.size()), loss(d, n), P = put(d, prob_cpu), dx(d, x.size());
                   Array<int32_t> L = put(d, label), rank(d, n);
                   CVG_DISPATCH(d, softmax_xent_forward, n, c, X.data(), L.data(), prob.data(), loss.data());
                   CVG_DISPATCH(d, softmax_xent_backward, n, c, P.data(), L.data(), 1.0f / n, dx.data());
                   CVG_DISPATCH(d, class_rank, n, c, X.data(), L.data(), rank.data());
                   // prob: the GPU sums the exponentials in float over a warp tree (relative error
                   // <= (c/32 + 5) * 6e-8 ~ 2.3e-6 at c = 1000) where the CPU sums in double, and CUDA's
                   // expf is within 2 ulp: 1e-5 relative covers it with margin. loss = logf(sum) - (x_t - m):
                   // the sum's relative error becomes an absolute one, plus logf's 1 ulp of a loss up to ~30:
                   // 1e-5 + 1e-6 relative. backward: the same elementwise float expression (a subtraction
                   // then a product, nothing to fuse) on the same inputs: exact. class_rank counts: exact.
                   return Outs{within("prob", get(prob), 1e-5, 1e-30), within("loss", get(loss), 1e-6, 1e-5),
                               exact("backward", get(dx)), exact("class_rank", get(rank))};
                 }});
}

// ---- lrn
void lrn_rows(std::vector<Case>& t) {
  // CaffeNet's norm1 (96 x 27 x 27) and norm2 (256 x 13 x 13), plus the CPU tests' cases.
  std::vector<test::LrnCase> cases{{test::lrn_geom(4, 96, 27, 27, 5, 1e-4f, 0.75f, 1.0f), 30.0f, "caffenet norm1"},
                                   {test::lrn_geom(2, 256, 13, 13, 5, 1e-4f, 0.75f, 1.0f), 30.0f, "caffenet norm2"}};
  for (const test::LrnCase& c : test::lrn_cases()) cases.push_back(c);
  for (const test::LrnCase& c : cases)
    t.push_back(
        {"lrn", std::string("lrn ") + c.name, [c](const Device& d) {
           const LrnGeom& g = c.g;
           const size_t n = g.x_size();
           const VF x = test::randn(n, 9, c.sigma), dy = test::randn(n, 10);
           // Backward runs on the CPU's forward outputs, so it is compared on identical inputs.
           VF y_cpu(n), scale_cpu(n);
           cpu::lrn_forward(g, x.data(), y_cpu.data(), scale_cpu.data());
           Array<float> X = put(d, x), y(d, n), scale(d, n), Y = put(d, y_cpu), S = put(d, scale_cpu), DY = put(d, dy), dx(d, n);
           CVG_DISPATCH(d, lrn_forward, g, X.data(), y.data(), scale.data());
           CVG_DISPATCH(d, lrn_backward, g, X.data(), Y.data(), S.data(), DY.data(), dx.data());
           // scale: both sum the exact double squares in the same order and round the same fma
           // once (lrn_core.h): exact. y differs only through powf (CUDA <= 4 ulp, glibc < 1 ulp)
           // and one product: <= 6 ulp = 7e-7 relative; 1e-6. dx = dy powf(scale, -beta) - c x acc
           // with acc bit-identical: the powf term differs by <= 6 ulp of |dy| scale^-beta <= |dy|
           // <= ~5 here (k >= 1), so <= 4e-6 absolute even where the two terms cancel.
           return Outs{exact("scale", get(scale)), within("y", get(y), 1e-6, 1e-30), within("backward", get(dx), 1e-6, 4e-6)};
         }});
}

// ---- pool: exact. Forward only selects and both break ties by the first maximum in row-major
// order; backward's gather adds each input's window gradients in the CPU scatter's order from 0,
// with no multiply to fuse: the same float sums.
void pool_rows(std::vector<Case>& t) {
  auto add = [&](const PoolGeom& g, bool ties, const std::string& what) {
    t.push_back({"pool",
                 "maxpool " + what + " " + std::to_string(g.n) + "x" + std::to_string(g.c) + "x" + std::to_string(g.h) + "x" +
                     std::to_string(g.w) + " k" + std::to_string(g.kernel) + " s" + std::to_string(g.stride) + " p" +
                     std::to_string(g.pad),
                 [=](const Device& d) {
                   Array<float> x = put(d, ties ? test::tie_heavy(g.x_size(), 13) : test::randn(g.x_size(), 11)),
                                dy = put(d, test::randn(g.y_size(), 12)), y(d, g.y_size()), dx(d, g.x_size());
                   Array<int32_t> arg(d, g.y_size());
                   CVG_DISPATCH(d, maxpool_forward, g, x.data(), y.data(), arg.data());
                   CVG_DISPATCH(d, maxpool_backward, g, dy.data(), arg.data(), dx.data());
                   return Outs{exact("y", get(y)), exact("argmax", get(arg)), exact("backward", get(dx))};
                 }});
  };
  const PoolGeom big = test::pool_geom(8, 16, 55, 55, 3, 2, 0);  // CaffeNet's pool1
  add(big, false, "random");
  add(big, true, "ties");
  for (const PoolGeom& g : test::pool_geometries()) add(g, false, "random");
}

// ---- sgd: three steps, each row on the CPU twin's state after the steps before it.
void sgd_rows(std::vector<Case>& t) {
  for (int step = 0; step < 3; ++step)
    t.push_back({"sgd", "sgd_update step " + std::to_string(step + 1) + " of 100003", [step](const Device& d) {
                   const size_t n = 100003;
                   const float lr = 0.01f, mom = 0.9f, decay = 5e-4f;
                   VF w = test::randn(n, 1), v = test::randn(n, 2), g = test::randn(n, 3);
                   for (int s = 0; s < step; ++s) cpu::sgd_update(n, w.data(), v.data(), g.data(), lr, mom, decay);
                   // v' = mom v + lr (g + wd w): 4 roundings (5 without FMA) of terms of size |mom v|,
                   // |lr g|, |lr wd w|, so each twin is within gamma(5) * absv of the exact v'; w' = w - v'
                   // adds one rounding of |w| + |v'|.
                   VD absv(n), absw(n);
                   for (size_t i = 0; i < n; ++i) {
                     absv[i] = std::fabs(mom * v[i]) + lr * (std::fabs(g[i]) + decay * std::fabs(w[i]));
                     absw[i] = std::fabs(w[i]) + absv[i];
                   }
                   Array<float> W = put(d, w), V = put(d, v), G = put(d, g);
                   CVG_DISPATCH(d, sgd_update, n, W.data(), V.data(), G.data(), lr, mom, decay);
                   return Outs{within("momentum", get(V), 2 * test::gamma_n(5), 0, absv),
                               within("weights", get(W), 2 * test::gamma_n(5) + 2 * test::gamma_n(1), 0, absw)};
                 }});
}

// ---- stats
void stats_rows(std::vector<Case>& t) {
  // Moments. Cross-products and Grams: each twin is within kCrossRtol * sum|x y| of the exact value
  // (tests/shapes.h), so the twins are within twice that; sum|x y| from the CPU twin on absolute
  // values (relative rounding <= kCrossRtol, covered by 1.01). Sums: the same float32 differences,
  // float64 products and adds in another order: float64 rounding only, 1e-12 of the sum of magnitudes.
  for (const test::CrossCase& c : test::kCrossCases)
    t.push_back({"stats",
                 "moments n" + std::to_string(c.n) + " ca" + std::to_string(c.ca) + " cb" + std::to_string(c.cb) + " hw" +
                     std::to_string(c.hw),
                 [c](const Device& d) {
                   const VF a = test::randn((size_t)c.n * c.ca * c.hw, 11, 2.0f, 30.0f),
                            b = test::randn((size_t)c.n * c.cb * c.hw, 12, 0.5f, -5.0f);
                   const VF ra = test::randu(c.ca, 13, 29, 31), rb = test::randu(c.cb, 14, -6, -4);
                   // ra, rb empty: no shift.
                   auto cross = [&](const VF& a, const VF& ra, const VF& b, const VF& rb, int ca, int cb) {
                     Array<float> A = put(d, a), B = put(d, b), RA = put(d, ra), RB = put(d, rb);
                     Array<double> out = put(d, VD((size_t)ca * cb, 1.0));  // accumulates into what is there
                     Array<char> scratch(d, std::max<size_t>(1, CVG_DISPATCH(d, cross_scratch_bytes, c.n, ca, cb, c.hw)));
                     CVG_DISPATCH(d, accumulate_cross, c.n, ca, cb, c.hw, A.data(), ra.empty() ? nullptr : RA.data(), B.data(),
                                  rb.empty() ? nullptr : RB.data(), scratch.data(), out.data());
                     VD r = get(out);
                     for (double& v : r) v -= 1.0;
                     return r;
                   };
                   Array<float> A = put(d, a), RA = put(d, ra);
                   Array<double> gram = put(d, VD((size_t)c.ca * c.ca, 0.0)), gsum = put(d, VD(c.ca, 0.0)),
                                 gsq = put(d, VD(c.ca, 0.0)), sum = put(d, VD(c.ca, 0.0)), sq = put(d, VD(c.ca, 0.0)),
                                 plain = put(d, VD(c.ca, 0.0));
                   Array<char> scratch(d, std::max<size_t>(1, CVG_DISPATCH(d, gram_scratch_bytes, c.n, c.ca, c.hw)));
                   CVG_DISPATCH(d, accumulate_gram, c.n, c.ca, c.hw, A.data(), RA.data(), scratch.data(), gram.data(),
                                gsum.data(), gsq.data());
                   CVG_DISPATCH(d, accumulate_sums, c.n, c.ca, c.hw, A.data(), RA.data(), sum.data(), sq.data());
                   CVG_DISPATCH(d, accumulate_sums, c.n, c.ca, c.hw, A.data(), nullptr, plain.data(), nullptr);
                   VD abs_cross, abs_gram, abs_sum(c.ca, 0.0), abs_plain(c.ca, 0.0);
                   if (!d.is_cuda()) {
                     VF da(a.size()), db(b.size());
                     for (size_t e = 0; e < a.size(); ++e) da[e] = std::fabs(a[e] - ra[e / c.hw % c.ca]);
                     for (size_t e = 0; e < b.size(); ++e) db[e] = std::fabs(b[e] - rb[e / c.hw % c.cb]);
                     abs_cross = cross(da, {}, db, {}, c.ca, c.cb);
                     abs_gram = cross(da, {}, da, {}, c.ca, c.ca);
                     for (size_t e = 0; e < a.size(); ++e) {
                       abs_sum[e / c.hw % c.ca] += std::fabs((double)a[e] - ra[e / c.hw % c.ca]);
                       abs_plain[e / c.hw % c.ca] += std::fabs(a[e]);
                     }
                   }
                   const double f = 2 * test::kCrossRtol * (1 + test::kCrossRtol);
                   return Outs{within("accumulate_cross", cross(a, ra, b, rb, c.ca, c.cb), f, 0, abs_cross),
                               within("accumulate_gram", get(gram), f, 0, abs_gram),
                               within("accumulate_gram sum", get(gsum), 1e-12, 0, abs_sum),
                               within("accumulate_gram sum_sq", get(gsq), 1e-12, 0),
                               within("accumulate_sums sum", get(sum), 1e-12, 0, abs_sum),
                               within("accumulate_sums sum_sq", get(sq), 1e-12, 0),
                               within("accumulate_sums without shift", get(plain), 1e-12, 0, abs_plain)};
                 }});
  // Recentring: elementwise float64, the same formula; the GPU may contract to FMA (one rounding of a
  // float64 sum of three O(N*d*s) terms): 1e-14 relative.
  t.push_back({"stats", "recenter 70x33", [](const Device& d) {
                 const int ca = 70, cb = 33;
                 const VF r = test::randn((size_t)ca * cb + 2 * (ca + cb), 5);
                 VD cross(r.begin(), r.begin() + ca * cb), sa(ca), da(ca), sb(cb), db(cb);
                 for (int i = 0; i < ca; ++i) sa[i] = 100 * r[ca * cb + i], da[i] = r[ca * cb + ca + i];
                 for (int j = 0; j < cb; ++j) sb[j] = 100 * r[ca * cb + 2 * ca + j], db[j] = r[ca * cb + 2 * ca + cb + j];
                 Array<double> C = put(d, cross), SA = put(d, sa), DA = put(d, da), SB = put(d, sb), DB = put(d, db);
                 CVG_DISPATCH(d, recenter_cross, ca, cb, 1000.0, SA.data(), DA.data(), SB.data(), DB.data(), C.data());
                 CVG_DISPATCH(d, recenter_sums, ca, 1000.0, DA.data(), SA.data());
                 return Outs{within("recenter_cross", get(C), 1e-14, 1e-10), within("recenter_sums", get(SA), 1e-14, 1e-10)};
               }});
  // Histograms and the subsample: integers and copies, exact. Dims {n, ca, cb, hw, bins}: see the
  // CPU histogram test; 16 bins on 33 units needs the dynamic shared memory above 48 KB.
  for (const auto& dims :
       std::vector<std::array<int, 5>>{{3, 5, 7, 50, 10}, {41, 9, 20, 1, 10}, {6, 17, 33, 700, 16}, {2, 3, 2, 9000, 2}})
    t.push_back({"stats",
                 "histograms n" + std::to_string(dims[0]) + " ca" + std::to_string(dims[1]) + " cb" + std::to_string(dims[2]) +
                     " hw" + std::to_string(dims[3]) + " bins" + std::to_string(dims[4]),
                 [dims](const Device& d) {
                   const int n = dims[0], ca = dims[1], cb = dims[2], hw = dims[3], bins = dims[4];
                   const VF a = test::relu_data((size_t)n * ca * hw, 41), b = test::relu_data((size_t)n * cb * hw, 42);
                   Array<float> A = put(d, a), B = put(d, b), EA = put(d, test::edges_for(ca, bins, 300)),
                                EB = put(d, test::edges_for(cb, bins, 400));
                   Array<uint8_t> ba(d, a.size()), bb(d, b.size());
                   CVG_DISPATCH(d, compute_bins, n, ca, hw, A.data(), EA.data(), bins, ba.data());
                   CVG_DISPATCH(d, compute_bins, n, cb, hw, B.data(), EB.data(), bins, bb.data());
                   Array<uint64_t> joint = put(d, std::vector<uint64_t>((size_t)ca * cb * bins * bins, 3)),
                                   marg = put(d, std::vector<uint64_t>((size_t)ca * bins, 2));
                   CVG_DISPATCH(d, accumulate_joint_hist, n, ca, cb, hw, ba.data(), bb.data(), bins, joint.data());
                   CVG_DISPATCH(d, accumulate_marginal_hist, n, ca, hw, ba.data(), bins, marg.data());
                   const std::vector<int> idx = select_samples(0, n, hw, 3, 9);
                   const int cap = (int)idx.size() + 5;
                   Array<float> out = put(d, VF((size_t)ca * cap, -1.0f));
                   Array<int> I = put(d, idx);
                   CVG_DISPATCH(d, gather_samples, n, ca, hw, A.data(), (int)idx.size(), I.data(), cap, 2, out.data());
                   return Outs{exact("compute_bins a", get(ba)), exact("compute_bins b", get(bb)),
                               exact("accumulate_joint_hist", get(joint)), exact("accumulate_marginal_hist", get(marg)),
                               exact("gather_samples", get(out))};
                 }});
  // Top-k: ties everywhere (a coarse grid of values), a -inf row and a NaN; streamed in batches.
  t.push_back({"stats", "top-k 100 images x 37 units x 45 positions, k 9", [](const Device& d) {
                 const int c = 37, hw = 45, k = 9, batch = 16, images = 100;
                 VF all((size_t)images * c * hw);
                 for (size_t e = 0; e < all.size(); ++e) all[e] = std::floor(rng_uniform(3, 5, e) * 30.0f);
                 for (int p = 0; p < hw; ++p) all[((size_t)3 * c + 1) * hw + p] = -INFINITY;
                 all[((size_t)4 * c + 1) * hw + 2] = NAN;
                 Array<float> X = put(d, all), val(d, (size_t)c * k), mv(d, (size_t)batch * c);
                 Array<int> img(d, (size_t)c * k), pos(d, (size_t)c * k), am(d, (size_t)batch * c);
                 CVG_DISPATCH(d, topk_reset, c, k, val.data(), img.data(), pos.data());
                 VD maxima;
                 for (int b0 = 0; b0 < images; b0 += batch) {
                   const int n = std::min(batch, images - b0);
                   CVG_DISPATCH(d, unit_max_per_image, n, c, hw, X.data() + (size_t)b0 * c * hw, mv.data(), am.data());
                   for (const VD& v : {get(mv, 0, (size_t)n * c), get(am, 0, (size_t)n * c)})
                     maxima.insert(maxima.end(), v.begin(), v.end());
                   CVG_DISPATCH(d, topk_merge, n, c, k, mv.data(), am.data(), b0, val.data(), img.data(), pos.data());
                 }
                 return Outs{exact("unit_max_per_image", maxima), exact("topk value", get(val)), exact("topk image", get(img)),
                             exact("topk position", get(pos))};
               }});
}

// The table: every kernel family, in kernels/ order.
std::vector<Case> backend_cases() {
  std::vector<Case> t;
  for (auto rows :
       {act_rows, assign_rows, conv_rows, fc_rows, gemm_rows, init_rows, loss_rows, lrn_rows, pool_rows, sgd_rows, stats_rows})
    rows(t);
  return t;
}

#ifdef CONVERGENT_CUDA
// Compares one output of a case; CHECKs the bound and records the comparison for the gpu-check JSON.
void compare(const std::string& op, const Out& want, const Out& got) {
  CAPTURE(want.name);
  REQUIRE(got.v.size() == want.v.size());
  REQUIRE((want.absref.empty() || want.absref.size() == want.v.size()));
  const bool is_exact = want.factor == 0 && want.atol == 0;
  double worst = 0, max_diff = 0, bound_at = 0;
  size_t at = 0;
  for (size_t i = 0; i < want.v.size(); ++i) {
    const double c = want.v[i], g = got.v[i];
    // Equal values (infinities included) and NaN against NaN agree; NaN against a number does not.
    const double diff = c == g || (std::isnan(c) && std::isnan(g)) ? 0.0
                        : std::isnan(c) || std::isnan(g)           ? INFINITY
                                                                   : std::fabs(g - c);
    const double bound = want.factor * (want.absref.empty() ? std::fabs(c) : want.absref[i]) + want.atol;
    const double e = diff == 0 ? 0.0 : is_exact || bound == 0 ? INFINITY : diff / bound;
    max_diff = std::max(max_diff, diff);
    if (e > worst) worst = e, at = i, bound_at = bound;
  }
  INFO("worst normalised error ", worst, " at ", at, ": gpu ", got.v[at], ", cpu ", want.v[at], ", bound ", bound_at);
  CHECK(worst <= 1.0);
  char bound[160];
  if (is_exact)
    std::snprintf(bound, sizeof bound, "exact");
  else
    std::snprintf(bound, sizeof bound, "|gpu - cpu| <= %.3g * %s + %.3g", want.factor, want.absref.empty() ? "|cpu|" : "absref",
                  want.atol);
  test::record_gpu_result(op + ": " + want.name, worst, max_diff, bound);
}
#endif

// The one loop: every case of a family on both twins.
void run_family(const char* family) {
  if (!test::gpu_or_skip()) return;
#ifdef CONVERGENT_CUDA
  const Device gpu{Device::CUDA, 0};
  size_t cases = 0;
  for (const Case& c : backend_cases()) {
    if (c.family != family) continue;
    ++cases;
    CAPTURE(c.op);
    const Outs want = c.run(Device::cpu());
    const Outs got = c.run(gpu);
    REQUIRE(got.size() == want.size());
    for (size_t k = 0; k < want.size(); ++k) compare(c.op, want[k], got[k]);
  }
  CHECK(cases > 0);
#else
  (void)family;
#endif
}

}  // namespace

// One test case per family, so that a family can be run alone (-tc='conv:*'); names contain "GPU"
// for tests/emu/run.sh.
TEST_CASE("act: GPU twin matches the CPU twin (backend table)") { run_family("act"); }
TEST_CASE("assign: GPU twin matches the CPU twin (backend table)") { run_family("assign"); }
TEST_CASE("conv: GPU twin matches the CPU twin (backend table)") { run_family("conv"); }
TEST_CASE("fc: GPU twin matches the CPU twin (backend table)") { run_family("fc"); }
TEST_CASE("gemm: GPU twin matches the CPU twin (backend table)") { run_family("gemm"); }
TEST_CASE("init: GPU net receives the CPU twin's parameters (backend table)") { run_family("init"); }
TEST_CASE("loss: GPU twin matches the CPU twin (backend table)") { run_family("loss"); }
TEST_CASE("lrn: GPU twin matches the CPU twin (backend table)") { run_family("lrn"); }
TEST_CASE("pool: GPU twin matches the CPU twin (backend table)") { run_family("pool"); }
TEST_CASE("sgd: GPU twin matches the CPU twin (backend table)") { run_family("sgd"); }
TEST_CASE("stats: GPU twin matches the CPU twin (backend table)") { run_family("stats"); }

TEST_CASE("backend table: every kernel family has rows") {
  // Without a GPU this still checks the table itself: each family in kernels/ appears, and every
  // case has a name. The families are the kernels/<name>.h headers that declare twins (plus init,
  // whose only twin is the CPU's).
  std::set<std::string> families;
  for (const Case& c : backend_cases()) {
    CHECK(!c.op.empty());
    families.insert(c.family);
  }
  CHECK(families == std::set<std::string>{"act", "assign", "conv", "fc", "gemm", "init", "loss", "lrn", "pool", "sgd", "stats"});
}
