#!/usr/bin/env bash
# gpu_check.sh: everything worth doing in the few minutes a GPU is lent, in one prepared run:
# build with nvcc, run the GPU tests, run the kernel benchmarks and the training step at the
# paper's shapes beside PyTorch (fp32 and TF32), then compute-sanitizer (memcheck and racecheck)
# over a short subset, then Nsight Compute (ncu) over one layer's convolution kernels when it is
# installed, and print a short summary last (with bench/conv_sums.py's totals against cuDNN, and
# each row measured beside the time model's prediction on record, bench/model_check.py). The steps run in that order (most useful
# first) and the whole run keeps to DEADLINE seconds: a step that would not finish in time is cut
# short or skipped, and the summary is printed either way.
#
# How to run it (from the repository root, on the machine with the GPU):
#   bench/gpu_check.sh                 # build into build-gpu/, log into build-gpu/gpu_check/
#   BUILD=/tmp/b ARCH=90 bench/gpu_check.sh
# Needs: CMake >= 3.25, a CUDA toolkit (nvcc, compute-sanitizer), a C++20 compiler with OpenMP.
# Not needed: HDF5 (the data programs are skipped), OpenBLAS (the CPU convolutions then use the
# built-in GEMM), installed doctest and nlohmann-json: bench/prepare_gpu_carry.sh copies their
# headers into third_party/ (git-ignored; the top-level CMakeLists.txt looks there). With the
# workplace's device tool, from the development machine:
#   bench/prepare_gpu_carry.sh
#   run(command="OUT=$OUT bench/gpu_check.sh", carry=["third_party"], timeout_s=600)
# Then copy the summary (it names the card, the date and the command) into bench/ as a record,
# e.g. bench/gpu_check_<card>_<date>.txt.
#
# Environment: ARCH (CMAKE_CUDA_ARCHITECTURES, default: the card's own, else 90), BUILD (build
# folder), JOBS (parallel compile jobs, default: all cores), SKIP_BUILD=1 (reuse BUILD),
# DEADLINE (seconds for the whole run, default 540: one call of the workplace's device tool, with
# room for its transfers), OUT (a folder that comes back from that tool: the summary and a tarball
# of every log and CSV/JSON are copied there).
set -u
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=${BUILD:-$ROOT/build-gpu}
LOG=$BUILD/gpu_check
JOBS=${JOBS:-$(nproc)}
START=$(date +%s)
mkdir -p "$LOG"
SUMMARY=()
FAILED=0
SKIPPED=0
DEADLINE=${DEADLINE:-540}

note() { printf '[gpu_check %4ds] %s\n' $(( $(date +%s) - START )) "$*"; }
# step NAME TIMEOUT_S COMMAND...: runs the command with a time limit, its output in $LOG/NAME.log.
step() {
  local name=$1 limit=$2; shift 2
  local left=$(( DEADLINE - ($(date +%s) - START) - 10 ))  # 10 s kept for the summary
  if [ $left -lt 15 ]; then
    note "$name: skipped, ${DEADLINE}s deadline"
    SUMMARY+=("$(printf '%-28s %-22s' "$name" "NOT RUN (deadline)")"); SKIPPED=1
    return 0
  fi
  [ "$limit" -gt "$left" ] && limit=$left
  note "$name: $*"
  local t0=$(date +%s) rc
  timeout "$limit" "$@" > "$LOG/$name.log" 2>&1
  rc=$?
  local dt=$(( $(date +%s) - t0 ))
  local verdict=ok
  if [ $rc -eq 124 ]; then verdict="TIMED OUT after ${limit}s"; FAILED=1
  elif [ $rc -ne 0 ]; then verdict="FAILED (exit $rc)"; FAILED=1; fi
  SUMMARY+=("$(printf '%-28s %-22s %4ds   %s' "$name" "$verdict" "$dt" "$LOG/$name.log")")
  [ $rc -eq 0 ] || tail -n 20 "$LOG/$name.log"
  return $rc
}

