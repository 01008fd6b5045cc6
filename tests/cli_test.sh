#!/usr/bin/env bash
# The tools end to end, as a new user runs them (issue 20's "first hour"), on a small net and the
# first Fashion-MNIST test images: train three nets and a wider one, correlate, visualize pairs in
# both orders, align, export to numpy (checked by python/convergent.py against bin/correlate), and
# the refusals: wrong nets, partial or mixed correlate output, nothing to draw. Also checks that
# every JSON key the tools write is documented in docs/OUTPUTS.md and that every --help points there,
# and that an installed tree (make install PREFIX=...) runs from any folder. Prints "cli: ok".
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
B=$repo/bin
W=$(mktemp -d /tmp/cvg_cli.XXXXXX)
trap 'rm -rf "$W"' EXIT
cd "$W"  # not the repository: nothing may depend on the working folder
export OMP_WAIT_POLICY=passive
fail() { echo "cli: FAILED: $*" >&2; exit 1; }
# expect_error CODE TEXT CMD...: CMD must exit with CODE and say TEXT on stderr.
expect_error() {
  local code=$1 text=$2; shift 2
  set +e; "$@" > "$W/out.txt" 2> "$W/err.txt"; local rc=$?; set -e
  [ "$rc" = "$code" ] || fail "$* exited $rc, expected $code: $(cat "$W/err.txt")"
  grep -qF -- "$text" "$W/err.txt" || fail "$*: stderr lacks '$text': $(cat "$W/err.txt")"
}
py=/usr/bin/python3

# Train: three seeds of one net, one wider net; --iters scales the lr step like --epochs.
$B/train --net "$repo/tests/nets/tiny.json" --seeds 1,2,3 --iters 20 --out runs --threads 1 > train.txt 2>&1 || { cat train.txt; fail train; }
grep -q "20 iterations of batch 32 .* step 16" train.txt || fail "--iters 20 should give lr step 16: $(head -3 train.txt)"
# Two or more cores: the seeds train two at a time (tests/test_net.cpp: the same bits as one by one).
[ "$(nproc)" -lt 2 ] || grep -q "step 16; 2 nets at a time, " train.txt || fail "3 seeds on $(nproc) cores should train 2 at a time: $(head -1 train.txt)"
expect_error 2 "--parallel must be 'auto' or in [1, " $B/train --net "$repo/tests/nets/tiny.json" --seeds 1 --iters 1 --out runs-bad --parallel 0
$B/train --net "$repo/tests/nets/tiny-wide.json" --seeds 1 --iters 20 --out runs --threads 1 > /dev/null 2>&1 || fail "train wide"
expect_error 2 "already holds checkpoints" $B/train --net "$repo/tests/nets/tiny.json" --seeds 1 --iters 20 --out runs
grep -q "iterations of batch" out.txt && fail "train printed its header before the error"
# --resume at the end says so; other data or batch are refused (tests/test_net.cpp: the schedule goes on).
$B/train --net "$repo/tests/nets/tiny.json" --seeds 1 --iters 20 --out runs --resume --threads 1 > out.txt 2>&1 || { cat out.txt; fail "resume at end"; }
grep -q "seed 1: nothing to train, already at iteration 20" out.txt || fail "resume at the end: $(cat out.txt)"
expect_error 2 "was trained with batch 32, not 16: resume with --batch 32" $B/train --net "$repo/tests/nets/tiny.json" --seeds 1 --iters 30 --out runs --resume --batch 16
expect_error 2 "was trained with data fashion-mnist, not synthetic" $B/train --net "$repo/tests/nets/tiny.json" --seeds 1 --iters 30 --out runs --resume --data synthetic
# Bad input is InputError (base/errors.h): exit 2 and exactly one line, nothing else on stderr.
expect_error 2 "error: bad device 'gpu0': expected cpu, cuda, cuda:N or auto" $B/train --net "$repo/tests/nets/tiny.json" --seeds 1 --iters 1 --out runs-bad --device gpu0
[ "$(wc -l < err.txt)" -eq 1 ] || fail "a bad --device should give one line: $(cat err.txt)"
R=runs/tiny-seed
# Arguments no tool takes are refused before any work (the benches once ran in full on '-Z').
for t in train correlate align visualize match import permute stitch report bench_assign bench_layers bench_stats bench_train; do
  expect_error 2 "unknown option -Z" $B/$t -Z
done
for t in train import align bench_assign bench_layers bench_stats bench_train; do
  expect_error 2 "unexpected argument 'stray'" $B/$t stray
