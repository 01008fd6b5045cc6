// Functional tests of a matching of units: weight interpolation between two nets (is there a loss
// barrier between A and B, and does permuting B into A's order remove it?) and layer stitching
// (can A's layers up to L feed B's layers after L?). Both only mix parameters of nets with the same
// architecture, then evaluate the mixed net on a dataset.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "nn/net.h"

namespace cvg {

// Throws InputError unless the nets have the same parameters (names and shapes) and the same layers
// (names, kinds and the settings a forward pass uses, in order).
void check_same_architecture(Net& a, Net& b, const std::string& name_a, const std::string& name_b);

// Every parameter of `out` = (1-t)*a + t*b, computed in float; momenta zeroed. t = 0 and t = 1 give
// a and b exactly.
void interpolate_params(Net& a, Net& b, float t, Net& out);
// `out` gets a's parameters for the conv and fc layers up to and including `layer`, b's after it.
void stitch_params(Net& a, Net& b, const std::string& layer, Net& out);

struct CurvePoint {
  double t = 0, loss = 0, top1 = 0;  // mean loss and top-1 accuracy at (1-t)A + tB
};
// The largest loss above the straight line between the end points' losses (>= 0: the end points
// lie on it), and where it is.
struct Barrier {
  double height = 0, t = 0;
};
Barrier barrier_height(const std::vector<CurvePoint>& curve);

// Evaluates (1-t)a + tb at t = k/steps, k = 0..steps, using `work` (same architecture) as scratch.
std::vector<CurvePoint> interpolation_curve(Net& a, Net& b, Net& work, const Dataset& data, int steps, int batch,
                                            int threads = 2);

struct StitchPoint {
  std::string layer;  // A's layers up to and including this one, then B's
  double loss = 0, top1 = 0;
};
// One point per conv or fc layer but the last (stitching after the last layer is A itself).
std::vector<StitchPoint> stitch_curve(Net& a, Net& b, Net& work, const Dataset& data, int batch, int threads = 2);

// --fit: A's layers up to L (and the pooling / LRN after it), a 1x1 conv "stitch" that maps A's units
// to B's inputs (initialised to the identity, so with zero iterations it is the plain stitch), then
// B's layers. Only the stitching layer learns: SGD on `train` with the other layers frozen.
struct FitOptions {
  int iterations = 300, batch = 64, threads = 2;
  float lr = 0.01f, momentum = 0.9f;
  uint64_t order_seed = 0;
};
std::unique_ptr<Net> fit_stitch(Net& a, Net& b, const std::string& layer, const Dataset& train, const FitOptions& opt);

// The first n samples of a dataset (all of them when n < 0 or n >= its size); owns `data`.
std::unique_ptr<Dataset> first_samples(std::unique_ptr<Dataset> data, long long n);

}  // namespace cvg