CARD=$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -n 1)
CAP=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -n 1 | tr -d '.')
ARCH=${ARCH:-${CAP:-90}}
note "card: ${CARD:-none found by nvidia-smi}; sm_$ARCH; $JOBS jobs; build in $BUILD"
[ -n "$CARD" ] || note "WARNING: nvidia-smi sees no GPU: the build still runs, the GPU steps will fail or skip"

# ---- 1. build (nvcc for sm_$ARCH, tests, benchmarks; no HDF5) -------------------------------
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  step configure 120 cmake -S "$ROOT" -B "$BUILD" -G "$(command -v ninja >/dev/null && echo Ninja || echo 'Unix Makefiles')" \
    -DCMAKE_BUILD_TYPE=Release -DEDNN_CUDA=ON -DEDNN_HDF5=OFF -DCMAKE_CUDA_ARCHITECTURES="$ARCH" \
    -DCMAKE_CUDA_FLAGS=-lineinfo || { printf '%s\n' "${SUMMARY[@]}"; exit 1; }
  step build 300 cmake --build "$BUILD" -j "$JOBS" || { printf '%s\n' "${SUMMARY[@]}"; exit 1; }
fi
BIN=$BUILD/bin      # the programs and benchmarks
TESTS=$BUILD/tests  # the test binaries

# ---- 2. the GPU tests: the emulation's test bodies, on the card ------------------------------
step ctest_gpu 120 ctest --test-dir "$BUILD" -L gpu --output-on-failure --timeout 100
# A GPU test that skips (exit 77) here means the card was not usable: say so loudly.
if grep -q "Skipped\|Not Run" "$LOG/ctest_gpu.log"; then SUMMARY+=("ctest_gpu: SOME GPU TESTS SKIPPED (see log)"); FAILED=1; fi

# ---- 3. benchmarks at the paper's shapes (each checks its results before timing) ---------------
[ -x "$BIN/bench_conv" ] && step bench_conv 150 "$BIN/bench_conv" --preset paper --batch 16 --runs 5 \
  --csv "$LOG/bench_conv.csv" --json "$LOG/bench_conv.json"
if [ -x "$BIN/bench_train_step" ]; then
  step bench_train_step_small 60 "$BIN/bench_train_step" --preset small --batch 50 --steps 20 --device cuda
  step bench_train_step_paper 120 "$BIN/bench_train_step" --preset paper --batch 50 --steps 3 --device cuda
  step bench_train_step_paper_tf32 120 "$BIN/bench_train_step" --preset paper --batch 50 --steps 3 --device cuda \
    --tf32
  # The data-parallel step through NCCL at one rank (NCCL cannot put two ranks on one GPU): the
  # gradients' ncclAllReduce on the engine's stream, and its share of the step.
  step bench_train_step_small_nccl 60 "$BIN/bench_train_step" --preset small --batch 50 --steps 20 --device cuda \
    --comm nccl
  # The step replayed from a CUDA graph beside the eager one (one run each prints both medians).
  step bench_train_step_small_graph 60 "$BIN/bench_train_step" --preset small --batch 50 --steps 20 --device cuda \
    --graph
  step bench_train_step_paper_graph 120 "$BIN/bench_train_step" --preset paper --batch 50 --steps 3 --device cuda \
    --graph
  # The same step in PyTorch with cuDNN (fp32, TF32 off), side by side in one run, when torch is there.
  if python3 -c 'import torch; assert torch.cuda.is_available()' 2>/dev/null; then
    step bench_torch_small 120 python3 "$ROOT/bench/torch_train_step.py" --device cuda --preset small --batch 50 \
      --steps 20 --ednn "$BIN/bench_train_step"
    step bench_torch_paper 180 python3 "$ROOT/bench/torch_train_step.py" --device cuda --preset paper --batch 50 \
      --steps 3 --ednn "$BIN/bench_train_step"
    # ednn's Winograd convolutions (conv2d version 6: all three passes, float) beside PyTorch's fp32.
    step bench_torch_paper_winograd 180 python3 "$ROOT/bench/torch_train_step.py" --conv-algo winograd \
      --device cuda --preset paper --batch 50 --steps 3 --ednn "$BIN/bench_train_step"
    # Both sides replaying CUDA graphs (the small preset, where launches weigh most).
    step bench_torch_small_graph 120 python3 "$ROOT/bench/torch_train_step.py" --device cuda --preset small \
      --batch 50 --steps 20 --graph --ednn "$BIN/bench_train_step"
    # Both on the tensor cores: PyTorch's allow_tf32 beside ednn's --tf32 (conv2d version 4).
    step bench_torch_paper_tf32 180 python3 "$ROOT/bench/torch_train_step.py" --device cuda --preset paper \
      --batch 50 --steps 3 --tf32 --ednn "$BIN/bench_train_step"
    # ednn's tensor cores at float accuracy (3xTF32, conv2d version 5) beside PyTorch's fp32.
    step bench_torch_paper_3xtf32 180 python3 "$ROOT/bench/torch_train_step.py" --conv-algo 3xtf32 \
      --device cuda --preset paper --batch 50 --steps 3 --ednn "$BIN/bench_train_step"
  else
    note "bench_torch: skipped, python3 has no torch with CUDA here"
  fi
