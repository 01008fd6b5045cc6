#!/usr/bin/env bash
# make demo: trains the two default nets (alexnet-mini, seeds 1 and 2, Fashion-MNIST) unless
# they are already trained, then compares them with bin/correlate (matching table) and bin/align
# (sparse prediction, spectral groups, CKA/CCA/Procrustes).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-runs}
for s in 1 2; do
  dir="$runs/alexnet-mini-seed$s"
  if ls "$dir"/ckpt-*.bin >/dev/null 2>&1 && [ -f "$dir/done" ]; then
    echo "demo: $dir already trained"
  else
    ./bin/train --seeds "$s" --out "$runs" ${TRAIN_ARGS:-} $( [ -d "$dir" ] && echo --resume )
    touch "$dir/done"
  fi
done
./bin/correlate "$runs/alexnet-mini-seed1" "$runs/alexnet-mini-seed2" --out "$runs/correlate" ${CORRELATE_ARGS:-}
./bin/align --correlate-dir "$runs/correlate" --out "$runs/align" ${ALIGN_ARGS:-}
