#!/usr/bin/env bash
# Data-parallel scaling of the training step on this machine: bench_train_step at 1 rank and at
# K ranks under mpirun (one OpenMP thread per rank, so each rank has a core), and 1 rank using
# all cores' threads for reference, one after the other in one run.
#
#   bench/mpi_scaling.sh [build/bin/bench_train_step] [preset] [global batch] [steps] [K]
#
# Prints each run's scaling line and rate, then the speed-up of K ranks over 1.
set -euo pipefail
bench=${1:-build/bin/bench_train_step}
preset=${2:-small}
batch=${3:-16}
steps=${4:-10}
ranks=${5:-2}
# OpenMPI refuses root unless told (CI and the workplace machines run as root).
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
common=(--preset "$preset" --batch "$batch" --steps "$steps" --device cpu)
rate() { awk '/samples\/s$/ { r = $1 } END { print r }'; }

echo "== 1 rank, 1 thread"
one=$(OMP_NUM_THREADS=1 "$bench" "${common[@]}" --comm single | tee /dev/stderr | rate)
echo "== 1 rank, $(nproc) threads"
OMP_NUM_THREADS=$(nproc) "$bench" "${common[@]}" --comm single | tail -n 1
echo "== $ranks ranks (mpirun), 1 thread each"
many=$(mpirun -np "$ranks" --oversubscribe --mca btl self,vader -x OMP_NUM_THREADS=1 "$bench" "${common[@]}" --comm mpi \
       | tee /dev/stderr | rate)
awk -v a="$one" -v b="$many" -v k="$ranks" \
    'BEGIN { printf "speed-up of %d ranks over 1 (one thread each): %.2fx (%.2f -> %.2f samples/s)\n", k, b / a, a, b }'
