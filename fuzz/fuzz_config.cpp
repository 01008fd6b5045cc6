// Net configs (JSON): parse, and build the net when the config is small enough to allocate.
#include <algorithm>
#include <string>

#include "fuzz/fuzz_util.h"
#include "nn/config.h"
#include "nn/net.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  cvg::fuzz::expect_clean([&] {
    cvg::NetConfig cfg = cvg::parse_net_config(text, "input.json");
    size_t in = (size_t)cfg.input[0] * cfg.input[1] * cfg.input[2];
    size_t width = 0, side = std::max(cfg.input[1], cfg.input[2]);
    for (const auto& l : cfg.layers) {
      width += (size_t)l.num_output * l.kernel_size * l.kernel_size;
      side += 2 * (size_t)std::max(l.pad, 0);  // padding grows the planes (pad 256 on 7x7: 517x517)
    }
    // Small enough to allocate: a net this large legitimately needs gigabytes even at batch 1.
    if (in <= 4096 && width <= 4096 && side <= 256) cvg::Net net(cfg, cfg.input, 3, cvg::Device::cpu(), 1);
  });
  return 0;
}