done
expect_error 2 "--seeds: 2 is given twice" $B/train --net "$repo/tests/nets/tiny.json" --seeds 2,1,2 --iters 1 --out runs-bad
expect_error 2 "--seeds: an empty item in '1,,2'" $B/train --net "$repo/tests/nets/tiny.json" --seeds 1,,2 --iters 1 --out runs-bad
expect_error 2 "--iters must be at least 1, got -1" $B/train --net "$repo/tests/nets/tiny.json" --seeds 1 --iters -1 --out runs-bad
expect_error 2 "--iters must be at most 999999999 iterations" $B/train --net "$repo/tests/nets/tiny.json" --seeds 1 --iters 1000000000 --out runs-bad
expect_error 2 "--out must not be empty" $B/train --net "$repo/tests/nets/tiny.json" --seeds 1 --iters 1 --out ''
expect_error 2 "--iters 99999999999999999999 is out of range" $B/train --net "$repo/tests/nets/tiny.json" --seeds 1 --iters 99999999999999999999 --out runs-bad
expect_error 2 "--epochs expects a finite number, got 'inf'" $B/train --net "$repo/tests/nets/tiny.json" --seeds 1 --epochs inf --out runs-bad
expect_error 2 "--epochs 1e30 is more than 999999999 iterations" $B/train --net "$repo/tests/nets/tiny.json" --seeds 1 --epochs 1e30 --out runs-bad
expect_error 2 "--snapshot must be 0 (each epoch's end) or more, got -3" $B/train --net "$repo/tests/nets/tiny.json" --seeds 1 --iters 1 --snapshot -3 --out runs-bad
expect_error 2 "--momentum must be in [0, 1), got 5" $B/train --net "$repo/tests/nets/tiny.json" --seeds 1 --iters 1 --momentum 5 --out runs-bad
expect_error 2 "--weight-decay must be at least 0, got -1" $B/train --net "$repo/tests/nets/tiny.json" --seeds 1 --iters 1 --weight-decay -1 --out runs-bad
[ ! -e runs-bad ] || fail "a refused train left runs-bad behind"
$py -c "import numpy as np; np.save('m.npy', np.array([[1.0, 2.0], [3.0, 1.0]]))"
expect_error 2 "nodir/a.npy: folder nodir does not exist" $B/match m.npy --out nodir/a.npy  # checked before the solve
expect_error 2 "m.npy/a.npy: m.npy is not a folder" $B/match m.npy --out m.npy/a.npy
cp m.npy ./-x.npy
$B/match -- -x.npy | grep -q "^objective: 5 (maximised)" || fail "match -- -x.npy"
# numpy.save of a transposed matrix writes Fortran order; '>f8' is big-endian: the same matrix either way.
$py -c "
import numpy as np
M = np.random.default_rng(3).random((7, 5))
np.save('mc.npy', M); np.save('mf.npy', M.T.copy().T); np.save('mb.npy', M.astype('>f8'))
assert np.isfortran(np.load('mf.npy')) and np.load('mb.npy').dtype.byteorder == '>'
"
for f in mc mf mb; do $B/match $f.npy --out $f-match.npy | grep "^objective" > $f-objective.txt || fail "match $f.npy"; done
cmp -s mc-objective.txt mf-objective.txt && cmp -s mc-objective.txt mb-objective.txt && cmp -s mc-match.npy mf-match.npy &&
  cmp -s mc-match.npy mb-match.npy || fail "match: Fortran-order or big-endian .npy read differently"

# Correlate three nets on the first 300 images: the header and summary.json count 300.
$B/correlate ${R}1 ${R}2 ${R}3 --max-images 300 --out corr --threads 1 --per-pair --null untrained --at-iterations untrained,last \
  > correlate.txt 2>&1 || { cat correlate.txt; fail correlate; }
grep -q "300 of 10000 images used" correlate.txt || fail "correlate header: $(head -2 correlate.txt)"
grep -q "^conv1 *tiny-seed2 *tiny-seed3 " correlate.txt || fail "table rows should name the runs"
$py - <<'PY' || fail "summary.json counts"
import json
s = json.load(open("corr/summary.json"))
assert s["images"] == 300 and s["split_images"] == 10000, s["images"]
assert [n["name"] for n in s["nets"]] == ["tiny-seed1", "tiny-seed2", "tiny-seed3"]
assert s["layers"][0]["samples_per_unit"] == 300 * s["layers"][0]["positions"]
PY
expect_error 2 "--max-images must be at least 1" $B/correlate ${R}1 ${R}2 --max-images 0 --out c0
expect_error 2 "the layers they share: conv1, conv2, fc3, fc4" $B/correlate ${R}1 ${R}2 --layers conv9 --out c0

# Visualize a pair that is not (0, 1), in both orders: the drawn correlations are that pair's.
for order in "2 3" "3 2" "2 1"; do
  set -- $order
  $B/visualize ${R}$1 ${R}$2 --layers conv2 --correlate-dir corr --max-images 100 --best 3 --worst 2 --out vis$1$2 > /dev/null 2>&1 || fail "visualize $order"
  $py - "$1" "$2" <<'PY' || fail "visualize $order drew the wrong pair"
