// A procedural image classification set: 3x32x32 colour images, 10 classes, generated in load() from
// the counter RNG keyed by (fixed seed, split, index), so any sample is reproducible alone.
//
// Every image: a background of random colour (low saturation) with a linear brightness gradient, one
// object at a random position (centre in [8, 24]^2) and size, in a saturated colour whose brightness
// contrasts with the background, 2x2 supersampled edges, and uniform pixel noise of +-0.05.
// Classes (label = index % 10, so the set is exactly balanced):
//   0 disc, warm hue (red..orange)      1 disc, cool hue (blue)
//   2 square, any rotation               3 triangle, any rotation
//   4 bar, horizontal +-10 deg           5 bar, vertical +-10 deg       6 bar, diagonal (45 or 135 +-10 deg)
//   7 stripes at 45 deg, round patch     8 stripes at 135 deg           9 checkerboard, round patch
// Telling them apart needs oriented edge detectors (bars, stripes), colour (0 vs 1) and shape/texture
// (disc vs square vs triangle vs patches): what conv1 should learn. Values: x = (p - 0.5) / 0.25 with
// p in [0, 1] (Normalisation mean 0.5, std 0.25).
#include <algorithm>
#include <cmath>

#include "data/readers.h"
#include "kernels/rng.h"

namespace cvg::data {

namespace {

constexpr int kSize = 32, kClasses = 10;
constexpr uint64_t kSeed = 0x5e7e11c0ffeeULL;  // fixed: the synthetic set is the same everywhere
constexpr float kPi = 3.14159265358979f;

struct RGB {
  float r, g, b;
};

// h in turns (0..1), s and v in 0..1.
RGB hsv(float h, float s, float v) {
  h -= std::floor(h);
  const float f = h * 6.0f - std::floor(h * 6.0f);
  const float p = v * (1 - s), q = v * (1 - s * f), t = v * (1 - s * (1 - f));
  switch ((int)(h * 6.0f) % 6) {
    case 0:
      return {v, t, p};
    case 1:
      return {q, v, p};
    case 2:
      return {p, v, t};
    case 3:
      return {p, q, v};
    case 4:
      return {t, p, v};
    default:
      return {v, p, q};
  }
}

class Synthetic : public Dataset {
 public:
  Synthetic(const std::string& split, size_t n) : split_(split), n_(n), stream_(rng_stream(("synthetic/" + split).c_str())) {}
  size_t size() const override { return n_; }
  int num_classes() const override { return kClasses; }
  ImageShape shape() const override { return {3, kSize, kSize}; }
  Normalisation normalisation() const override { return {{0.5f, 0.5f, 0.5f}, {0.25f, 0.25f, 0.25f}}; }
  std::string describe() const override { return describe_set("synthetic " + split_, n_, shape(), kClasses); }

