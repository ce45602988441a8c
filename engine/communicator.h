// Collectives between the processes of one data-parallel job: what `train` and `datagen` need to
// run under `mpirun -np K` or `srun`, on the engines HPC and deep-learning people already run.
//
//   single  one process, every collective the identity (no MPI needed).
//   mpi     MPI (Debian's OpenMPI): host buffers directly; CUDA buffers through host staging
//           (copied to the host, reduced, copied back), which is correct with any MPI, CUDA-aware
//           or not.
//   nccl    NCCL for CUDA buffers (sums on the GPU, ranks exchanging over NVLink or the network);
//           host buffers and the set-up (the ncclUniqueId broadcast) go through MPI. One GPU per
//           rank: NCCL cannot put two ranks on one GPU.
//
// Every rank must make the same collective calls in the same order. A rank that fails must not
// leave the others waiting in a collective: `abort` prints its message with the rank and stops
// the whole job (MPI_Abort), and io::run_main calls it for an error on any rank of a job of more
// than one process (active_communicator()).
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/share.h"  // Share, share_of: how a job cuts its items among the ranks
#include "engine/device.h"
#include "engine/tensor.h"

namespace ednn {

class Communicator {
public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual const char* name() const = 0;  // "single", "mpi" or "nccl"

  // Sums the tensors element-wise over all ranks, in place (float32, all on one device). The
  // tensors go as one bucket: packed into one buffer and reduced with one call (MPI), or one
  // fused group of calls (NCCL).
  virtual void all_reduce_sum(const std::vector<Tensor>& tensors) = 0;
  // Sums host doubles over all ranks, in place (metric sums, counts, loss values).
  virtual void all_reduce_sum(double* values, std::size_t count) = 0;
  // Copies root's host bytes to every rank.
  virtual void broadcast(void* bytes, std::size_t count, int root) = 0;
  // Root receives every rank's host bytes (any length each), concatenated in rank order; the
  // other ranks' `all` is left empty.
  virtual void gather(const void* mine, std::size_t count, std::vector<unsigned char>& all, int root) = 0;
  virtual void barrier() = 0;
  // Prints "<message> (rank r of K)" on stderr and stops every rank of the job; never returns.
  [[noreturn]] virtual void abort(const std::string& message) = 0;

  bool is_root() const { return rank() == 0; }
};

// kind: "auto" (mpi when the process was started by mpirun, srun or another MPI launcher, with
// nccl instead for device cuda in builds with NCCL; else single), "single", "mpi" or "nccl".
// Asking for a backend this build lacks is an error that says how to get it.
std::unique_ptr<Communicator> make_communicator(const std::string& kind, Device device);

// True when an MPI launcher started this process (OMPI_COMM_WORLD_SIZE, PMI_SIZE, PMIX_RANK or
// SLURM_NTASKS > 1 with SLURM_PROCID in the environment).
bool launched_by_mpi();
// This process's rank as its launcher numbered it (OMPI_COMM_WORLD_RANK, PMI_RANK, PMIX_RANK or
// SLURM_PROCID); 0 when no launcher started it. Known before any communicator exists, so that a
// program can let rank 0 alone report a bad command line (io::run_main).
int launcher_rank();
// Which backends this build has: "single", "single, mpi", "single, mpi, nccl".
std::string communicator_backends();

// The communicator of this process's job, if one was made with more than one rank (the last one
// made; null otherwise). run_main uses it to stop the whole job on an error. When the job's
// communicator is destroyed by an exception on its way to run_main, MPI is left running and this
// returns a stand-in whose abort still stops the job (every other call fails).
Communicator* active_communicator();
void set_active_communicator(Communicator* c);  // for the backends

}  // namespace ednn
