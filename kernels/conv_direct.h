// Convolution forward without im2col, on AVX2 + FMA (kernels/conv_direct_avx2.cpp): the CPU twin's
// (kernels/conv_cpu.cpp) fast route for layers whose per-group filter count is a multiple of 8.
// It is the im2col GEMM with the GEMM's left operand gathered: output channels are the vector lanes,
// each input value is broadcast from a zero-padded copy of the images, read at the tap's offset plus
// the position's. Every output is the GEMM's own chain of FMAs over the patch in order (blocks of
// avx512::kBlockK added in order, then the bias), less the taps whose input row lies in the padding
// for all of a tile's positions: those products are w * 0, and adding a zero product to a sum that
// starts at +0 changes no bit (the sum is never -0), so the outputs are BITWISE the GEMM route's, on
// either kernel set, for finite weights. Call only where the CPU has AVX2 and FMA (gemm_kernels()).
#pragma once
#include <cstdint>
#include <vector>

#include "kernels/conv.h"
#include "kernels/conv_core.h"

namespace cvg::cpu {

// What both direct routes share: a group's channels of up to max_images images copied with their
// zero padding (planes of hp_ x wp_), each output position's offset in that copy, and the filter
// tiles whose filters are the vector lanes.
class PaddedGroups {
 protected:
  PaddedGroups(const ConvGeom& g, int max_images, const char* who);
  // std::logic_error naming `who` unless 1 <= nb <= max_images.
  void check_images(int nb, const char* who) const;
  // xpad[image][channel] = group gr's channels of the nb images from x, zeros around.
  void pad(const float* x, int nb, int gr, float* xpad) const;

  ConvGeom g_;
  conv_core::Dims d_;  // the per-group sizes both conv twins use
  int hp_, wp_;        // the padded images' height and width
  int max_images_;
  std::vector<int> tile_nv_;  // filter tiles: vectors of 8 filters in each
  std::vector<int32_t> pos_;  // position q of the images side by side: its offset in the padded images
};

class DirectConv : PaddedGroups {
 public:
  // Whether the direct route takes g: per-group filter count a multiple of 8 from 16 on, patches of
  // 64 or more (not a 1x1 stride-1 unpadded conv, whose input is already its im2col).
  static bool fits(const ConvGeom& g);
  // Scratch floats per call of forward() for nb images: their padded copy and the output tile.
  static size_t floats(const ConvGeom& g, int nb);
  // Packs the weights (per group, W^T in 24-channel column tiles) and plans tiles of positions for
  // up to max_images images per call.
  DirectConv(const ConvGeom& g, int max_images, const float* w);
  // y (nb images from the first at y) = x (*) w + b for the nb images from x; b may be null; nb <=
  // max_images; single-threaded, ws holds floats(g, nb).
  void forward(const float* x, int nb, const float* b, float* y, float* ws) const;

 private:
  struct TapList {              // the patch rows a position tile reads, in patch order
    std::vector<int32_t> x, w;  // offset in the padded images; offset of the row in a packed tile
    std::vector<int> cut;       // block q's entries are [cut[q], cut[q+1])
  };
  std::vector<float> wpack_;    // group gr, column tile t: [ckk][24] at (gr * tiles + t) * ckk * 24
  std::vector<int> tile_list_;  // position tile (4 positions) -> its TapList
  std::vector<TapList> lists_;
};

// Convolution backward-weights without im2col, on AVX2 + FMA: the route of conv_cpu.cpp's GEMMs
// dw_g (+)= dy_g col^T with col never written. Output channels are the vector lanes (dy turned to
// [position][channel] per filter tile), each input broadcast from a zero-padded copy at the
// tap's offset plus the position's; tiles of 24 channels x 4 taps (12 accumulators) or 16 x 6.
// Every sum is the packed GEMM's chain of FMAs over a call's positions in blocks of
// avx512::kBlockK, each block added to the sum before it, so dw is BITWISE the GEMM route's on
// either kernel set (col's padding zeros are read here as the padded copy's zeros: the same
// products). Call only where the CPU has AVX2 and FMA (gemm_kernels()).
class DirectWeights : PaddedGroups {
 public:
  // Whether the route takes g: the GEMM route's product on the packed kernels (gemm_nt_on_packed,
  // whose arithmetic this is), per-group filter count a multiple of 8, not a 1x1 stride-1 unpadded
  // conv (whose input is already its im2col).
  static bool fits(const ConvGeom& g);
  // Scratch floats for calls of up to nb images; the sums (ct of add) are not part of it.
  static size_t floats(const ConvGeom& g, int nb);
  DirectWeights(const ConvGeom& g, int max_images);
  // ct[group][patch row][filter] (w_size floats, dw transposed per group) = (first ? 0 : ct) +
  // the nb images' dy (*) x, nb images from x and dy; single-threaded, ws holds floats(g, nb).
  void add(const float* x, const float* dy, int nb, bool first, float* ct, float* ws) const;
  // dw[group][filter][patch row] = ct transposed.
  void to_dw(const float* ct, float* dw) const;

 private:
  std::vector<int32_t> taps_;  // patch row r: its offset in a padded image
};

}  // namespace cvg::cpu
