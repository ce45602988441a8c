// Data set generation: what the `datagen` program does, as a library call so that tests (and
// scripts) can run it in-process.
//
// run_datagen(options) writes options.out with per_n * K samples (K = max - min + 1 source
// counts) in the order of solver/dataset_h5.h:
//   1. If options.out exists: made with the same parameters and finished -> nothing to do;
//      otherwise an error, the file is never overwritten.
//   2. If options.out + ".partial" exists: made with the same parameters -> continue after its
//      `completed` samples; other parameters -> an error; unreadable (killed while HDF5 metadata
//      was being written, possible only with compression) -> started again, with a warning.
//   3. Samples are generated in batches: rendered on the host (solver::render_samples), solved by
//      a solver::BatchSolver (the CPU one by default, or the CUDA kernel through
//      make_device_batch_solver of solver/batch_solver_device.h); after each batch the file
//      records `completed` and is flushed, so an interruption at any point loses at most one
//      batch. Without compression every HDF5 structure is allocated when the file is created and
//      later writes touch only raw data and the `completed` value, so a killed run always leaves a
//      file that h5py opens.
//   4. When all samples are in, the partial file is renamed to options.out.
// Every sample is a pure function of (seed, index), so a resumed run gives the same data as an
// uninterrupted one.
//
// Several processes (options.comm of more than one rank: `mpirun -np K datagen ...`, `srun`).
// Every rank renders and solves its share of each batch (contiguous blocks of the batch's sample
// indices, in rank order, as share_of of core/share.h cuts them); rank 0 gathers the
// shares and is the only one to touch the file: steps 1, 2 and 4 run there alone, and step 3
// writes exactly what one process would, batch by batch, with `completed` and a flush after each.
// So the file holds the same data, bit for bit, whatever the number of ranks, and resuming a
// killed multi-rank run (with any number of ranks, or one) works as above. Why one writer and
// not parallel HDF5: the solve dominates (SOR at L = 512 takes far longer than writing its 2 MB
// per sample), one writer makes the identical file by construction, and parallel HDF5 would be
// another build of the library (Debian's libhdf5-openmpi-dev) that the whole project would have
// to link. The protocol, every collective made by every rank in this order:
//   a. gather each rank's device name: rank 0 refuses a job whose ranks solve on different
//      devices (a file never mixes cpu and cuda targets);
//   b. rank 0 runs steps 1 and 2 and broadcasts the outcome: go (from sample `completed`, in
//      batches of B), already finished, or its error, which the other ranks then throw as
//      RootFailed (rank 0 reports it; nobody is left waiting);
//   c. per batch, rank 0 broadcasts [first, count) (count 0: stop, as decided by rank 0 alone
//      from --stop-after, Ctrl-C or the end), every rank solves its share, rank 0 gathers the
//      shares field by field (DatagenCollectives::gather; rank order = index order) and writes.
// An error on any rank after (b) must stop the whole job (the engine's Communicator::abort, as
// apps/datagen does), or the others would wait for it forever. On ranks other than 0, the summary only says
// whether the job finished and how many samples it generated; on_progress and on_warning are
// called on rank 0 only. Without a batch size, a job takes the batch solver's default times the
// number of ranks (each rank solves about what one process would), with at most 512 MB of images
// per batch. The collectives are passed in as DatagenCollectives (below), which apps/datagen.cpp
// implements with the engine's Communicator: solver/ stays below the engine.
// Usage, mpirun and Slurm: docs/DISTRIBUTED_DATAGEN.md.
//
// Devices. The file's `device` attribute records which solver made its targets ("cpu": double
// precision; "cuda": the float kernel, agreeing to about the tolerance but not bitwise). A partial
// file is only continued by the same device (an error names the attribute otherwise), so no file
// mixes the two; a finished file is accepted whatever device made it.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/error.h"
#include "solver/batch_solver.h"
#include "solver/dataset_h5.h"
#include "solver/solver.h"

namespace ednn::dataset {

// The collectives run_datagen makes between the ranks of a job, declared here rather than taken
// from engine/communicator.h: solver/ sits below the engine (core -> kernels -> engine -> solver
// -> nets -> apps, scripts/check_layers.py), and data generation needs none of the engine's
// tensors, only these byte-level calls. apps/datagen.cpp forwards them to its Communicator (MPI);
// keeping run_datagen itself here keeps the protocol above beside the file format it writes.
// Every rank makes the same calls in the same order.
class DatagenCollectives {
public:
  virtual ~DatagenCollectives() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // Copies root's host bytes to every rank.
  virtual void broadcast(void* bytes, std::size_t count, int root) = 0;
  // Root receives every rank's host bytes (any length each), concatenated in rank order; the
  // other ranks' `all` is left empty.
  virtual void gather(const void* mine, std::size_t count, std::vector<unsigned char>& all, int root) = 0;
  bool is_root() const { return rank() == 0; }
};

}  // namespace ednn::dataset

namespace ednn::dataset {

struct DatagenOptions {
  std::string out;                  // final file name
  solver::SolverConfig solver;
  int per_n = 20000;
  double test_fraction = 0.2;
  double validation_fraction = 0;   // > 0: a validation split after the test split (dataset_h5.h)
  std::uint64_t seed = 0;
  bool compress = false;            // shuffle + deflate on the image chunks
  int batch = 0;                    // samples per write and flush; 0: about 8 MB of images
  std::int64_t stop_after = -1;     // stop (as if interrupted) after this many new samples
  const std::atomic<bool>* stop_requested = nullptr;  // checked between batches (Ctrl-C)
  solver::BatchSolver* batch_solver = nullptr;  // what solves the batches; null: the CPU solver
  DatagenCollectives* comm = nullptr;  // the job's ranks (see above); null or one rank: this process alone
  // Text attributes of the finished file's group `provenance` (version, commit, command, date, ...;
  // apps/datagen.cpp builds them); none: no group (the in-process tests compare files byte for byte).
  std::vector<std::pair<std::string, std::string>> provenance;
};

struct DatagenProgress {
  std::int64_t done = 0;            // samples in the file
  std::int64_t total = 0;
  std::int64_t done_this_run = 0;
  double seconds = 0;               // since this run started
};

struct DatagenSummary {
  std::string path;                 // the finished file, or the partial one when not finished
  std::string device;               // the file's `device` attribute: what solved its samples
  bool finished = false;
  bool was_already_finished = false;
  std::int64_t resumed_from = 0;    // samples already in a partial file when this run started
  std::int64_t samples = 0;         // samples in the file now
  std::int64_t generated = 0;       // samples generated by this run
  double mean_sweeps = 0;           // over all samples in the file
  double worst_residual = 0;
  double seconds = 0;
};

// Thrown on ranks other than 0 when rank 0 could not start the job (step 1 or 2 failed, or the
// ranks' devices differ); rank 0 throws the error itself and reports it.
struct RootFailed : Error {
  using Error::Error;
};

inline std::string partial_path(const std::string& out) { return out + ".partial"; }

DatagenSummary run_datagen(const DatagenOptions& options,
                           const std::function<void(const DatagenProgress&)>& on_progress = {},
                           const std::function<void(const std::string&)>& on_warning = {});

}  // namespace ednn::dataset
