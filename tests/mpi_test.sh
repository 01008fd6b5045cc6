#!/usr/bin/env bash
# MPI ranks (issue 18), on this machine's cores (oversubscribed, root allowed): bin/correlate on 1, 2
# and 3 ranks against one process (also with a rank that owns no batch), every output file compared (scripts/compare_outputs.py: 1e-12
# relative, and bit for bit on one rank); bin/train on 2 ranks against one process for a few
# iterations (weights within the README's tolerance), also resumed with another number of ranks;
# a rank that cannot read its shard, and a rank killed with SIGKILL, stop every rank with an error
# and leave no results; a diverging train names its checkpoint on every rank, and a signal to one
# rank of a train stops both and is reported as that signal. Prints "mpi: ok".
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
B=$repo/bin
fail() { echo "mpi: FAILED: $*" >&2; exit 1; }
command -v mpirun > /dev/null || fail "mpirun not found: scripts/deps.sh installs openmpi-bin (make test runs it)"
W=$(mktemp -d /tmp/cvg_mpi.XXXXXX)
trap 'rm -rf "$W"' EXIT
cd "$W"
export OMP_WAIT_POLICY=passive OMP_NUM_THREADS=1
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mpi() { local n=$1; shift; mpirun -np "$n" --oversubscribe --bind-to none "$@"; }
compare() { /usr/bin/python3 "$repo/scripts/compare_outputs.py" "$@"; }
net=$repo/tests/nets/tiny.json
# Trained weights: 2 ranks vs one process, 6 iterations of batch 32 (with dropout). The tolerance
# (README): the gradients are summed in another order, so the weights differ by float rounding,
# measured at 2.5e-7 of a tensor's largest value after these 6 steps; 1e-5 is 40x that, while a
# slice's gradient counted wrongly (not reduced, or not weighted by its share) moves them by >1e-3.
TRAIN_TOL=1e-5
train() { "$@" --net "$net" --lr-step 1000 --threads 1 > /dev/null 2> train_err.txt || { cat train_err.txt; fail "$*"; }; }
train $B/train --iters 6 --out one --seeds 1,2
train mpi 2 $B/train --iters 6 --out two --seeds 1
train mpi 2 $B/train --iters 3 --out resumed --seeds 1
train $B/train --iters 6 --out resumed --resume --seeds 1  # 2 ranks, then 1
for run in one two resumed; do
  $B/train --export-npy $run/tiny-seed1 w-$run > /dev/null
done
compare w-two w-one --rtol $TRAIN_TOL --ignore checkpoint > cmp-train.json || fail "train on 2 ranks vs 1: $(cat cmp-train.json)"
compare w-resumed w-one --rtol $TRAIN_TOL --ignore checkpoint > cmp-resume.json || fail "train 2 ranks resumed on 1: $(cat cmp-resume.json)"
cmp -s w-two/conv1.weight.npy w-one/conv1.weight.npy && fail "2 ranks gave bit-identical weights: was anything reduced?"
grep -q '"iteration":6' two/tiny-seed1/log.jsonl || fail "log of the 2-rank run: $(cat two/tiny-seed1/log.jsonl)"

# correlate: one process vs 1, 2 and 3 ranks; an uneven last batch, MI, blocks, bootstrap, the null.
corr() {
  "$@" one/tiny-seed1 one/tiny-seed2 --max-images 700 --batch 64 --blocks 8 --bootstrap 20 --null untrained \
    --threads 1 > corr_out.txt 2> corr_err.txt || { cat corr_err.txt; fail "$*"; }
}
corr $B/correlate --out c1
corr mpi 1 $B/correlate --out c1-mpi
corr mpi 2 $B/correlate --out c2
corr mpi 3 $B/correlate --out c3
timing=seconds,matching_seconds
compare c1-mpi c1 --rtol 0 --ignore $timing > cmp.json || fail "correlate on 1 rank is not bit-identical: $(cat cmp.json)"
for n in 2 3; do
  compare c$n c1 --rtol 1e-12 --ignore $timing > cmp.json || fail "correlate on $n ranks vs 1: $(cat cmp.json)"
