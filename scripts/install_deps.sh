#!/usr/bin/env bash
# Installs what ednn needs on a fresh Debian 12 machine, from Debian's packages only.
# The CUDA toolkit (nvcc, cuBLAS, cuDNN, CUB) is expected in /usr/local/cuda when present;
# without it the project builds its CPU engine and the emulated kernels alone.
# python3-torch, python3-h5py and python3-numpy are for python/ednn.py and its test (python_ednn).
set -euo pipefail
packages=(cmake ninja-build g++ pkg-config doctest-dev libhdf5-dev libopenblas-dev
          nlohmann-json3-dev libcairo2-dev fonts-dejavu-core libopenmpi-dev openmpi-bin
          python3-torch python3-h5py python3-numpy
          slurmctld slurmd slurm-client munge)  # slurm_srun: a one-node Slurm (scripts/slurm_check.sh)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "install_deps: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
else
  echo "install_deps: all packages present"
fi
