#!/usr/bin/env bash
# Quickstart: from a fresh clone to a trained surrogate with metrics and pictures.
#
#   scripts/quickstart.sh
#
# 1. installs missing Debian packages (scripts/install_deps.sh), 2. builds (CUDA when a toolkit
# is found), 3. generates a small data set at L = 128 (100 samples per number of sources 1..20:
# 1,600 train, 400 test), 4. trains the `small` preset (786,833 parameters) on the GPU when there is
# one, else on the CPU, for at most TRAIN_SECONDS (default 400), 5. runs infer on the test split
# and prints the test MAE next to two trivial baselines (predicting the input, predicting zeros).
# On a 2-core machine steps 3 to 5 take under 10 minutes.
#
# Environment: BUILD_DIR (default build), QUICKSTART_OUT (default runs/quickstart), TRAIN_SECONDS,
# DEVICE (default auto).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD_DIR:-build}
OUT=${QUICKSTART_OUT:-runs/quickstart}
TRAIN_SECONDS=${TRAIN_SECONDS:-400}
DEVICE=${DEVICE:-auto}

scripts/install_deps.sh
cmake -S . -B "$BUILD" -G Ninja
cmake --build "$BUILD" -j --target datagen train infer

start=$(date +%s)
elapsed() { echo "$(( $(date +%s) - start ))s"; }
mkdir -p "$OUT"
DATA="$OUT/data_L128.h5"
echo "== quickstart: generating $DATA"
"$BUILD/bin/datagen" --out "$DATA" --L 128 --per-n 100 --min-sources 1 --max-sources 20 \
  --test-fraction 0.2 --seed 1 --device "$DEVICE"
echo "== quickstart: data ready after $(elapsed); training the small preset (up to ${TRAIN_SECONDS}s)"
"$BUILD/bin/train" --data "$DATA" --preset small --epochs 40 --batch 16 --lr 1e-3 --seed 0 \
  --device "$DEVICE" --out "$OUT/run" --time-limit "$TRAIN_SECONDS" --overwrite  # a rerun starts afresh
echo "== quickstart: trained after $(elapsed); evaluating on the test split"
"$BUILD/bin/infer" --checkpoint "$OUT/run/best.safetensors" --data "$DATA" --split test \
  --device "$DEVICE" --out "$OUT/infer" --pictures 4 --compare-solver --quiet --overwrite
echo "== quickstart: done in $(elapsed) after the build."
echo "   metrics:  $OUT/infer/metrics.csv, $OUT/infer/metrics.json"
echo "   pictures: $OUT/infer/sample_*.{pdf,svg,png}, plots: $OUT/infer/mae_vs_n.{pdf,svg,png}"
echo "   model:    $OUT/run/best.safetensors (log: $OUT/run/train_log.csv)"
