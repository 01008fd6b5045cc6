// IDX image + label files, plain or gzip: the input's first byte says how many of the following
// bytes belong to the labels file; the rest is the images file.
#include "data/readers.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  size_t nl = std::min<size_t>(data[0], size - 1);
  const std::string dir = cvg::fuzz::work_dir();
  cvg::fuzz::write(dir + "/t10k-labels-idx1-ubyte", data + 1, nl);
  cvg::fuzz::write(dir + "/t10k-images-idx3-ubyte", data + 1 + nl, size - 1 - nl);
  cvg::fuzz::expect_clean([&] {
    auto ds = cvg::data::open_idx("fuzz", dir, "test", {{0.5f}, {0.5f}});
    std::vector<float> x(ds->shape().size());
    ds->load(ds->size() - 1, x.data(), false, 0);
  });
  return 0;
}
