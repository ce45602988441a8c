// Solving a batch of rendered samples on a chosen device: the one device-dependent step of making
// samples, shared by datagen (solver/datagen.h) and the trainer's online samples
// (nets/samples.h). Inputs are always rendered on the host (render_samples, solver/solver.h), so
// they are the same bits on every device; targets agree across devices to about the tolerance.
//
// Implementations:
//   make_cpu_batch_solver()     solve_batch (OpenMP, double), here in ednn_solver;
//   make_device_batch_solver()  the CUDA kernel of solver/sor_cuda.h, in
//                               solver/batch_solver_device.h (ednn_solver_device_cuda on a GPU,
//                               ednn_solver_device_emu through the CPU emulation for tests).
#pragma once
#include <memory>
#include <string>

#include "solver/solver.h"

namespace ednn::solver {

class BatchSolver {
public:
  virtual ~BatchSolver() = default;
  // "cpu" or "cuda": what data set files record as their `device` attribute.
  virtual std::string device() const = 0;
  // A good number of samples per call at lattice side L (datagen's batch when not given).
  virtual int default_batch(int L) const = 0;
  // Fills batch.targets [B, 1, L, L] and batch.stats [B] from batch.inputs. Throws ednn::Error
  // when a sample does not converge (or, on a device, fails the host's residual check).
  virtual void solve(const SolverConfig& config, SampleBatch& batch) = 0;
};

std::unique_ptr<BatchSolver> make_cpu_batch_solver();

// render_samples, then solver.solve: generate_samples on any device.
SampleBatch generate_samples(const SolverConfig& config, SampleStream stream,
                             std::span<const SampleRequest> requests, BatchSolver& solver);

}  // namespace ednn::solver
