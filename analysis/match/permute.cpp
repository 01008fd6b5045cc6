#include "analysis/match/permute.h"

#include <algorithm>
#include <functional>

#include "base/io.h"

namespace cvg {

namespace {

// Views a parameter (its values and momenta) as [outer, n, inner] and sets
// new[o][i][:] = old[o][src(o, i)][:].
void permute_view(Param& p, size_t outer, size_t n, size_t inner, const std::function<int(size_t, size_t)>& src) {
  for (Tensor* t : {&p.value, &p.momentum}) {
    std::vector<float> old = t->data.to_host(), out(old.size());
    for (size_t o = 0; o < outer; ++o)
      for (size_t i = 0; i < n; ++i) {
        const float* from = old.data() + (o * n + (size_t)src(o, i)) * inner;
        std::copy(from, from + inner, out.data() + (o * n + i) * inner);
      }
    t->data.from_host(out);
  }
}

// The index of the conv or fc layer after layer `i`, -1 when none.
int next_param_layer(const Net& net, int i) {
  const auto& layers = net.layers();
  for (int j = i + 1; j < (int)layers.size(); ++j)
    if (layers[j]->cfg.has_params()) return j;
  return -1;
}

void check_permutation(const std::string& layer, const std::vector<int>& p, int units) {
  if ((int)p.size() != units)
    throw InputError("layer " + layer + ": permutation of " + std::to_string(p.size()) + " units, the layer has " +
                     std::to_string(units));
  std::vector<char> seen(units, 0);
  for (int v : p) {
    if (v < 0 || v >= units || seen[v]++)
      throw InputError("layer " + layer + ": not a permutation of its " + std::to_string(units) + " units (unit " +
                       std::to_string(v) + ")");
  }
}

// Units of a grouped layer, or of the layer feeding one (`grouped`), may only move inside their
// group of `block` consecutive units.
void check_groups(const std::string& layer, const std::string& grouped, const std::vector<int>& p, int block) {
  for (size_t i = 0; i < p.size(); ++i)
    if (p[i] / block != (int)i / block)
      throw InputError("layer " + layer + ": the permutation moves unit " + std::to_string(p[i]) + " across " +
                       (grouped == layer ? "its" : grouped + "'s") + " channel groups (" + std::to_string(p.size() / block) +
                       " groups of " + std::to_string(block) +
                       " units; bin/correlate's matching ignores groups, so grouped nets cannot be permuted by it)");
}

}  // namespace

std::vector<std::string> permutable_layers(const Net& net) {
  std::vector<std::string> out;
  const auto& layers = net.layers();
  for (int i = 0; i < (int)layers.size(); ++i)
    if (layers[i]->cfg.has_params() && next_param_layer(net, i) >= 0) out.push_back(layers[i]->cfg.name);
  return out;
}

void permute_units(Net& net, const UnitPermutations& perms) {
  const std::vector<std::string> allowed = permutable_layers(net);
  for (const auto& entry : perms) {
    const std::string& name = entry.first;
    const std::vector<int>& p = entry.second;  // a named reference: lambdas below capture it (clang 14)
    if (std::find(allowed.begin(), allowed.end(), name) == allowed.end())
      throw InputError("layer " + name + ": not a permutable layer of net " + net.config().name +
                       " (a conv or fc layer other than the classifier)");
    const int li = net.layer_index(name);
    Layer& l = *net.layers()[li];
    Layer& next = *net.layers()[next_param_layer(net, li)];
    const int units = l.cfg.num_output;
    check_permutation(name, p, units);
    if (l.cfg.type == "conv" && l.cfg.group > 1) check_groups(name, name, p, units / l.cfg.group);
    if (next.cfg.type == "conv" && next.cfg.group > 1) check_groups(name, next.cfg.name, p, units / next.cfg.group);

    // Outputs: weight rows and biases.
    for (Param& q : l.params) {
      size_t inner = Tensor::numel_of(q.shape) / units;
      permute_view(q, 1, units, inner, [&](size_t, size_t i) { return p[i]; });
    }
    // The next layer's inputs.
    Param& w = next.params[0];
    const size_t outer = w.shape[0];
    if (next.cfg.type == "conv") {
      const int in_group = units / next.cfg.group, out_group = (int)outer / next.cfg.group;
      const size_t inner = (size_t)w.shape[2] * w.shape[3];
      permute_view(w, outer, in_group, inner, [&](size_t o, size_t i) {
        int base = (int)o / out_group * in_group;
        return p[base + i] - base;
      });
    } else {  // fc: each channel's h*w block of flattened inputs moves as a whole
      const size_t inner = (size_t)w.shape[1] / units;
      permute_view(w, outer, units, inner, [&](size_t, size_t i) { return p[i]; });
    }
  }
}

UnitPermutations permutations_from_matching(const LayerMatchings& row_to_col, const Net& b) {
  UnitPermutations perms;
  for (const std::string& layer : permutable_layers(b)) {
    const int units = b.layers()[b.layer_index(layer)]->cfg.num_output;
    auto it = row_to_col.find(layer);
    if (it == row_to_col.end()) throw InputError("layer " + layer + ": no matching of its units");
    const std::vector<int64_t>& m = it->second;
    if ((int)m.size() != units)
      throw InputError("layer " + layer + ": the matching has " + std::to_string(m.size()) + " entries for " +
                       std::to_string(units) + " units");
    std::vector<int> p(units, -1);
    std::vector<char> used(units, 0);
    for (int i = 0; i < units; ++i) {
      if (m[i] < 0) continue;
      if (m[i] >= units || used[m[i]])
        throw InputError("layer " + layer + ": the matching is not one-to-one (unit " + std::to_string(m[i]) + ")");
      p[i] = (int)m[i], used[m[i]] = 1;
    }
    int next = 0;  // unmatched (dead) units: B's leftover units, in order
    for (int i = 0; i < units; ++i)
      if (p[i] < 0) {
        while (used[next]) ++next;
        p[i] = next, used[next] = 1;
      }
    perms[layer] = p;
  }
  return perms;
}

UnitPermutations matching_permutations(const CorrelateOutput& o, int a, int b, const Net& net_b) {
  LayerMatchings m;
  for (const std::string& layer : permutable_layers(net_b)) {
    const int units = net_b.layers()[net_b.layer_index(layer)]->cfg.num_output;
    const int units_a = o.layer(layer).at("units").at(a).get<int>();
    if (units_a != units)
      throw InputError("layer " + layer + ": " + o.nets[a].name + " has " + std::to_string(units_a) + " units, " +
                       o.nets[b].name + " " + std::to_string(units) +
                       "; permuting a net into another's order needs the same widths");
    m[layer] = read_pair_assignment(o, layer, a, b, units, units);
  }
  return permutations_from_matching(m, net_b);
}

}  // namespace cvg
