#!/usr/bin/env bash
# infer's peak memory against the number of samples it evaluates: one L = 64 data set, a `tiny`
# checkpoint (freshly initialised: memory does not depend on the weights), and infer run on the
# first 250, 1000 and 4000 samples. infer streams (apps/infer.cpp): its peak should not grow with N.
#
#   bench/infer_memory.sh [build/bin] [work dir]
#
# Prints one line per size: samples, peak resident memory (MiB, infer's timing.json and, where
# GNU time is installed, its own reading), wall seconds.
set -euo pipefail
bin=${1:-build/bin}
work=${2:-$(mktemp -d)}
mkdir -p "$work"
data="$work/d64.h5"
[ -f "$data" ] || "$bin/datagen" --out "$data" --L 64 --per-n 200 --seed 11 --device cpu > /dev/null
[ -f "$work/init/init.safetensors" ] || "$bin/train" --preset tiny --init-only --out "$work/init" > /dev/null
printf "%8s  %14s  %14s  %8s\n" samples "peak MiB (rusage)" "peak MiB (time)" seconds
for n in 250 1000 4000; do
  out="$work/infer_$n"
  rm -rf "$out"
  start=$(date +%s.%N)
  if [ -x /usr/bin/time ]; then
    gnu=$(/usr/bin/time -f %M "$bin/infer" --checkpoint "$work/init/init.safetensors" --data "$data" --split all \
          --limit "$n" --pictures 0 --device cpu --quiet --out "$out" 2>&1 >/dev/null | tail -n 1)
    gnu=$(awk -v k="$gnu" 'BEGIN { printf "%.1f", k / 1024 }')
  else
    "$bin/infer" --checkpoint "$work/init/init.safetensors" --data "$data" --split all --limit "$n" --pictures 0 \
      --device cpu --quiet --out "$out" > /dev/null
    gnu="-"
  fi
  end=$(date +%s.%N)
  peak=$(python3 -c "import json,sys; print('%.1f' % json.load(open(sys.argv[1]))['peak_memory_mib'])" "$out/timing.json")
  printf "%8d  %14s  %14s  %8.1f\n" "$n" "$peak" "$gnu" "$(awk -v a="$start" -v b="$end" 'BEGIN { print b - a }')"
done