fi

# Pooling, upsampling, leaky ReLU, batch norm, loss, Adam, reductions vs cuDNN, CUB, cuBLAS (both presets).
[ -x "$BIN/bench_ops" ] && step bench_ops 120 "$BIN/bench_ops" --preset all --batch 16 --runs 20 \
  --csv "$LOG/bench_ops.csv" --json "$LOG/bench_ops.json"
[ -x "$BIN/bench_sor_kernel" ] && step bench_sor_kernel 60 "$BIN/bench_sor_kernel" --L 512 --batch 256
for bench in "$BIN"/bench_kernels*; do  # kernel benchmarks added later
  [ -x "$bench" ] || continue
  step "$(basename "$bench")" 90 "$bench"
done

# ---- 4. compute-sanitizer over a short subset ------------------------------------------------
SAN=$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer /usr/local/cuda/compute-sanitizer/compute-sanitizer 2>/dev/null | head -n 1)
if [ -z "$SAN" ]; then
  SUMMARY+=("compute-sanitizer           NOT FOUND: memcheck and racecheck skipped"); FAILED=1
  SAN=false
fi
SUBSET_OPS='*batch_norm*,*loss*,*Adam*,*avg_pool2d*'
if [ -x "$TESTS/kernels_op_kernels_gpu" ]; then
  step memcheck_ops 90 "$SAN" --tool memcheck --error-exitcode 3 --leak-check full \
    "$TESTS/kernels_op_kernels_gpu" --test-case="$SUBSET_OPS"
  step racecheck_ops 120 "$SAN" --tool racecheck --error-exitcode 3 --racecheck-report hazard \
    "$TESTS/kernels_op_kernels_gpu" --test-case='*batch_norm*,*weighted*'
fi
if [ -x "$TESTS/kernels_ops_gpu" ]; then
  step racecheck_reduce 60 "$SAN" --tool racecheck --error-exitcode 3 "$TESTS/kernels_ops_gpu"
fi
if [ -x "$TESTS/kernels_conv_gpu" ]; then
  step memcheck_conv 120 "$SAN" --tool memcheck --error-exitcode 3 "$TESTS/kernels_conv_gpu"
  # The double-buffered tiles have one barrier per step: racecheck them (every version, small shapes).
  step racecheck_conv 120 "$SAN" --tool racecheck --error-exitcode 3 --racecheck-report hazard \
    "$TESTS/kernels_conv_gpu" --test-case='*dy_scale*'
fi

