#!/usr/bin/env bash
# The GPU measurements (docs/gpu.md) on a GPU machine, in as few commands as a 10-minute limit
# per command allows.
#
#   benchmarks/gpu_session.sh prepare               # here, before: data and pytest to carry
#   benchmarks/gpu_session.sh [PHASE ...]           # there: tests bench pack paper (default all)
#
# prepare (on the CPU machine) copies the four Fashion-MNIST IDX .gz files to data/fashion-mnist
# and pytest's pure-Python packages to .gpu_vendor (both git-ignored; carry them: `data`,
# `.gpu_vendor`). On the GPU machine (torch, pandas, pyarrow; no Ray, maybe no pytest):
#   tests  the test files that train on the selected device (those using the `on_device`
#          fixture), with CUDA selected, fp32 then bf16; the rest of the suite runs no tensor
#          on the GPU, so it is checked on a CPU machine with the GPU image's Python and torch
#          (docs/gpu.md), not here
#   bench  benchmarks/bench_gpu.py (paper MLP and vit-paper ViT: eager/compiled, fp32/bf16)
#   pack   benchmarks/bench_pack.py, N = 1 2 4 8 concurrent paper-MLP trials
#   paper  the paper-scale pair: `paper` preset, 300 epochs, seed 0: baseline and Adaptive-ETF
#          eps 0.1 rotated and canonical, as 3 concurrent processes, checkpointed under
#          runs/gpu (kept while the machine stays warm: rerun `paper` to resume), then
#          collected with nc_core.results.collect into $OUT/paper/{epochs,layers}.parquet
# Everything printed goes to $OUT/session.log too. The whole command stops itself before
# DEADLINE seconds (default 570, under the device's 600 s): a phase that would start later is
# skipped and says so, and the paper runs are stopped in time and resume on the next call.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=${PY:-python3}  # on the GPU image, python3 is the interpreter that holds torch
OUT=${OUT:-$ROOT/runs/gpu-out}
DEADLINE=${DEADLINE:-570}
START=$SECONDS
mkdir -p "$OUT"
LOG=$OUT/session.log

