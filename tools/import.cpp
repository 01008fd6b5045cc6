// bin/import: a net trained elsewhere (.npy folder or .safetensors file) becomes a run folder with one
// regular checkpoint, which every other tool reads.
#include <cstdio>

#include "data/dataset.h"
#include "nn/import.h"
#include "nn/checkpoint.h"
#include "nn/config.h"
#include "base/cli.h"

using namespace cvg;

static std::vector<int> parse_input_shape(const std::string& s) {
  std::vector<int> out;
  for (const std::string& p : cli::list_items("input", s, /*repeats=*/true)) {
    char* end = nullptr;
    long v = std::strtol(p.c_str(), &end, 10);
    if (*end || v <= 0 || v > 1 << 16) throw cli::UsageError("--input expects C,H,W (positive integers), got '" + s + "'");
    out.push_back((int)v);
  }
  if (out.size() != 3) throw cli::UsageError("--input expects C,H,W, got '" + s + "'");
  return out;
}

int main(int argc, char** argv) {
  return cli::run_main([&] {
    cli::Args a("import --net CONFIG --from DIR_OR_FILE --out RUN_DIR [options]",
                "Writes a checkpoint (RUN_DIR/ckpt-<iteration>.bin) from weights trained elsewhere:\n"
                "  a folder of float32 .npy files named as `bin/train --export-npy` writes them\n"
                "  (conv1.weight.npy [out, in, kh, kw], fc6.weight.npy [out, in], conv1.bias.npy, ...; hidden\n"
                "  files such as macOS's ._*.npy are skipped), or\n"
                "  a .safetensors file (F32, F16 or BF16; converted to float32), with --map for other names.\n"
                "Every parameter of the net must be there exactly once with the config's shape; a missing,\n"
                "extra or mis-shaped tensor is an error naming it. Momenta are zero. Outputs: docs/OUTPUTS.md.");
    a.opt("net", "", "net config (data/nets/*.json)")
        .opt("from", "", "folder of .npy files, or a .safetensors file")
        .opt("map", "", "JSON file: an object renaming tensors, {\"features.0.weight\": \"conv1.weight\", ...}")
        .opt("out", "", "run folder to create (must not exist, or be empty)")
        .opt("data", "fashion-mnist", "dataset the net expects, recorded for the other tools")
        .opt("input", "", "input shape C,H,W (default: the config's)")
        .opt("classes", "", "number of classes (default: from the classifier's weight)")
        .opt("seed", "0", "seed recorded in the checkpoint (dropout masks if training continues)")
        .opt("iteration", "0", "iteration recorded in the checkpoint");
    if (!a.parse(argc, argv)) return 0;
    a.no_positional();
    for (const char* req : {"net", "from", "out"})
      if (a.str(req).empty()) throw cli::UsageError(std::string("--") + req + " is required (see --help)");

    check_dataset_kind(a.str("data"));
    require_new_folder(a.path("out"));
    NetConfig cfg = load_net_config(a.str("net"));
    const std::string from = a.str("from");
    std::vector<NamedTensor> tensors = read_weights(from);
    if (a.given("map")) rename_tensors(tensors, read_name_map(a.str("map")), from);

    std::vector<int> input = a.given("input") ? parse_input_shape(a.str("input")) : cfg.input;
    int classes = a.given("classes") ? a.int32("classes") : classes_from_tensors(cfg, tensors);
    if (a.given("classes") && classes <= 0) throw cli::UsageError("--classes must be positive");
    if (classes <= 0) classes = 1;  // the config has no "classes" layer, or its weight is missing (reported below)
    if (a.integer("seed") < 0 || a.integer("iteration") < 0) throw cli::UsageError("--seed and --iteration must be non-negative");
    if (a.integer("iteration") > kMaxIteration)
      throw cli::UsageError("--iteration must be at most " + std::to_string(kMaxIteration) + " (checkpoint names have 9 digits)");

    Net net(cfg, input, classes, Device::cpu(), 1);
    net.init(0);
    load_tensors(net, tensors, from);
    CheckpointInfo info;
    info.seed = (uint64_t)a.integer("seed");
    info.iteration = a.integer("iteration");
    info.data_spec = a.str("data");
    info.extra = {{"imported_from", from}};
    if (a.given("map")) info.extra["name_map"] = a.str("map");
    std::string path = write_run_folder(a.str("out"), net, info);
    std::printf("import: %zu tensors of %s (%d classes, input %s) -> %s\n", tensors.size(), cfg.name.c_str(), classes,
                shape_string(input).c_str(), path.c_str());
    return 0;
  });
}