  int32_t load(size_t i, float* out, bool, uint64_t) const override {
    const int label = (int)(i % kClasses);
    auto U = [&](int k) { return rng_uniform(kSeed, stream_, (uint64_t)i * 32 + (uint64_t)k); };

    // Background, and an object brightness on the other side of 0.5 from it.
    const float bg_v = 0.1f + 0.8f * U(0);
    const RGB bg = hsv(U(1), 0.1f + 0.4f * U(2), bg_v);
    const float grad_angle = 2 * kPi * U(3), grad = 0.15f * U(4) / kSize;
    float hue = U(5);
    if (label == 0) hue = -0.06f + 0.14f * U(5);  // -22..+29 degrees
    if (label == 1) hue = 0.55f + 0.14f * U(5);   // 198..248 degrees
    const float obj_v = bg_v > 0.5f ? 0.1f + 0.3f * U(6) : 0.65f + 0.35f * U(6);
    const RGB obj = hsv(hue, 0.6f + 0.4f * U(7), obj_v);

    const float cx = 8 + 16 * U(8), cy = 8 + 16 * U(9), s = U(10);
    float angle = 2 * kPi * U(11);  // shapes: any rotation; bars and stripes: the class's orientation
    const float jitter = (U(12) - 0.5f) * (20 * kPi / 180);
    if (label == 4) angle = jitter;
    if (label == 5) angle = kPi / 2 + jitter;
    if (label == 6) angle = (U(13) < 0.5f ? kPi / 4 : 3 * kPi / 4) + jitter;
    if (label == 7) angle = kPi / 4 + jitter;
    if (label == 8) angle = 3 * kPi / 4 + jitter;
    const float ca = std::cos(angle), sa = std::sin(angle);
    const float period = 4 + 2 * U(14), phase = period * U(15), cell = 3 + 2 * U(16);
    const float bar_len = 16 + 10 * s, bar_w = 3 + 2 * U(17);

    // Is point (x, y) (pixel units) object colour?
    auto covered = [&](float x, float y) {
      const float dx = x - cx, dy = y - cy;
      const float u = dx * ca + dy * sa, v = -dx * sa + dy * ca;  // along / across the orientation
      switch (label) {
        case 0:
        case 1: {
          const float r = 5 + 4 * s;
          return dx * dx + dy * dy < r * r;
        }
        case 2: {
          const float a = 4.5f + 3.5f * s;
          return std::fabs(u) < a && std::fabs(v) < a;
        }
        case 3: {
          const float inradius = 3 + 2 * s;  // equilateral: half the circumradius
          for (int k = 0; k < 3; ++k) {
            const float t = kPi / 2 + k * 2 * kPi / 3;
            if (u * std::cos(t) + v * std::sin(t) > inradius) return false;
          }
          return true;
        }
        case 4:
        case 5:
        case 6:
          return std::fabs(u) < bar_len / 2 && std::fabs(v) < bar_w / 2;
        case 7:
        case 8: {
          const float r = 8 + 4 * s;
          return dx * dx + dy * dy < r * r && std::fmod(v + phase + 100 * period, period) < period / 2;
        }
        default: {
          const float r = 8 + 4 * s;
          const int gx = (int)std::floor((dx + phase) / cell), gy = (int)std::floor((dy + phase) / cell);
          return dx * dx + dy * dy < r * r && ((gx + gy) & 1) == 0;
        }
      }
    };

    const size_t plane = (size_t)kSize * kSize;
    const uint64_t noise_stream = stream_ ^ 0x6e6f697365ULL;
    for (int y = 0; y < kSize; ++y) {
      for (int x = 0; x < kSize; ++x) {
        int hits = 0;
        for (int sy = 0; sy < 2; ++sy)
          for (int sx = 0; sx < 2; ++sx) hits += covered(x + 0.25f + 0.5f * sx, y + 0.25f + 0.5f * sy);
        const float a = hits * 0.25f;
        const float shade = grad * ((x - 16) * std::cos(grad_angle) + (y - 16) * std::sin(grad_angle));
        const float rgb[3] = {bg.r + shade + a * (obj.r - bg.r - shade), bg.g + shade + a * (obj.g - bg.g - shade),
                              bg.b + shade + a * (obj.b - bg.b - shade)};
        for (int c = 0; c < 3; ++c) {
          const size_t k = (size_t)c * plane + (size_t)y * kSize + x;
          const float noise = 0.1f * (rng_uniform(kSeed, noise_stream, (uint64_t)i * 3 * plane + k) - 0.5f);
          const float p = std::clamp(rgb[c] + noise, 0.0f, 1.0f);
          out[k] = (p - 0.5f) * 4.0f;
        }
      }
    }
    return label;
  }

 private:
  std::string split_;
  size_t n_;
  uint64_t stream_;
};

}  // namespace

std::unique_ptr<Dataset> open_synthetic(const std::string& split, size_t n_train, size_t n_test) {
  return std::make_unique<Synthetic>(split, split == "train" ? n_train : n_test);
}

}  // namespace cvg::data
