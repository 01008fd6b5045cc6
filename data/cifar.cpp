// CIFAR binary reader. A CIFAR-10 record is 1 label byte + 3072 pixel bytes (R, G, B planes of 32x32,
// i.e. already CHW); a CIFAR-100 record is a coarse label byte, a fine label byte, then the pixels.
// CIFAR-10: data_batch_1..5.bin (train), test_batch.bin; CIFAR-100: train.bin, test.bin (fine labels).
#include "data/readers.h"

namespace cvg::data {

std::unique_ptr<Dataset> open_cifar(int classes, const std::string& dir_in, const std::string& split) {
  const bool c10 = classes == 10;
  std::vector<std::string> names;
  if (c10 && split == "train")
    for (int k = 1; k <= 5; ++k) names.push_back("data_batch_" + std::to_string(k) + ".bin");
  else if (c10)
    names.push_back("test_batch.bin");
  else
    names.push_back(split + ".bin");
  // Accept the folder the official tarball unpacks to, as well as the files themselves.
  std::string dir = dir_in;
  const std::string sub = dir + (c10 ? "/cifar-10-batches-bin" : "/cifar-100-binary");
  if (!file_exists(dir + "/" + names[0]) && file_exists(sub + "/" + names[0])) dir = sub;

  const size_t label_bytes = c10 ? 1 : 2, image_bytes = 3 * 32 * 32, record = label_bytes + image_bytes;
  std::vector<uint8_t> pixels;
  std::vector<int32_t> labels;
  for (const auto& name : names) {
    const std::string path = dir + "/" + name;
    if (!file_exists(path)) throw InputError(path + ": not found");
    const std::vector<char> raw = read_file(path);
    if (raw.empty() || raw.size() % record != 0)
      throw InputError(path + ": size " + std::to_string(raw.size()) + " is not a positive multiple of the " +
                       std::to_string(record) + "-byte record");
    const size_t n = raw.size() / record;
    const uint8_t* p = reinterpret_cast<const uint8_t*>(raw.data());
    for (size_t i = 0; i < n; ++i, p += record) {
      if (!c10 && p[0] >= 20)
        throw InputError(path + ": coarse label " + std::to_string(p[0]) + " of record " + std::to_string(i) +
                         " is outside 0..19");
      const int label = p[label_bytes - 1];
      if (label >= classes)
        throw InputError(path + ": label " + std::to_string(label) + " of record " + std::to_string(i) + " is outside 0.." +
                         std::to_string(classes - 1));
      labels.push_back(label);
      pixels.insert(pixels.end(), p + label_bytes, p + record);
    }
  }
  const Normalisation norm = c10 ? Normalisation{{0.4914f, 0.4822f, 0.4465f}, {0.2470f, 0.2435f, 0.2616f}}
                                 : Normalisation{{0.5071f, 0.4865f, 0.4409f}, {0.2673f, 0.2564f, 0.2762f}};
  return std::make_unique<ByteImages>((c10 ? "cifar10 " : "cifar100 ") + split, ImageShape{3, 32, 32}, classes, norm,
                                      std::move(pixels), std::move(labels));
}

}  // namespace cvg::data
