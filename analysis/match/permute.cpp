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

// Fills the -1 entries of a one-to-one matching of n rows to n columns with the columns no row
// took, in ascending order, block by block: rows g*block.. take the columns of block order[g]
// (one block of n: any column left over).
void fill_unmatched(std::vector<int64_t>& row_to_col, int block, const std::vector<int64_t>& order) {
  std::vector<char> used(row_to_col.size(), 0);
  for (int64_t c : row_to_col)
    if (c >= 0) used[c] = 1;
  for (size_t g = 0; g < order.size(); ++g) {
    int64_t next = order[g] * block;
    for (size_t i = g * block; i < (g + 1) * block; ++i)
      if (row_to_col[i] < 0) {
        while (used[next]) ++next;
        row_to_col[i] = next, used[next] = 1;
      }
  }
}

// The param layers (conv, fc) in net order.
std::vector<int> param_layers(const Net& net) {
  std::vector<int> out;
  for (int i = 0; i < (int)net.layers().size(); ++i)
    if (net.layers()[i]->cfg.has_params()) out.push_back(i);
  return out;
}

bool grouped_conv(const Layer& l) { return l.cfg.type == "conv" && l.cfg.group > 1; }

// Where `p` (nullptr: the identity) takes the block of units g, of `block` consecutive ones, from:
// the group every unit comes from. Throws when they come from several groups.
int block_source(const std::vector<int>* p, int g, int block, const std::string& layer, const std::string& what) {
  if (!p) return g;
  const int h = (*p)[(size_t)g * block] / block;
  for (int i = 0; i < block; ++i)
    if ((*p)[(size_t)g * block + i] / block != h)
      throw InputError("layer " + layer + ": the permutation splits " + what + " " + std::to_string(g) + " (" +
                       std::to_string(p->size() / block) + " groups of " + std::to_string(block) +
                       " units; a group's units move together, to one group)");
  return h;
}

// Every grouped conv layer N: its units' groups and its inputs' groups move by the same reordering.
void check_groups(const Net& net, const UnitPermutations& perms) {
  auto perm_of = [&](const std::string& name) {
    auto it = perms.find(name);
    return it == perms.end() ? nullptr : &it->second;
  };
  const std::vector<int> P = param_layers(net);
  for (size_t k = 0; k < P.size(); ++k) {
    const Layer& n = *net.layers()[P[k]];
    if (!grouped_conv(n)) continue;
    const std::string& name = n.cfg.name;
    const std::string in = k > 0 ? net.layers()[P[k - 1]]->cfg.name : "";
    const int groups = n.cfg.group, out_block = n.cfg.num_output / groups, in_block = (int)n.params[0].shape[1];
    const std::vector<int>*p_in = in.empty() ? nullptr : perm_of(in), *p_out = perm_of(name);
    for (int g = 0; g < groups; ++g) {
      const int h_in = block_source(p_in, g, in_block, in, name + "'s input group");
      const int h_out = block_source(p_out, g, out_block, name, "its channel group");
      if (h_in == h_out) continue;
      const std::string gs = std::to_string(g);
      const std::string ins = in.empty() ? name + "'s inputs (the image) keep their order"
                              : p_in    ? in + "'s permutation takes " + name + "'s input group " + gs + " from group " + std::to_string(h_in)
                                        : in + " keeps its units in order";
      const std::string outs = p_out ? name + "'s takes its group " + gs + " from group " + std::to_string(h_out)
                                     : name + " keeps its units in order";
      throw InputError((in.empty() ? "layer " + name : "layers " + in + " and " + name) + ": " + ins + ", but " + outs +
                       " (a grouped layer's units move to another group only with their inputs)");
    }
  }
}

}  // namespace

std::vector<GroupChain> group_chains(const Net& net) {
  // Union-find over the param layers; a grouped conv links itself to the param layer before it.
  const std::vector<int> P = param_layers(net);
  const int n = (int)P.size();
  std::vector<int> parent(n), groups(n, 1);
  std::vector<char> fixed(n, 0), linked(n, 0);
  for (int i = 0; i < n; ++i) parent[i] = i;
  std::function<int(int)> root = [&](int i) { return parent[i] == i ? i : parent[i] = root(parent[i]); };
  auto mark = [&](int i, int g) {  // layer i's units move in g groups
    const int r = root(i);
    if (groups[r] != 1 && groups[r] != g)
      throw InputError("layer " + net.layers()[P[i]]->cfg.name + ": grouped layers of " + std::to_string(groups[r]) + " and " +
                       std::to_string(g) + " groups are chained through it; permuting needs one group count along a chain");
    groups[r] = g, linked[i] = 1;
  };
  for (int k = 0; k < n; ++k) {
    const Layer& l = *net.layers()[P[k]];
    if (!grouped_conv(l)) continue;
    mark(k, l.cfg.group);
    if (k == 0 || k == n - 1) fixed[root(k)] = 1;  // the image's channels, the classifier's units stay
    if (k > 0) {
      mark(k - 1, l.cfg.group);
      const int a = root(k - 1), b = root(k);
      if (a != b) parent[a] = b, fixed[b] |= fixed[a];
    }
  }
  std::map<int, GroupChain> by_root;
  for (int k = 0; k + 1 < n; ++k) {  // the classifier is not permutable
    if (!linked[k]) continue;
    GroupChain& c = by_root[root(k)];
    c.layers.push_back(net.layers()[P[k]]->cfg.name);
    c.groups = groups[root(k)], c.fixed = fixed[root(k)];
  }
  std::vector<GroupChain> out;
  for (auto& [r, c] : by_root) out.push_back(std::move(c));
  return out;
}