import json, sys
import numpy as np
p, q = int(sys.argv[1]) - 1, int(sys.argv[2]) - 1
d = json.load(open(f"vis{p + 1}{q + 1}/conv2/vis_deconv.json"))
c = np.load(f"corr/conv2/between_{min(p, q)}_{max(p, q)}.npy")
c = c if p < q else c.T
assert d["net_a"]["correlate_index"] == p and d["net_b"]["correlate_index"] == q
assert len(d["best"]) == 3 and len(d["worst"]) == 2
for e in d["best"] + d["worst"]:
    assert abs(e["correlation"] - c[e["unit_a"], e["unit_b"]]) < 1e-12, e
assert d["best"][0]["correlation"] >= d["best"][-1]["correlation"]
PY
done
$B/visualize ${R}2 ${R}3 --layers conv1 --correlate-dir corr --pairs 1:2,3:0 --max-images 50 --out visp > /dev/null 2>&1 || fail "visualize --pairs"
[ -f visp/conv1/pairs_deconv.png ] || fail "--pairs figure"
expect_error 2 "is not among the nets correlated in corr" $B/visualize runs/tiny-wide-seed1 ${R}1 --layers conv1 --correlate-dir corr
expect_error 2 "runs/correlate: no such folder" $B/visualize ${R}1 ${R}2 --layers conv1
expect_error 2 "nothing to draw" $B/visualize ${R}1 ${R}2 --layers conv1 --correlate-dir corr --best 0 --worst 0

# Align; then partial and mixed correlate folders are refused.
$B/align --correlate-dir corr --layers conv1,conv2 --out align > align.txt 2>&1 || { cat align.txt; fail align; }
grep -q -- "-- pair 1-2: A = tiny-seed2, B = tiny-seed3" align.txt || fail "align should say which pair each block is"
# Its "files" name files under OUT (they named the partial folder it was written in, gone since).
$py - <<'PY' || fail "align: summary.json's files"
import glob, json, os
s = json.load(open("align/summary.json"))
files = [e["files"].split(" ")[0] for l in s["layers"] for p in l["pairs"] for e in p["sparse_prediction"] + [p["groups"]]]
assert files and all(glob.glob(os.path.join("align", f)) for f in files), files
PY
cp -r corr partial && rm partial/summary.json
expect_error 2 "not a complete bin/correlate output" $B/align --correlate-dir partial --out a2
# A NaN in a moments file is refused, and the failed run leaves the earlier output as it was, no partial folder.
cp -r corr corr_nan && $py -c "
import numpy as np; g = np.load('corr_nan/conv2/moments/gram_1.npy'); g[0, 0] = np.nan; np.save('corr_nan/conv2/moments/gram_1.npy', g)"
cp align/summary.json align_before.json
expect_error 2 "gram_1.npy: value 0 is NaN or infinite" $B/align --correlate-dir corr_nan --layers conv1,conv2 --out align
cmp -s align/summary.json align_before.json || fail "a failed align changed its earlier output"
ls -d align.partial-* 2> /dev/null && fail "a failed align left its partial folder"
expect_error 2 "--out must not be empty" $B/align --correlate-dir corr --out ''
expect_error 2 "--penalties: '0x10' is not a number" $B/align --correlate-dir corr --penalties 0x10 --out a0
cp -r corr corr_units && $py -c "
import json; s = json.load(open('corr_units/summary.json')); s['layers'][0]['units'] = 'x'; json.dump(s, open('corr_units/summary.json', 'w'))"
expect_error 2 "corr_units/summary.json: layer conv1: 'units' or 'zero_variance_units' is not one entry per net" $B/permute ${R}2 --correlate-dir corr_units --to ${R}1 --out p0
cp -r corr corr_nozero && $py -c "
import json; s = json.load(open('corr_nozero/summary.json')); del s['layers'][0]['zero_variance_units']; json.dump(s, open('corr_nozero/summary.json', 'w'))"
expect_error 2 "corr_nozero/summary.json: layer conv1 has no zero_variance_units" $B/permute ${R}2 --correlate-dir corr_nozero --to ${R}1 --out p0
expect_error 2 "is not a bin/align output folder" $B/align --correlate-dir corr --out runs
# Lists: an item twice or empty is refused; an --mi-layers typo too (it once meant no MI at all).
expect_error 2 "--layers: conv1 is given twice" $B/correlate ${R}1 ${R}2 --layers conv1,conv1 --out c0
expect_error 2 "--mi-layers: conv9 is not among the layers compared" $B/correlate ${R}1 ${R}2 --mi-layers conv9 --out c0
expect_error 2 "--units: an empty item" $B/visualize ${R}1 ${R}2 --layers conv1 --correlate-dir corr --units 1,,2
expect_error 2 "--k 4294967297 is out of range" $B/visualize ${R}1 ${R}2 --layers conv1 --correlate-dir corr --k 4294967297
expect_error 2 "--max-images must be at least 1" $B/stitch layers ${R}1 ${R}2 --max-images -5 --out st0
expect_error 2 "--fit-lr at most 3.4e38" $B/stitch layers ${R}1 ${R}2 --fit 1 --fit-lr 1e39 --out st0
expect_error 2 "--steps belongs to interpolate" $B/stitch layers ${R}1 ${R}2 --steps 3 --out st0
expect_error 2 "--fit-lr and --fit-batch belong to" $B/stitch interpolate ${R}1 ${R}2 --fit-batch 8 --out st0
expect_error 2 "--fit-batch 100000: more than the 60000 images" $B/stitch layers ${R}1 ${R}2 --fit 1 --fit-batch 100000 --out st0
expect_error 2 "which --no-eval skips" $B/permute ${R}2 --correlate-dir corr --to ${R}1 --no-eval --split train --out p0
[ ! -e st0 ] && [ ! -e c0 ] || fail "a refused stitch or correlate left its --out"
$B/correlate ${R}1 ${R}2 ${R}3 --max-images 200 --layers conv1 --out corr200 --threads 1 > corr200.txt 2>&1 || fail "correlate 200"
# Three nets: one row per layer over the three pairs (with the nets' spread), then the paper's claims.
grep -q "mean over the 3 pairs of 3 nets" corr200.txt || fail "over-pairs table: $(cat corr200.txt)"
grep -Eq "^conv1 +0\.[0-9]{3} \[0\.[0-9]{3},0\.[0-9]{3}\]" corr200.txt || fail "over-pairs row: $(grep ^conv1 corr200.txt)"
grep -q "cannot decide *conv1 is the best" corr200.txt || fail "claims need conv1..conv5: $(grep -A1 'conv1 is the best' corr200.txt)"
expect_error 2 "no checkpoint at iteration 7 (it has: 0, " $B/correlate ${R}1 ${R}2 --at-iterations 7 --out c0
expect_error 2 "--null must be none or untrained" $B/correlate ${R}1 ${R}2 --null trained --out c0
cp -r corr mixed && rm -r mixed/conv1 && cp -r corr200/conv1 mixed/
expect_error 2 "different bin/correlate runs are mixed" $B/align --correlate-dir mixed --out a3
expect_error 2 "is not a bin/correlate output folder" $B/correlate ${R}1 ${R}2 --out runs

