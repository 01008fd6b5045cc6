// Image-folder decoding (stb_image: JPEG, PNG, BMP, PPM/PGM) with the resize + crop pass, small
// sizes so each input is fast; training augmentation on, to reach the random-crop path too.
#include <filesystem>

#include "data/readers.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string dir = [] {
    std::string d = cvg::fuzz::work_dir() + "/images";
    cvg::make_dirs(d + "/a");
    return d;
  }();
  cvg::fuzz::write(dir + "/a/x.png", data, size);
  cvg::fuzz::expect_clean([&] {
    auto ds = cvg::data::open_image_folder(dir, "train", 24, 16);
    std::vector<float> x(ds->shape().size());
    ds->load(0, x.data(), true, 1);
  });
  return 0;
}