# ---- 5. Nsight Compute on one layer's convolution kernels, when ncu is here ---------------------
# Every version's three kernels at conv 512 -> 1024 on 32 x 32 (batch 16): duration, SM and memory
# throughput, occupancy, cycles per issued instruction. Performance counters may be closed to
# non-root users (ERR_NVGPUCTRPERM): then this step fails and says so in its log.
NCU=$(command -v ncu || ls /usr/local/cuda/bin/ncu /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -n 1)
if [ -n "$NCU" ] && [ -x "$BIN/bench_conv" ]; then
  step ncu_conv 150 bash -c '"$1" --csv --page details --target-processes all \
      -k regex:"conv2d_(forward|backward_data|backward_weight)_gemm" -c 60 \
      --section SpeedOfLight --section Occupancy --section WarpStateStats --section LaunchStats \
      "$2" --preset paper --batch 16 --runs 1 --layer "paper conv 512->1024" --csv "$3/ncu_bench_conv.csv" \
      > "$3/ncu_conv.csv"; rc=$?
    grep -m 5 "==ERROR==\|ERR_NVGPUCTRPERM" "$3/ncu_conv.csv"
    python3 "$4/bench/ncu_summary.py" "$3/ncu_conv.csv" --unique | tee "$3/ncu_conv_summary.txt"; exit $rc' \
    ncu_conv "$NCU" "$BIN/bench_conv" "$LOG" "$ROOT"
else
  SUMMARY+=("$(printf '%-28s %s' ncu_conv "NOT RUN: no ncu (Nsight Compute) here")")
fi

# ---- summary ----------------------------------------------------------------------------------
{
echo
echo "==================== gpu_check summary ===================="
echo "date:    $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "card:    ${CARD:-unknown} (sm_$ARCH)"
echo "command: $0 $*  (BUILD=$BUILD)"
echo "commit:  $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)$(git -C "$ROOT" diff --quiet 2>/dev/null || echo ' (with local changes)')"
printf '%s\n' "${SUMMARY[@]}"
if [ -f "$LOG/bench_conv.csv" ] && command -v python3 >/dev/null; then
  echo "--- bench_conv sums (bench/conv_sums.py)"; python3 "$ROOT/bench/conv_sums.py" "$LOG/bench_conv.csv" --rows
fi
# The time model's predictions on record (bench/predictions_paper.csv, made without a GPU by
# bench_counters and bench/time_model.py; its first line names the commit whose kernels it counted)
# beside what was just measured.
PREDICTIONS="$ROOT/bench/predictions_paper.csv"
[ -f "$PREDICTIONS" ] || PREDICTIONS=
MODEL_GPU=$(case "$CARD" in *H100*) echo H100 ;; *) echo H200 ;; esac)
if [ -n "$PREDICTIONS" ] && [ -f "$LOG/bench_conv.csv" ] && command -v python3 >/dev/null; then
  echo "--- measured beside predicted ($(basename "$PREDICTIONS"), $MODEL_GPU; bench/model_check.py)"
  head -n 1 "$PREDICTIONS"
  python3 "$ROOT/bench/model_check.py" --predictions "$PREDICTIONS" --gpu "$MODEL_GPU" --rows \
    --measured "$LOG/bench_conv.csv" $( [ -f "$LOG/bench_ops.csv" ] && echo "$LOG/bench_ops.csv")
fi
if [ -s "$LOG/ncu_conv_summary.txt" ]; then
  echo "--- ncu_conv (Nsight Compute, last launch of each kernel)"; cat "$LOG/ncu_conv_summary.txt"
fi
for f in "$LOG"/bench_*.log; do
  [ -f "$f" ] && { echo "--- $(basename "$f" .log) (last lines)"; tail -n 6 "$f"; }
done
grep -H "CUDA graph of" "$LOG"/bench_*.log 2>/dev/null | sed "s|^$LOG/||"  # eager beside graph medians
echo "total:   $(( $(date +%s) - START )) s; logs in $LOG"
if [ $FAILED -ne 0 ]; then echo "RESULT: SOME STEPS FAILED"
elif [ $SKIPPED -ne 0 ]; then echo "RESULT: every step that ran passed; some were not run (deadline)"
else echo "RESULT: all steps passed"; fi
} | tee "$LOG/summary.txt"
if [ -n "${OUT:-}" ] && [ -d "$OUT" ]; then
  cp "$LOG/summary.txt" "$OUT/gpu_check_summary.txt"
  tar czf "$OUT/gpu_check_logs.tar.gz" -C "$LOG" . 2>/dev/null
fi
exit $FAILED