std::vector<std::string> permutable_layers(const Net& net) {
  std::vector<std::string> out;
  const auto& layers = net.layers();
  for (int i = 0; i < (int)layers.size(); ++i)
    if (layers[i]->cfg.has_params() && next_param_layer(net, i) >= 0) out.push_back(layers[i]->cfg.name);
  return out;
}

void permute_units(Net& net, const UnitPermutations& perms) {
  const std::vector<std::string> allowed = permutable_layers(net);
  for (const auto& [name, p] : perms) {
    if (std::find(allowed.begin(), allowed.end(), name) == allowed.end())
      throw InputError("layer " + name + ": not a permutable layer of net " + net.config().name +
                       " (a conv or fc layer other than the classifier)");
    check_permutation(name, p, net.layers()[net.layer_index(name)]->cfg.num_output);
  }
  check_groups(net, perms);
  // Outputs first (weight rows, biases), every layer; then the next layers' inputs, whose grouped
  // columns are found through the rows' new places.
  for (const auto& entry : perms) {
    const std::vector<int>& p = entry.second;  // a named reference: lambdas below capture it (clang 14)
    Layer& l = *net.layers()[net.layer_index(entry.first)];
    for (Param& q : l.params)
      permute_view(q, 1, p.size(), Tensor::numel_of(q.shape) / p.size(), [&](size_t, size_t i) { return p[i]; });
  }
  for (const auto& entry : perms) {
    const std::vector<int>& p = entry.second;
    const int units = (int)p.size();
    Layer& next = *net.layers()[next_param_layer(net, net.layer_index(entry.first))];
    Param& w = next.params[0];
    const size_t outer = w.shape[0];
    if (next.cfg.type == "conv") {
      // Row o (group g) now holds an output of the group its inputs come from (check_groups), so
      // its new input i is old input p[g * in_group + i], at its place inside that group.
      const int in_group = units / next.cfg.group, out_group = (int)outer / next.cfg.group;
      permute_view(w, outer, in_group, (size_t)w.shape[2] * w.shape[3],
                   [&](size_t o, size_t i) { return p[(int)o / out_group * in_group + i] % in_group; });
    } else {  // fc: each channel's h*w block of flattened inputs moves as a whole
      permute_view(w, outer, units, (size_t)w.shape[1] / units, [&](size_t, size_t i) { return p[i]; });
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
    std::vector<int64_t> p(units, -1);
    std::vector<char> used(units, 0);
    for (int i = 0; i < units; ++i) {
      if (m[i] < 0) continue;
      if (m[i] >= units || used[m[i]])
        throw InputError("layer " + layer + ": the matching is not one-to-one (unit " + std::to_string(m[i]) + ")");
      p[i] = m[i], used[m[i]] = 1;
    }
    fill_unmatched(p, units, {0});  // unmatched (dead) units: B's leftover units, in order
    perms[layer].assign(p.begin(), p.end());
  }
  return perms;
}

namespace {

// Net `net`'s dead units in `layer` as bin/correlate recorded them, as a live mask.
std::vector<char> live_mask(const CorrelateOutput& o, const std::string& layer, int net, int units) {
  std::vector<int> dead;
  if (!o.layer(layer).contains("zero_variance_units"))  // optional for the readers, needed here
    throw InputError(o.dir + "/summary.json: layer " + layer +
                     " has no zero_variance_units (an older bin/correlate?); run bin/correlate again");
  for (const auto& u : o.layer(layer).at("zero_variance_units").at(net)) {
    const int v = u.get<int>();
    if (v < 0 || v >= units)
      throw InputError(o.dir + "/summary.json: layer " + layer + ": dead unit " + std::to_string(v) + " of " +
                       std::to_string(units));
    dead.push_back(v);
  }
  return live_units(units, dead);
}

double mean_of_pairs(const std::vector<double>& C, int units, const std::vector<int64_t>& row_to_col) {
  const auto pairs = std::count_if(row_to_col.begin(), row_to_col.end(), [](int64_t c) { return c >= 0; });
  return pairs ? matching_value(C.data(), units, units, row_to_col) / pairs : 0;
}

}  // namespace

ChainMatching match_chain(const std::vector<ChainLayer>& layers, int groups, bool fixed) {
  const int G = groups;
  // blocks[l][g * G + h]: the best matching of layer l's live units of A's group g to B's group h.
  std::vector<std::vector<Assignment>> blocks(layers.size());
  std::vector<double> total((size_t)G * G, 0);  // summed over the layers
  for (size_t l = 0; l < layers.size(); ++l) {
    const ChainLayer& c = layers[l];
    const int n = c.units, block = n / G;
    if (n % G || c.C.size() != (size_t)n * n || c.live_a.size() != (size_t)n || c.live_b.size() != (size_t)n)
      throw std::logic_error("match_chain: bad layer shape");
    std::vector<double> sub((size_t)block * block);
    std::vector<char> rows(block), cols(block);
    for (int g = 0; g < G; ++g)
      for (int h = 0; h < G; ++h) {
        for (int i = 0; i < block; ++i) {
          rows[i] = c.live_a[g * block + i], cols[i] = c.live_b[h * block + i];
          for (int j = 0; j < block; ++j) sub[(size_t)i * block + j] = c.C[(size_t)(g * block + i) * n + h * block + j];
        }
        blocks[l].push_back(assign_live(sub, block, block, rows, cols, Solver::Exact, Device::cpu()));
        total[(size_t)g * G + h] += blocks[l].back().objective;
      }
  }
  ChainMatching out;
  out.group_order.resize(G);
  if (fixed) {
    for (int g = 0; g < G; ++g) out.group_order[g] = g;
  } else {  // the group order is itself the best assignment of the summed block values
    out.group_order = assign(total.data(), G, G, Solver::Exact, false, Device::cpu()).row_to_col;
  }
  for (size_t l = 0; l < layers.size(); ++l) {
    const int block = layers[l].units / G;
    std::vector<int64_t>& m = out.row_to_col.emplace_back(layers[l].units, -1);
    for (int g = 0; g < G; ++g) {
      const int h = (int)out.group_order[g];
      const Assignment& a = blocks[l][(size_t)g * G + h];
      out.objective += a.objective;
      for (int i = 0; i < block; ++i)
        if (a.row_to_col[i] >= 0) m[(size_t)g * block + i] = h * block + a.row_to_col[i];
    }
  }
  return out;
}

UnitPermutations matching_permutations(const CorrelateOutput& o, int a, int b, const Net& net_b,
                                       std::map<std::string, MatchingReport>* report) {
  auto units_of = [&](const std::string& layer) { return net_b.layers()[net_b.layer_index(layer)]->cfg.num_output; };
  LayerMatchings m;
  for (const std::string& layer : permutable_layers(net_b)) {
    const int units = units_of(layer);
    const int units_a = o.layer(layer).at("units").at(a).get<int>();
    if (units_a != units)
      throw InputError("layer " + layer + ": " + o.nets[a].name + " has " + std::to_string(units_a) + " units, " +
                       o.nets[b].name + " " + std::to_string(units) +
                       "; permuting a net into another's order needs the same widths");
    m[layer] = read_pair_assignment(o, layer, a, b, units, units);
  }
  for (const GroupChain& chain : group_chains(net_b)) {
    const int G = chain.groups;
    std::vector<ChainLayer> layers;
    for (const std::string& layer : chain.layers) {
      const int units = units_of(layer);
      layers.push_back({units, read_pair_matrix(o, layer, PairMatrix::Between, a, b, units, units),
                        live_mask(o, layer, a, units), live_mask(o, layer, b, units)});
    }
    ChainMatching cm = match_chain(layers, G, chain.fixed);
    for (size_t li = 0; li < chain.layers.size(); ++li) {
      const std::string& layer = chain.layers[li];
      const int units = layers[li].units;
      std::vector<int64_t>& row_to_col = cm.row_to_col[li];
      if (report) {
        MatchingReport& r = (*report)[layer];
        r.groups = G;
        r.group_order.assign(cm.group_order.begin(), cm.group_order.end());
        r.mean_corr = mean_of_pairs(layers[li].C, units, row_to_col);
        r.correlate_mean_corr = mean_of_pairs(layers[li].C, units, m[layer]);
      }
      // Units without a partner (dead, or more live on one side) take the places left in their group.
      fill_unmatched(row_to_col, units / G, cm.group_order);
      m[layer] = std::move(row_to_col);
    }
  }
  return permutations_from_matching(m, net_b);
}

}  // namespace cvg
