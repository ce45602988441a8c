// The device BatchSolver: the steps are listed in solver/batch_solver_device.h.
#include "solver/batch_solver_device.h"

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "core/error.h"
#include "solver/sor_cuda.h"

namespace ednn::solver {
namespace {

class DeviceBatchSolver final : public BatchSolver {
public:
  explicit DeviceBatchSolver(simt::Stream stream) : stream_(stream) {}

  std::string device() const override { return "cuda"; }

  int default_batch(int L) const override {
    // One block per sample: a few hundred samples keep every SM of a large GPU busy. About 64M
    // pixels per batch (256 MB per image set on the host and on the device): 256 samples at
    // L = 512, capped at 4096 for small lattices.
    const std::int64_t pixels = static_cast<std::int64_t>(L) * L;
    return static_cast<int>(std::clamp<std::int64_t>((std::int64_t{1} << 26) / pixels, 1, 4096));
  }

  void solve(const SolverConfig& config, SampleBatch& batch) override {
    const int B = batch.size();
    const std::size_t pixels = static_cast<std::size_t>(config.L) * config.L;
    EDNN_CHECK(batch.inputs.size() == B * pixels && batch.targets.size() == B * pixels &&
                   batch.stats.size() == static_cast<std::size_t>(B),
               "sor (cuda): batch of ", B, " samples holds ", batch.inputs.size(), " input and ",
               batch.targets.size(), " target floats, expected ", B * pixels);
    if (B == 0) return;
    // Device buffers are kept between batches of the same size (all but the last one).
    if (inputs_.size() != B * pixels) {
      inputs_ = simt::DeviceBuffer<float>(B * pixels);
      targets_ = simt::DeviceBuffer<float>(B * pixels);
    }
    inputs_.upload(batch.inputs);                                                          // host -> device
    solve_batch_device(config, B, inputs_.data(), targets_.data(), batch.stats, stream_);
    simt::copy_to_host(batch.targets.data(), targets_.data(), B * pixels * sizeof(float));  // device -> host

    // The host's check of what it is about to store, in double.
    std::vector<double> residual(static_cast<std::size_t>(B));
#pragma omp parallel for schedule(dynamic) if (B > 1)
    for (int b = 0; b < B; ++b)
      residual[static_cast<std::size_t>(b)] = relative_residual(
          config, std::span<const float>(batch.inputs).subspan(b * pixels, pixels),
          std::span<const float>(batch.targets).subspan(b * pixels, pixels));
    const double limit = host_residual_limit(config.tol);
    for (int b = 0; b < B; ++b) {
      const double r = residual[static_cast<std::size_t>(b)];
      EDNN_CHECK(r <= limit, "sor (cuda): sample ", b, " of a batch of ", B, ": the device reports relative "
                 "residual ", batch.stats[static_cast<std::size_t>(b)].residual, " after ",
                 batch.stats[static_cast<std::size_t>(b)].sweeps, " sweeps, but the host computes ", r, " > ", limit,
                 " (2 tol + 1e-6) for the downloaded target; refusing to store it");
      batch.stats[static_cast<std::size_t>(b)].residual = r;
    }
  }

private:
  simt::Stream stream_;
  simt::DeviceBuffer<float> inputs_, targets_;
};

}  // namespace

std::unique_ptr<BatchSolver> make_device_batch_solver(simt::Stream stream) {
  std::string why;
  EDNN_CHECK(simt::device_available(&why), "sor (cuda): no usable CUDA device: ", why);
  return std::make_unique<DeviceBatchSolver>(stream);
}

}  // namespace ednn::solver
