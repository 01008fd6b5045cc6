// CIFAR-10 and CIFAR-100 binary files (the same bytes read as both).
#include "data/readers.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string dir = cvg::fuzz::work_dir();
  cvg::fuzz::write(dir + "/test_batch.bin", data, size);
  cvg::fuzz::write(dir + "/test.bin", data, size);
  for (int classes : {10, 100})
    cvg::fuzz::expect_clean([&] {
      auto ds = cvg::data::open_cifar(classes, dir, "test");
      std::vector<float> x(ds->shape().size());
      ds->load(ds->size() - 1, x.data(), false, 0);
    });
  return 0;
}
