#include "analysis/vis/receptive_field.h"

#include "base/io.h"
#include "nn/layers.h"
#include "nn/net.h"

namespace cvg {

Window ReceptiveField::window(int oy, int ox) const {
  if (whole_input) return Window{0, 0, in_h, in_w};
  return Window{offset + jump * oy, offset + jump * ox, size, size};
}

ReceptiveField receptive_field(const NetConfig& cfg, const std::vector<int>& input, const std::string& layer) {
  ReceptiveField rf;
  rf.in_h = input.at(1), rf.in_w = input.at(2);
  for (const LayerConfig& l : cfg.layers) {
    const WindowStep step = layer_kind(l.type).step(l);
    if (step.whole_input) {
      rf.whole_input = true;
    } else {
      // A window of k positions of this layer's input, each seeing `size` pixels `jump` apart.
      // Neighbouring positions of this layer's input see windows `jump` apart; if that exceeds
      // their size, a kernel over several of them covers pixels with gaps in between.
      if (step.kernel > 1 && rf.jump > rf.size) rf.exact = false;
      rf.offset -= step.pad * rf.jump;
      rf.size += (step.kernel - 1) * rf.jump;
      rf.jump *= step.stride;
    }
    if (l.name == layer) return rf;
  }
  throw InputError(cfg.path + ": net " + cfg.name + " has no layer '" + layer + "'");
}

ReceptiveField receptive_field(const Net& net, const std::string& layer) {
  return receptive_field(net.config(), net.input_shape(), layer);
}

std::vector<float> crop(const float* image, int c, int h, int w, const Window& win, const float* fill) {
  std::vector<float> out((size_t)c * win.h * win.w);
  for (int ch = 0; ch < c; ++ch)
    for (int y = 0; y < win.h; ++y)
      for (int x = 0; x < win.w; ++x) {
        int iy = win.y0 + y, ix = win.x0 + x;
        bool inside = iy >= 0 && iy < h && ix >= 0 && ix < w;
        out[((size_t)ch * win.h + y) * win.w + x] = inside ? image[((size_t)ch * h + iy) * w + ix] : (fill ? fill[ch] : 0.0f);
      }
  return out;
}

}  // namespace cvg
