#!/usr/bin/env bash
# make demo: trains the four default nets (alexnet-mini, seeds 1-4 as in the paper, Fashion-MNIST)
# unless they are already trained, compares all six pairs with bin/correlate (the table), goes beyond one-to-one
# with bin/align (sparse prediction, spectral groups, CKA/CCA/Procrustes), then draws the best and
# worst matched units of conv1..conv5 with bin/visualize, and puts it all on one page with bin/report.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-runs}
# Spinning OpenMP threads cost a lot on a shared 2-core machine and nothing is gained here.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
seeds=${SEEDS:-1 2 3 4}
todo=()
for s in $seeds; do
  dir="$runs/alexnet-mini-seed$s"
  if [ -f "$dir/done" ] && ls "$dir"/ckpt-*.bin >/dev/null 2>&1; then
    echo "demo: $dir already trained"
  else
    todo+=("$s")
  fi
done
# One bin/train for all of them: on the CPU it trains one net per core at once (same weights,
# ~20% more images/s than one net on every core); --resume continues a run that was cut short.
if [ ${#todo[@]} -gt 0 ]; then
  ./bin/train --seeds "$(IFS=,; echo "${todo[*]}")" --out "$runs" --resume ${TRAIN_ARGS:-}
  for s in "${todo[@]}"; do touch "$runs/alexnet-mini-seed$s/done"; done
fi
nets=(); for s in $seeds; do nets+=("$runs/alexnet-mini-seed$s"); done
# --null untrained: the same table for the untrained nets (ckpt-000000000.bin) beside the learned one.
./bin/correlate "${nets[@]}" --out "$runs/correlate" --null untrained ${CORRELATE_ARGS:-}
./bin/align --correlate-dir "$runs/correlate" --out "$runs/align" ${ALIGN_ARGS:-}
./bin/visualize "$runs/alexnet-mini-seed1" "$runs/alexnet-mini-seed2" --layer conv1,conv2,conv3,conv4,conv5 \
  --correlate-dir "$runs/correlate" --out "$runs/vis"
echo "demo: figures of the best and worst matched units in $runs/vis/<layer>/"
./bin/report "${nets[@]}" --correlate-dir "$runs/correlate" --align-dir "$runs/align" --vis-dir "$runs/vis" --out "$runs/report"
echo "demo: the whole study on one page: $(cd "$runs/report" && pwd)/index.html"