done
# Fewer batches than ranks: 100 images at batch 64 on 3 ranks leave rank 2 without a batch (it
# loaded none and failed on its empty shard before).
corr_few() { "$@" one/tiny-seed1 one/tiny-seed2 --max-images 100 --batch 64 --threads 1 > /dev/null 2> corr_err.txt || { cat corr_err.txt; fail "$*"; }; }
corr_few $B/correlate --out few1
corr_few mpi 3 $B/correlate --out few3
compare few3 few1 --rtol 1e-12 --ignore $timing > cmp.json || fail "correlate on 3 ranks, one without a batch, vs 1: $(cat cmp.json)"

# Faults: the failing rank is named, every rank stops, no output folder appears.
set +e
CONVERGENT_FAIL_RANK=1 mpi 2 $B/correlate one/tiny-seed1 one/tiny-seed2 --max-images 300 --out cf > /dev/null 2> err.txt
rc=$?
set -e
[ $rc -ne 0 ] || fail "a failing rank 1 gave exit 0"
grep -q "error: rank 1: .*injected failure" err.txt || fail "the error should name rank 1: $(cat err.txt)"
[ ! -e cf ] || fail "a failed distributed correlate left its output folder"
# Sends signal $1 to rank 1 of the mpirun started in the background as $guard, once both ranks exist
# and err.txt shows the progress bar $2 (a rank killed while MPI was still starting was once seen to
# leave mpirun waiting for it forever, OpenMPI 4.1); rc: mpirun's exit status, victim: the rank's pid.
signal_rank1() {
  local ranks=
  for _ in $(seq 400); do
    ranks=$(pgrep -P "$(pgrep -P $guard -x mpirun || echo 0)" | sort -n | tr '\n' ' ' || true)
    [ "$(echo $ranks | wc -w)" -ge 2 ] && grep -q "$2" err.txt && break
    sleep 0.05
  done
  victim=$(echo $ranks | awk '{print $2}')
  [ -n "$victim" ] || fail "could not find the ranks of mpirun under timeout $guard"
  kill "-$1" "$victim"
  set +e
  wait $guard
  rc=$?
  set -e
}
# The launcher runs under a time limit: if it missed the death of its rank, the test fails saying
# so, where it would otherwise wait forever.
timeout -k 10 300 mpirun -np 2 --oversubscribe --bind-to none $B/correlate one/tiny-seed1 one/tiny-seed2 --blocks 0 \
  --bootstrap 0 --out ck > /dev/null 2> err.txt &
guard=$!
signal_rank1 KILL "statistics \["
[ $rc -ne 124 ] || fail "mpirun did not exit within 300 s of its rank $victim being killed"
[ $rc -ne 0 ] || fail "a rank killed with SIGKILL gave exit 0"
[ ! -e ck ] || fail "a correlate with a killed rank left its output folder"
# train: a diverging net's error on every rank names the checkpoint rank 0 wrote (rank 1's said "none").
set +e
mpi 2 $B/train --net "$net" --lr-step 1000 --threads 1 --data synthetic:200 --batch 20 --iters 50 --seeds 1 --lr 1000 \
  --out dv > /dev/null 2> err.txt
rc=$?
set -e
[ $rc -eq 1 ] || fail "a diverging 2-rank train gave exit $rc: $(cat err.txt)"
[ "$(grep -c 'Last good checkpoint: dv/tiny-seed1/ckpt-000000000.bin' err.txt)" -eq 2 ] ||
  fail "each rank should name the untrained checkpoint: $(grep error err.txt)"
# train: SIGTERM to rank 1 alone stops both ranks at one step, with a checkpoint, and is reported as
# that signal (exit 143), not as another net's failure (rank 0 had no signal of its own).
timeout -k 10 300 mpirun -np 2 --oversubscribe --bind-to none $B/train --net "$net" --lr-step 100000 --threads 1 \
  --data synthetic:2000 --batch 32 --iters 100000 --seeds 1 --out sig > /dev/null 2> err.txt &
guard=$!
signal_rank1 TERM "seed 1 \["
[ $rc -eq 143 ] || fail "SIGTERM to rank 1 of a train gave exit $rc (want 143): $(tr '\r' '\n' < err.txt | grep -v '^seed 1 \[')"
grep -q "seed 1: stopped by signal 15 after iteration" err.txt || fail "the stop should name signal 15: $(tr '\r' '\n' < err.txt | grep -v '^seed 1 \[')"
echo "mpi: ok"