if [ "${1:-}" = prepare ]; then
  src=${NC_DATA_DIR:-/usr/share/datasets/fashion-mnist}
  mkdir -p data/fashion-mnist .gpu_vendor
  cp "$src"/*-ubyte.gz data/fashion-mnist/
  site=$($PY -c 'import pytest, os; print(os.path.dirname(os.path.dirname(pytest.__file__)))')
  for p in pytest _pytest pluggy iniconfig packaging py.py; do cp -r "$site/$p" .gpu_vendor/; done
  du -sh data/fashion-mnist .gpu_vendor
  exit 0
fi

say() { echo "[$(date +%T) +$((SECONDS - START))s] $*" | tee -a "$LOG"; }
left() { echo $((DEADLINE - (SECONDS - START))); }
export PYTHONPATH=$ROOT${PYTHONPATH:+:$PYTHONPATH}
if ! $PY -c 'import pytest' 2>/dev/null && [ -d .gpu_vendor ]; then
  export PYTHONPATH=$PYTHONPATH:$ROOT/.gpu_vendor
fi
export NC_DATA_DIR=${NC_DATA_DIR:-$ROOT/data/fashion-mnist}
for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte \
  t10k-labels-idx1-ubyte; do
  if [ ! -e "$NC_DATA_DIR/$f.gz" ] && [ ! -e "$NC_DATA_DIR/$f" ]; then
    echo "error: NC_DATA_DIR=$NC_DATA_DIR lacks $f(.gz); run '$0 prepare' here and carry data" >&2
    exit 2
  fi
done
DEVICE=${DEVICE:-cuda}  # DEVICE=cpu: a dry run of every phase on a CPU (fp32 only, small sizes)
# Extra flags per phase, for a dry run on a CPU or a shorter session:
#   BENCH_ARGS (bench_gpu.py; DEVICE=cpu adds --quick), PACK_ARGS (bench_pack.py, after
#   --ns 1 2 4 8 --epochs 4, so "--ns 1 2 --epochs 2" replaces them), PAPER_ARGS (nc_core.train)
if [ "$DEVICE" = cuda ] && ! $PY -c 'import torch, sys; sys.exit(not torch.cuda.is_available())'; then
  echo "error: torch sees no CUDA device; this script measures a GPU" >&2
  exit 2
fi

PHASES=("$@")
[ ${#PHASES[@]} -eq 0 ] && PHASES=(tests bench pack paper)
say "phases: ${PHASES[*]}; $($PY -c 'import torch; print(torch.__version__, torch.cuda.is_available() and torch.cuda.get_device_name())')"
TESTS_OK=""

run_phase() {  # run_phase NAME MIN_SECONDS CMD...: run CMD if MIN_SECONDS are left
  local name=$1 need=$2
  shift 2
  if [ "$(left)" -lt "$need" ]; then
    say "$name: skipped, $(left)s left of DEADLINE=$DEADLINE (needs ~${need}s); rerun: $0 $name"
    return 1
  fi
  say "$name: $*"
  timeout "$(left)" "$@" 2>&1 | grep -v "No CUDA runtime is found" | tee -a "$LOG"
  local rc=${PIPESTATUS[0]}
  say "$name: exit $rc"
  return "$rc"
}

paper() {
  mkdir -p runs/gpu
  local compile=${PAPER_COMPILE:-${TESTS_OK:-1}} pids=() name
  # PAPER_ARGS: extra flags after these (a dry run: PAPER_ARGS="--subset 20 --epochs 2")
  # shellcheck disable=SC2206
  local flags=(--preset paper --epochs 300 --seed 0 --device "$DEVICE" ${PAPER_ARGS:-})
  [ "$compile" = 1 ] && flags+=(--compile)
  say "paper: ${flags[*]} (3 concurrent processes, logs in runs/gpu/*.log)"
  for spec in "baseline --policy none" "adaptive_rotated --policy adaptive --eps 0.1 --kind rotated" \
    "adaptive_canonical --policy adaptive --eps 0.1 --kind canonical"; do
    read -r name args <<<"$spec"
    # shellcheck disable=SC2086
    timeout "$(($(left) - 20))" $PY -m nc_core.train $args "${flags[@]}" \
      --out "runs/gpu/$name.parquet" --checkpoint "runs/gpu/$name.pt" >>"runs/gpu/$name.log" 2>&1 &
    pids+=($!)
  done
  local rc=0
  for pid in "${pids[@]}"; do wait "$pid" || rc=$?; done
  for name in baseline adaptive_rotated adaptive_canonical; do tail -n 2 "runs/gpu/$name.log" | tee -a "$LOG"; done
  if [ "$rc" -ne 0 ]; then
    say "paper: stopped (exit $rc); checkpoints kept in runs/gpu: rerun '$0 paper' to resume"
    return "$rc"
  fi
  $PY -m nc_core.collect --study paper_pair --out "$OUT/paper" --force runs/gpu/*.parquet | tee -a "$LOG"
  $PY - "$OUT/paper/epochs.parquet" <<'EOF' | tee -a "$LOG"
import sys
import pandas as pd
df = pd.read_parquet(sys.argv[1])
last = df.sort_values("epoch").groupby("trial_id").tail(1).set_index("trial_id")
wall = df.groupby("trial_id")[["epoch_seconds", "eval_seconds"]].sum().sum(axis=1)
print(f"paper pair, {int(df.epoch.max())} epochs (the paper, 300: 98.09% train / 89.38% test)")
for tid, r in last.iterrows():
    print(f"{tid:20} train {r.train_acc:.2%} test {r.test_acc:.2%} trainable {r.trainable_params:,} "
          f"fixed {r.layers_fixed} [{', '.join(r.fixed_layers)}] train+eval {wall[tid] / 60:.1f} min")
EOF
}

for phase in "${PHASES[@]}"; do
  case $phase in
    tests)
      mapfile -t files < <(grep -l "on_device" tests/test_*.py)
      precisions=(fp32 bf16)
      [ "$DEVICE" = cpu ] && precisions=(fp32)  # bf16 autocast is CUDA only
      for prec in "${precisions[@]}"; do
        NC_TEST_DEVICE=$DEVICE NC_TEST_PRECISION=$prec run_phase "tests-$prec" 60 \
          $PY -m pytest -q -p no:cacheprovider "${files[@]}" && TESTS_OK=${TESTS_OK:-1} || TESTS_OK=0
      done ;;
    bench)
      quick=()
      [ "$DEVICE" = cpu ] && quick=(--quick)
      # shellcheck disable=SC2086
      run_phase bench 120 $PY benchmarks/bench_gpu.py --device "$DEVICE" "${quick[@]}" ${BENCH_ARGS:-} ;;
    pack)
      # shellcheck disable=SC2086
      run_phase pack 120 $PY benchmarks/bench_pack.py --device "$DEVICE" --ns 1 2 4 8 --epochs 4 \
        ${PACK_ARGS:-} ;;
    paper) [ "$(left)" -gt 90 ] && paper || say "paper: skipped, $(left)s left; rerun: $0 paper" ;;
    *) echo "error: unknown phase $phase (expected tests bench pack paper, or prepare)" >&2; exit 2 ;;
  esac
done
say "done in $((SECONDS - START))s; log: $LOG"