# bin/report: one self-contained page; a missing part is named on the page and in one stderr line each.
$B/report ${R}1 ${R}2 ${R}3 --correlate-dir corr --align-dir align --vis-dir vis23 --out rep > rep.txt 2> rep_err.txt || { cat rep_err.txt; fail report; }
[ ! -s rep_err.txt ] || fail "report on complete folders warned: $(cat rep_err.txt)"
grep -q "^rep/index.html$" rep.txt || fail "report should print the page's path: $(cat rep.txt)"
! grep -q "Missing:" rep/index.html || fail "complete folders gave a notice: $(grep -o 'Missing:[^<]*' rep/index.html | head -3)"
$py - <<'PY' || fail "report page"
import json, re
html = open("rep/index.html").read()
figs = json.load(open("rep/figures.json"))
ids = re.findall(r'<img id="(fig\d+)" src="data:image/(?:png|svg\+xml);base64,', html)
assert ids == [f["id"] for f in figs] and len(ids) >= 12, (len(ids), len(figs))
assert not re.search(r'(src|href)="(?!data:|#)', html), "an external reference"
assert "<link" not in html and "url(" not in html
for section in ("matching", "layers", "mutual-info", "montages", "sparse", "groups", "scores", "training", "other"):
    assert f'id="{section}"' in html, section
titles = [f["title"] for f in figs]
for t in ("Matched correlation per layer", "Bipartite matched correlation over training", "conv2: the best matched pairs",
          "conv1: sparse prediction loss vs L1 penalty", "conv1: joint correlation sorted by spectral group",
          "conv1: correlation of the pairs each matching makes", "conv2: B reordered by the bipartite matching"):
    assert t in titles, (t, titles)
PY
expect_error 2 "give at least one run folder" $B/report --correlate-dir corr --out rep_x
expect_error 2 "--correlate-dir is required" $B/report ${R}1 --out rep_x
expect_error 2 "corr_typo: no such folder (--correlate-dir" $B/report ${R}1 --correlate-dir corr_typo --out rep_x
[ ! -e rep_x ] || fail "a refused report left a folder"
cp -r corr corr_hole && rm corr_hole/conv2/between_0_1.npy
$B/report ${R}1 ${R}2 ${R}3 --correlate-dir corr_hole --out rep_hole > out.txt 2> err.txt || fail "report with a missing matrix"
grep -q "warning: report: corr_hole/conv2/between_0_1.npy: missing" err.txt || fail "missing matrix: stderr: $(cat err.txt)"
grep -q " $(grep -c '^warning: report:' err.txt) missing parts" out.txt || fail "the count of missing parts is not the warnings': $(cat out.txt err.txt)"
grep -q "no --align-dir given" err.txt && grep -q "no --vis-dir given" err.txt || fail "missing align/vis dirs: $(cat err.txt)"
grep -q "Missing:</b> corr_hole/conv2/between_0_1.npy: missing" rep_hole/index.html || fail "the page does not name the missing matrix"
grep -q "<img" rep_hole/index.html || fail "a missing matrix left no figure at all"
mkdir align_bad && echo '{"layers": [' > align_bad/summary.json
cp -r corr corr_bad && echo '{"format": "convergent-corr' > corr_bad/summary.json
$B/report ${R}1 nowhere --correlate-dir corr_bad --align-dir align_bad --vis-dir nowhere --out rep_bad > /dev/null 2> err.txt || fail "report on damaged folders"
for t in "corr_bad/summary.json: not valid JSON" "align_bad/summary.json: not valid JSON" "nowhere: no such run folder" "nowhere: no such folder"; do
  grep -q "$t" err.txt || fail "damaged folders: stderr lacks '$t': $(cat err.txt)"
  grep -q "$t" rep_bad/index.html || fail "damaged folders: the page lacks '$t'"
