#!/usr/bin/env bash
# The README's srun lines, run on a one-node Slurm cluster started here for the purpose (CTest
# slurm_srun): Debian's slurmctld and slurmd on this machine, munge for their authentication, a
# slurm.conf written into a scratch folder (one node, this host, its cores; MpiDefault=pmix, so
# that srun gives OpenMPI the PMIx server it needs to start a job, as on most clusters).
#
#   scripts/slurm_check.sh BIN_DIR [WORK_DIR]
#
# 1. `srun --ntasks 2 datagen ...` writes the file one process writes, value for value (all but its
#    provenance group);
# 2. `srun --ntasks 2 train ... --device cpu` trains as one job of 2 MPI ranks (its header says so)
#    and writes its checkpoints.
# The GPU line of the README (`srun --gpus-per-task 1 ... --device cuda`) needs a node with GPUs
# and Slurm's gres configuration: not tried here.
# Needs root (slurmd starts jobs as their user) and the packages slurmctld slurmd slurm-client
# munge (scripts/install_deps.sh); without them it reports skipped (exit 77). The daemons it
# starts (munged only when none runs) are stopped at exit, by their process ids.
set -euo pipefail
bin=$(cd "${1:?usage: scripts/slurm_check.sh BIN_DIR [WORK_DIR]}" && pwd)
work=${2:-$(mktemp -d)}
export PATH=$PATH:/usr/sbin
for program in srun slurmctld slurmd munged munge; do
  command -v "$program" > /dev/null || { echo "slurm_check: skipped: $program not installed (Debian packages slurmctld slurmd slurm-client munge)"; exit 77; }
done
[ "$(id -u)" -eq 0 ] || { echo "slurm_check: skipped: starting slurmd needs root"; exit 77; }
for program in datagen train; do
  [ -x "$bin/$program" ] || { echo "slurm_check: skipped: $bin/$program not built (HDF5 missing?)"; exit 77; }
done

rm -rf "$work" && mkdir -p "$work/spool" "$work/state"
cd "$work"
host=$(hostname -s)
cat > slurm.conf <<EOF
ClusterName=ednn-check
SlurmctldHost=$host
SlurmctldPort=16817
SlurmdPort=16818
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=pmix
JobAcctGatherType=jobacct_gather/none
SlurmUser=root
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmdSpoolDir=$work/spool
StateSaveLocation=$work/state
SlurmctldLogFile=$work/slurmctld.log
SlurmdLogFile=$work/slurmd.log
NodeName=$host CPUs=$(nproc) State=UNKNOWN
PartitionName=check Nodes=ALL Default=YES MaxTime=10 State=UP
EOF
export SLURM_CONF=$work/slurm.conf

started=()
stop() {  # SIGTERM, then wait (up to 10 s each) until they are gone, so that the ports are free again
  for pid in "${started[@]}"; do kill "$pid" 2> /dev/null || true; done
  for pid in "${started[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2> /dev/null || break; sleep 0.2; done
  done
}
trap stop EXIT
if ! munge -n 2> /dev/null | unmunge > /dev/null 2>&1; then
  mkdir -p /run/munge && chown munge:munge /run/munge
  su -s /bin/sh munge -c /usr/sbin/munged
  sleep 1
  started+=("$(cat /run/munge/munged.pid)")
fi
slurmctld -f "$SLURM_CONF"
slurmd -f "$SLURM_CONF"
for _ in $(seq 50); do
  [ -f slurmctld.pid ] && [ -f slurmd.pid ] && sinfo -h -o %t 2> /dev/null | grep -q idle && break
  sleep 0.2
done
started+=("$(cat slurmctld.pid)" "$(cat slurmd.pid)")
sinfo -h -o %t | grep -q idle || { echo "slurm_check: the node did not come up:"; tail -5 slurmctld.log slurmd.log; exit 1; }
echo "slurm_check: one-node cluster up ($host, $(nproc) CPUs, Slurm $(srun --version | cut -d' ' -f2))"

# 1. datagen: the job's file is the one a single process writes.
srun --ntasks 2 "$bin/datagen" --out job.h5 --L 64 --per-n 4 --seed 1 --device cpu > datagen_job.log 2>&1 ||
  { cat datagen_job.log; exit 1; }
"$bin/datagen" --out one.h5 --L 64 --per-n 4 --seed 1 --device cpu > datagen_one.log 2>&1
grep -q "ranks=2 (mpi)" datagen_job.log || { echo "slurm_check: datagen did not run as 2 MPI ranks:"; cat datagen_job.log; exit 1; }
# Every data set and attribute, value for value, but the group `provenance` (the command line and
# date of the run that wrote the file: the one part that differs, as in test_datagen_mpi.cpp).
/usr/bin/python3 - job.h5 one.h5 <<'PY' || { echo "slurm_check: srun's datagen file differs from one process's"; exit 1; }
import sys, h5py, numpy as np
def contents(path):
    found = {}
    with h5py.File(path, "r") as f:
        for k, v in f.attrs.items(): found["attr " + k] = np.asarray(v).tobytes() if not isinstance(v, str) else v
        for name, d in f.items():
            if name == "provenance": continue
            found["data " + name] = d[()].tobytes()
            for k, v in d.attrs.items():
                if k not in ("DIMENSION_LIST", "REFERENCE_LIST"): found[name + " attr " + k] = str(v)
    return found
a, b = contents(sys.argv[1]), contents(sys.argv[2])
diff = [k for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
if diff: print("differs in:", ", ".join(diff)); sys.exit(1)
PY
echo "slurm_check: srun --ntasks 2 datagen: 2 MPI ranks, the file of one process, value for value (provenance aside)"

# 2. train: one data-parallel job of 2 ranks.
srun --ntasks 2 "$bin/train" --data job.h5 --preset tiny --epochs 1 --batch 4 --device cpu --out run --quiet \
  > train_job.log 2>&1 || { cat train_job.log; exit 1; }
grep -q "data parallel over 2 ranks (mpi)" train_job.log || { echo "slurm_check: train did not run as 2 ranks:"; cat train_job.log; exit 1; }
[ -f run/best.safetensors ] || { echo "slurm_check: train wrote no checkpoint"; cat train_job.log; exit 1; }
echo "slurm_check: srun --ntasks 2 train: data parallel over 2 MPI ranks, checkpoint written"
