// The CPU BatchSolver (solver/batch_solver.h).
#include "solver/batch_solver.h"

#include <omp.h>

#include <algorithm>
#include <cstdint>

namespace ednn::solver {
namespace {

class CpuBatchSolver final : public BatchSolver {
public:
  std::string device() const override { return "cpu"; }
  int default_batch(int L) const override {
    // About 2M pixels (8 MB per image set) per batch, and at least two samples per thread.
    const std::int64_t pixels = static_cast<std::int64_t>(L) * L;
    const std::int64_t by_size = std::max<std::int64_t>(1, (std::int64_t{1} << 21) / pixels);
    return static_cast<int>(std::max<std::int64_t>(by_size, 2 * omp_get_max_threads()));
  }
  void solve(const SolverConfig& config, SampleBatch& batch) override {
    solve_batch(config, batch.size(), batch.inputs, batch.targets, batch.stats);
  }
};

}  // namespace

std::unique_ptr<BatchSolver> make_cpu_batch_solver() { return std::make_unique<CpuBatchSolver>(); }

SampleBatch generate_samples(const SolverConfig& config, SampleStream stream,
                             std::span<const SampleRequest> requests, BatchSolver& solver) {
  SampleBatch batch = render_samples(config, stream, requests);
  solver.solve(config, batch);
  return batch;
}

}  // namespace ednn::solver
