#!/usr/bin/env bash
# make test: bin/report's page in a real browser. Trains two tiny nets briefly (tests/nets/tiny.json),
# runs correlate (with the untrained null and two checkpoints), align and visualize on a few hundred
# images, writes the report, then opens it in headless Chromium: a screenshot that must not be blank
# (scripts/png_ink.cpp counts the pixels off the background colour), and the DOM after load, where the
# page's own script has written each image's decoded size (data-natural="WxH"): every image listed in
# figures.json must have decoded at the size the report drew it. Without Chromium this FAILS.
# Prints "report browser: ok ..." with the screenshot's size.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
B=$repo/bin
fail() { echo "report browser: FAILED: $*" >&2; exit 1; }
browser=$(command -v chromium || command -v chromium-browser || true)
[ -n "$browser" ] || fail "no chromium found: install Debian's chromium (scripts/deps.sh does) to check the report in a browser"
W=$(mktemp -d /tmp/cvg_report.XXXXXX)
trap 'rm -rf "$W"' EXIT
cd "$W"
export OMP_WAIT_POLICY=passive
$B/train --net "$repo/tests/nets/tiny.json" --seeds 1,2 --iters 20 --out runs --threads 1 > log.txt 2>&1 || { cat log.txt; fail train; }
R=runs/tiny-seed
$B/correlate ${R}1 ${R}2 --max-images 200 --out corr --threads 1 --null untrained --at-iterations untrained,last >> log.txt 2>&1 ||
  { cat log.txt; fail correlate; }
$B/align --correlate-dir corr --out align --bootstrap 0 >> log.txt 2>&1 || { cat log.txt; fail align; }
$B/visualize ${R}1 ${R}2 --layers conv1,conv2 --correlate-dir corr --max-images 100 --best 4 --worst 3 --out vis >> log.txt 2>&1 ||
  { cat log.txt; fail visualize; }
$B/report ${R}1 ${R}2 --correlate-dir corr --align-dir align --vis-dir vis --out rep > report.txt 2>&1 || { cat report.txt; fail report; }

page="file://$W/rep/index.html"
# A fresh profile in the work folder; --no-sandbox because CI runs as root.
flags=(--headless --no-sandbox --disable-gpu --hide-scrollbars --user-data-dir="$W/profile" --no-first-run --disable-extensions)
timeout 60 "$browser" "${flags[@]}" --window-size=1280,1800 --screenshot="$W/shot.png" "$page" > chromium.txt 2>&1 ||
  { tail -5 chromium.txt; fail "chromium --screenshot"; }
timeout 60 "$browser" "${flags[@]}" --virtual-time-budget=10000 --dump-dom "$page" > dom.html 2> chromium_dom.txt ||
  { tail -5 chromium_dom.txt; fail "chromium --dump-dom"; }
[ -s shot.png ] || fail "chromium wrote no screenshot"
g++ -O1 -o png_ink "$repo/scripts/png_ink.cpp" || fail "cannot build scripts/png_ink.cpp"
read -r sw sh ink colours < <(./png_ink shot.png) || fail "the screenshot is not a readable PNG"
awk -v i="$ink" -v c="$colours" 'BEGIN { exit !(i > 0.02 && c >= 16) }' ||
  fail "the screenshot ($sw x $sh) looks blank: $ink of its pixels off the background, $colours colours"
python3 - rep/figures.json dom.html > decoded.txt <<'PY' || fail "images did not decode as the report wrote them"
import json, re, sys
figs = json.load(open(sys.argv[1]))
dom = open(sys.argv[2]).read()
natural = {}
for tag in re.findall(r"<img\b[^>]*>", dom):
    i, n = re.search(r'\bid="([^"]+)"', tag), re.search(r'\bdata-natural="(\d+)x(\d+)"', tag)
    if i:
        natural[i.group(1)] = (int(n.group(1)), int(n.group(2))) if n else None
bad = [f"{f['id']} ({f['title']}): drew {f['width']}x{f['height']}, browser {natural.get(f['id'])}"
       for f in figs if natural.get(f["id"]) != (f["width"], f["height"])]
assert len(figs) >= 10, f"only {len(figs)} figures"
assert not bad, "; ".join(bad)
m = re.search(r'data-images-decoded="(\d+)/(\d+)"', dom)
assert m and m.group(1) == m.group(2) == str(len(figs)), m and m.group(0)
print(len(figs))
PY
echo "report browser: ok ($(cat decoded.txt) images decoded at their drawn sizes; screenshot ${sw}x${sh}, $ink of pixels off the background, $colours colours)"