done

# bin/visualize into a used --out replaces its mode's figures of each layer (a worst figure of the
# earlier run is gone, where the report showed it under the new run's nets) and keeps other modes';
# a layer folder that is a file is refused before the pass, leaving the other layers as they were.
cp -r vis23 vis_re
$B/visualize ${R}2 ${R}3 --layers conv2 --correlate-dir corr --max-images 50 --best 2 --worst 0 --out vis_re > /dev/null 2>&1 || fail "visualize again"
[ -f vis_re/conv2/best_deconv.png ] && [ ! -e vis_re/conv2/worst_deconv.png ] || fail "the earlier worst figure stayed: $(ls vis_re/conv2)"
$B/visualize ${R}2 ${R}3 --layers conv2 --correlate-dir corr --max-images 50 --best 1 --worst 0 --mode guided --out vis_re > /dev/null 2>&1 || fail "visualize guided"
[ -f vis_re/conv2/best_deconv.png ] && [ -f vis_re/conv2/vis_deconv.json ] && [ -f vis_re/conv2/best_guided.png ] || fail "modes: $(ls vis_re/conv2)"
ls -d vis_re/*.partial-* 2> /dev/null && fail "visualize left a partial folder"
mkdir vis_file && touch vis_file/conv2
expect_error 2 "vis_file/conv2: exists and is not a folder" $B/visualize ${R}2 ${R}3 --layers conv1,conv2 --correlate-dir corr --out vis_file
[ ! -e vis_file/conv1 ] || fail "a refused visualize wrote conv1"
# The report's worst table ranks its columns as the figure heads them (#N of N first).
$py - <<'PY' || fail "report: rank column of the worst pairs"
import json, re
html = open("rep/index.html").read()
n = json.load(open("vis23/conv2/vis_deconv.json"))["matched_pairs"]
i = html.find("conv2: the worst matched pairs")
rows = re.findall(r"<tr><td>(\d+)</td><td>([^<]*)</td>", html[i:html.find("</table>", i)])
assert rows[:2] == [("1", f"{n} of {n}"), ("2", f"{n - 1} of {n}")], rows
PY
# A truncated figure, an align summary whose directions disagree on their penalties (read past the
# end before), and a folder named figures.json where the report writes.
cp -r vis23 vis_trunc && truncate -s 3000 vis_trunc/conv2/best_deconv.png
cp -r align align_pen && $py -c "
import json; s = json.load(open('align_pen/summary.json'))
d = s['layers'][0]['pairs'][0]['sparse_prediction'][1]; d['per_penalty'] = d['per_penalty'][:1]
json.dump(s, open('align_pen/summary.json', 'w'))"
$B/report ${R}1 ${R}2 ${R}3 --correlate-dir corr --align-dir align_pen --vis-dir vis_trunc --out rep_trunc > /dev/null 2> err.txt || fail "report, damaged figure"
for t in "vis_trunc/conv2/best_deconv.png: truncated PNG" "lists other penalties than direction"; do
  grep -q "$t" err.txt && grep -q "$t" rep_trunc/index.html || fail "report should name '$t': $(cat err.txt)"
done
mkdir -p rep_dir/figures.json
expect_error 2 "rep_dir/figures.json: is a folder" $B/report ${R}1 ${R}2 ${R}3 --correlate-dir corr --out rep_dir
[ ! -e rep_dir/index.html ] || fail "a refused report wrote its page"

# A layer where every unit of a net is constant (conv2's biases at -1000: zero after the ReLU):
# align skips its pair and says why, visualize says it drew no figure there, the report says so.
$B/train --export-npy ${R}1 dead_exp > /dev/null || fail "export for dead"
$py -c "import numpy as np; b = np.load('dead_exp/conv2.bias.npy'); b[:] = -1000; np.save('dead_exp/conv2.bias.npy', b)"
$B/import --net "$repo/tests/nets/tiny.json" --from dead_exp --out runs_dead --seed 1 --iteration 20 > /dev/null || fail "import dead"
# Import and export edges: a square --input (two equal numbers were refused as "given twice"); a
# FIFO where a .npy is expected is refused, not waited on (an export replacing another: below, after the odd net).
$B/import --net "$repo/tests/nets/tiny.json" --from dead_exp --out runs_sq --input 1,28,28 > /dev/null || fail "import --input 1,28,28"
cp -r dead_exp fifo_exp && rm fifo_exp/fc4.bias.npy && mkfifo fifo_exp/fc4.bias.npy
expect_error 2 "fifo_exp/fc4.bias.npy: cannot read (not a regular file)" timeout 20 $B/import --net "$repo/tests/nets/tiny.json" --from fifo_exp --out runs_fifo
$B/correlate runs_dead ${R}2 --max-images 100 --layers conv1,conv2 --out corr_dead --threads 1 > /dev/null 2>&1 || fail "correlate dead"
$B/align --correlate-dir corr_dead --bootstrap 0 --out align_dead > out.txt 2>&1 || { cat out.txt; fail "align, an all-dead layer"; }
grep -q "skipped: runs_dead has no unit that varies in this layer: all 12 are constant" out.txt || fail "align dead: $(cat out.txt)"
$B/visualize runs_dead ${R}2 --layers conv1,conv2 --correlate-dir corr_dead --max-images 50 --out vis_dead > out.txt 2>&1 || fail "visualize dead"
grep -q "vis_dead/conv2: no figure (no matched pair" out.txt || fail "visualize dead: $(cat out.txt)"
$B/report runs_dead ${R}2 --correlate-dir corr_dead --align-dir align_dead --vis-dir vis_dead --out rep_dead > /dev/null 2> err.txt || fail "report dead"
for t in "conv2: no sparse prediction (runs_dead has no unit" "conv2: no spectral groups (runs_dead has no unit" "No best or worst figure"; do
  grep -q "$t" rep_dead/index.html || fail "report, all-dead layer: no '$t'"
done
$B/visualize runs_dead ${R}2 --layers conv2 --correlate-dir corr_dead --max-images 50 --units 0 --out vis_dead_u > /dev/null 2>&1 || fail "visualize a dead unit"
$py - <<'PY' || fail "a constant unit is flagged, a live one not"
import json
assert json.load(open("vis_dead_u/conv2/vis_deconv.json"))["shown_units"][0]["constant"] is True
assert not any(p["a"]["constant"] or p["b"]["constant"] for p in json.load(open("vis23/conv2/vis_deconv.json"))["best"])
PY
expect_error 2 "--net says which net --units refers to" $B/visualize ${R}1 ${R}2 --layers conv1 --correlate-dir corr --net b

# Nets of different widths: conv2 has 12 and 20 units; 8 of the wide net's stay unmatched.
$B/correlate ${R}1 runs/tiny-wide-seed1 --max-images 200 --layers conv1,conv2 --out wide --threads 1 > wide.txt 2>&1 || { cat wide.txt; fail "correlate widths"; }
grep -q "conv2: 8 units of tiny-wide-seed1 have no partner in tiny-seed1" wide.txt || fail "unmatched units: $(cat wide.txt)"
$B/align --correlate-dir wide --out align_wide > align_wide.txt 2>&1 || { cat align_wide.txt; fail "align widths"; }
$B/visualize runs/tiny-wide-seed1 ${R}1 --layers conv2 --correlate-dir wide --max-images 50 --best 2 --worst 0 --units 15,19 --net a \
  --out vis_wide > /dev/null 2>&1 || fail "visualize nets of different widths"
$py - <<'PY' || fail "visualize widths"
import json
d = json.load(open("vis_wide/conv2/vis_deconv.json"))
assert d["units"] == [20, 12] and len(d["best"]) == 2 and d["worst"] == []
assert [u["unit"] for u in d["shown_units"]] == [15, 19]
PY
grep -q "scores: CKA" align_wide.txt || fail "align global scores on different widths"
# A vis folder of nets that are not the study's (tiny-wide-seed1) is a notice, not its figures.
$B/report ${R}1 ${R}2 ${R}3 --correlate-dir corr --vis-dir vis_wide --out rep_wide > /dev/null 2> err.txt || fail "report, other nets' vis"
grep -q "vis_wide/conv2/vis_deconv.json: shows net_a tiny-wide-seed1 (seed 1, iteration 20), not among the correlate output's nets" err.txt ||
  fail "other nets' figures: $(cat err.txt)"
! grep -q "the best matched pairs" rep_wide/index.html || fail "the report drew another study's figures"

# Mismatched nets are refused, by the same rules (nn/run.h), by every tool that takes several runs:
# another input shape (RGB synthetic images), a renamed layer, other widths where they matter.
$B/train --net "$repo/tests/nets/tiny.json" --seeds 1 --iters 2 --data synthetic:64:32 --out runs_rgb --threads 1 > /dev/null 2>&1 || fail "train rgb"
sed 's/"conv2"/"convb"/' "$repo/tests/nets/tiny.json" > renamed.json
$B/train --net renamed.json --seeds 1 --iters 2 --out runs_renamed --threads 1 > /dev/null 2>&1 || fail "train renamed"
RGB=runs_rgb/tiny-seed1 REN=runs_renamed/tiny-seed1 WIDE=runs/tiny-wide-seed1
shapes="take different input shapes (1x28x28 vs 3x32x32)"
expect_error 2 "$shapes" $B/correlate ${R}1 $RGB --out cx
expect_error 2 "$shapes" $B/visualize ${R}1 $RGB --layers conv1 --correlate-dir corr
expect_error 2 "$shapes" $B/stitch interpolate ${R}1 $RGB
expect_error 2 "$shapes" $B/stitch layers ${R}1 $RGB
expect_error 2 "no conv or fc layer 'conv2' in every net (the layers they share: conv1, fc3, fc4)" $B/correlate ${R}1 $REN --layers conv2 --out cx
expect_error 2 "no conv or fc layer 'conv2' in every net (the layers they share: conv1, fc3, fc4)" $B/visualize ${R}1 $REN --layers conv2 --correlate-dir corr
expect_error 2 "parameter convb.weight [12, 4, 3, 3] does not match" $B/stitch layers ${R}1 $REN
expect_error 2 "parameter conv2.weight [20, 4, 3, 3] does not match" $B/stitch interpolate ${R}1 $WIDE
# The same parameters but other layers: no LRN (stitch layers paired layers by position and crashed),
# or another LRN setting (B's weights ran through A's LRN); a --permuted net that bin/permute did not write.
sed '/"norm1"/d' "$repo/tests/nets/tiny.json" > nolrn.json && sed 's/"alpha": 0.0001/"alpha": 0.5/' "$repo/tests/nets/tiny.json" > alpha.json
$B/train --net nolrn.json --seeds 1 --iters 2 --out runs_nolrn --threads 1 > /dev/null 2>&1 || fail "train nolrn"
$B/train --net alpha.json --seeds 1 --iters 2 --out runs_alpha --threads 1 > /dev/null 2>&1 || fail "train alpha"
expect_error 2 "runs_nolrn/tiny-seed1: layer 4 is conv2 conv" $B/stitch layers ${R}1 runs_nolrn/tiny-seed1 --out sx
expect_error 2 "where ${R}1 has norm1 lrn: outputs 0, kernel 1, stride 1, pad 0, group 1, LRN 5 0.0001" $B/stitch interpolate ${R}1 runs_alpha/tiny-seed1 --out sx
expect_error 2 "${R}3: not written by bin/permute" $B/stitch interpolate ${R}1 ${R}2 --permuted ${R}3 --out sx
[ ! -e sx ] || fail "a refused stitch left its --out"
expect_error 2 "is not among the nets correlated in corr" $B/permute ${R}1 --correlate-dir corr --to $RGB --out px
expect_error 2 "layer conv2: tiny-seed1 has 12 units, tiny-wide-seed1 20; permuting a net into another's order needs the same widths" \
  $B/permute $WIDE --correlate-dir wide --to ${R}1 --out px
expect_error 2 "nowhere: no such run folder or checkpoint file" $B/correlate ${R}1 nowhere --out cx
[ ! -e cx ] && [ ! -e px ] || fail "a refused run left an output folder"
# tiny's conv2 has 2 channel groups: conv1 and conv2 are matched again inside the groups (one group
# order for both), fc3 keeps bin/correlate's matching; the permuted net interpolates with net A.
$B/permute ${R}2 --correlate-dir corr --to ${R}1 --out perm2 --max-images 200 > permute.txt 2>&1 || { cat permute.txt; fail permute; }
grep -q "^conv2 .* within 2 groups, B's groups " permute.txt && grep -q "^fc3 .* bin/correlate's$" permute.txt ||
  fail "permute table: $(cat permute.txt)"
$py - <<'PY' || fail "permute: the permutations keep the channel groups"
import json, numpy as np
j = json.load(open("perm2/permute.json"))
order = {l["layer"]: l.get("group_order") for l in j["layers"]}
assert order["conv1"] == order["conv2"] and sorted(order["conv1"]) == [0, 1], order
for layer in ("conv1", "conv2"):
    p = np.load(f"perm2/perm_{layer}.npy")
    block = len(p) // 2
    assert sorted(p) == list(range(len(p))), p
    assert all(p[i] // block == order[layer][i // block] for i in range(len(p))), (layer, p)
assert 0 <= j["predictions_changed"] <= 1, j
PY
grep -q "predictions changed: " permute.txt && grep -q "^note: the net has a cross-channel LRN" permute.txt || fail "permute, LRN: $(cat permute.txt)"
# Without LRN the permuted net is the same function: no prediction changes (tiny without norm1).
$B/train --net nolrn.json --seeds 2 --iters 2 --out runs_nolrn --threads 1 > /dev/null 2>&1 || fail "train nolrn 2"
$B/correlate runs_nolrn/tiny-seed1 runs_nolrn/tiny-seed2 --max-images 200 --out corr_nolrn --threads 1 > /dev/null 2>&1 || fail "correlate nolrn"
$B/permute runs_nolrn/tiny-seed2 --correlate-dir corr_nolrn --out perm_nolrn --max-images 200 > permute.txt 2>&1 || { cat permute.txt; fail "permute nolrn"; }
grep -q "predictions changed: 0.00%" permute.txt && ! grep -q "^note: the net has" permute.txt || fail "permute without LRN: $(cat permute.txt)"
$B/stitch interpolate ${R}1 ${R}2 --permuted perm2 --max-images 200 --steps 2 --out st2 > stitch.txt 2>&1 ||
  { cat stitch.txt; fail "stitch --permuted"; }

# Export two run folders and check them with the Python module against bin/correlate.
$B/train --export-npy ${R}1 exp1 > /dev/null && $B/train --export-npy ${R}2 exp2 > /dev/null || fail export
$B/correlate ${R}1 ${R}2 --max-images 64 --out corr64 --threads 1 > /dev/null 2>&1 || fail "correlate 64"
$py "$repo/tests/test_python.py" exp1 exp2 corr64 64 || fail "python module"
# The same on a net of unusual geometry (tests/nets/odd.json: a ReLU after the pool, a pool padded by
# more than half its kernel, strides, groups), trained a few steps.
$B/train --net "$repo/tests/nets/odd.json" --seeds 1,2 --iters 5 --out runs-odd --threads 1 > out.txt 2>&1 || { cat out.txt; fail "train odd"; }
$B/train --export-npy runs-odd/odd-seed1 exp-odd1 > /dev/null && $B/train --export-npy runs-odd/odd-seed2 exp-odd2 > /dev/null || fail "export odd"
$B/correlate runs-odd/odd-seed1 runs-odd/odd-seed2 --max-images 48 --out corr-odd --threads 1 > /dev/null 2>&1 || fail "correlate odd"
$py "$repo/tests/test_python.py" exp-odd1 exp-odd2 corr-odd 48 || fail "python module, odd net"
# An export replaces an earlier export of another net as a whole (its files stayed beside the new
# ones) and refuses a folder holding other things.
$B/train --export-npy runs-odd/odd-seed1 exp_again > /dev/null && $B/train --export-npy ${R}1 exp_again > /dev/null || fail "export twice"
[ ! -e exp_again/conv3.weight.npy ] && [ -f exp_again/conv2.weight.npy ] || fail "the first export's files stayed: $(ls exp_again)"
mkdir -p notes && echo keep > notes/notes.txt
expect_error 2 "notes: exists and is not a bin/train --export-npy output folder" $B/train --export-npy ${R}1 notes

# Every JSON key the tools wrote is documented; every --help points to docs/OUTPUTS.md.
$py - "$repo/docs/OUTPUTS.md" corr/summary.json align/summary.json vis23/conv2/vis_deconv.json visp/conv1/vis_deconv.json \
  wide/summary.json vis_wide/conv2/vis_deconv.json exp1/config.json runs/tiny-seed1/log.jsonl rep/figures.json \
  perm2/permute.json st2/interpolate.json <<'PY' || fail "docs/OUTPUTS.md is missing keys"
import json, sys
doc = open(sys.argv[1]).read()
def keys(x, out):
    if isinstance(x, dict):
        for k, v in x.items():
            if k != "net" or not isinstance(v, dict) or "layers" not in v:  # the net config itself
                out.add(k); keys(v, out)
            else:
                out.add(k)
    elif isinstance(x, list):
        for v in x: keys(v, out)
    return out
found = set()
for f in sys.argv[2:]:
    text = open(f).read()
    docs = [json.loads(l) for l in text.splitlines() if l.strip()] if f.endswith(".jsonl") else [json.loads(text)]
    for d in docs: keys(d, found)
missing = sorted(k for k in found if f"`{k}`" not in doc)
assert not missing, f"not in docs/OUTPUTS.md: {missing}"
PY
for t in train correlate align visualize match import permute stitch report; do
  $B/$t --help | grep -q "docs/OUTPUTS.md" || fail "$t --help does not point to docs/OUTPUTS.md"
done

# An installed tree finds its own net configs from any folder.
make -s -C "$repo" install PREFIX="$W/inst" > /dev/null || fail "make install"
(cd / && "$W/inst/bin/train" --iters 1 --seeds 4 --data synthetic:64 --out "$W/inst_runs" --threads 1 > /dev/null 2>&1) || fail "installed train with the default net"
[ -f "$W/inst_runs/alexnet-mini-seed4/ckpt-000000001.bin" ] || fail "installed train wrote no checkpoint"
echo "cli: ok"
